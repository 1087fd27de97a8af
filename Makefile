# atsflow — see README.md. `make` builds ./atsflow; `make run` and `make test`
# also install the Debian packages they need when run as root.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKGS    := lua5.4 lua5.4-cjson libevent libcurl sqlite3 libcrypto
DEBS    := liblua5.4-dev libevent-dev libcurl4-openssl-dev lua-cjson-dev \
           libsqlite3-dev libssl-dev libcmocka-dev pkg-config python3 make gcc
VERSION := 0.1.0

ifeq ($(SANITIZE),1)
BUILD   := build/asan
SANFL   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else
BUILD   := build/rel
SANFL   :=
OPT     := -O2 -g
endif

WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter
CFLAGS  += $(OPT) $(WARN) $(SANFL) -D_GNU_SOURCE -DATSF_VERSION='"$(VERSION)"' \
           -Iruntime -I$(BUILD) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
LDFLAGS += $(SANFL)

ifneq ($(V),1)
Q := @
endif

SRCS    := $(wildcard runtime/*.c)
OBJS    := $(patsubst runtime/%.c,$(BUILD)/%.o,$(SRCS)) $(BUILD)/embedded.o
LIBOBJS := $(filter-out $(BUILD)/main.o,$(OBJS))
LUASRC  := $(sort $(wildcard runtime/lua/*.lua) $(wildcard adapters/*.lua))
UNITSRC := $(wildcard tests/unit/test_*.c)
UNITBIN := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNITSRC))

.PHONY: all deps run test test-unit test-lua test-e2e check-scripts bench clean format

all: atsflow

atsflow: $(BUILD)/atsflow
	$(Q)cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/atsflow: $(OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: runtime/%.c $(wildcard runtime/*.h) | $(BUILD)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/embed: tools/embed.c | $(BUILD)
	$(Q)$(CC) -O1 -o $@ $<

$(BUILD)/embedded.c: $(BUILD)/embed $(LUASRC)
	@echo "  EMBED   $(words $(LUASRC)) Lua modules"
	$(Q)$(BUILD)/embed $@ $(LUASRC)

$(BUILD)/embedded.o: $(BUILD)/embedded.c
	$(Q)$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD):
	$(Q)mkdir -p $@ $@/unit

$(BUILD)/unit/%: tests/unit/%.c $(LIBOBJS)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS) -lcmocka

# Installs what is missing, as root, with apt-get; otherwise says what to install.
deps:
	$(Q)missing=""; for d in $(DEBS); do \
	  dpkg -s $$d >/dev/null 2>&1 || missing="$$missing $$d"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "  APT    $$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || exit 1; \
	  else echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

run: deps
	$(Q)$(MAKE) --no-print-directory atsflow
	$(Q)mkdir -p var
	./atsflow -c examples/sandbox.conf.lua serve

test: deps
	$(Q)$(MAKE) --no-print-directory atsflow $(UNITBIN)
	$(Q)rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	$(Q)tests/run-unit.sh $(BUILD) $(BUILD)/results/unit || true
	$(Q)./atsflow test --results $(BUILD)/results/lua tests/lua || true
	$(Q)python3 tests/e2e/run.py --results $(BUILD)/results/e2e || true
	$(Q)tests/sum-results.sh $(BUILD)/results

format:
	clang-format -i runtime/*.c runtime/*.h tests/unit/*.c

clean:
	rm -rf build atsflow
