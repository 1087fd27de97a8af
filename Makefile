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
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
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
	$(Q)$(MAKE) --no-print-directory embed-test || true
	$(Q)tests/sum-results.sh $(BUILD)/results

# `make bench`: loopback benchmark, one table + bench/results.json (bench/README.md).
BENCHBIN := $(BUILD)/bench/loadgen $(BUILD)/bench/refserver $(BUILD)/bench/fakeups
BENCHFL  := -O2 -g -std=gnu11 -Wall -Wextra -Werror

bench: deps
	$(Q)$(MAKE) --no-print-directory atsflow $(BENCHBIN)
	$(Q)python3 bench/run.py --build $(BUILD) $(BENCH_ARGS)

$(BUILD)/bench/loadgen: bench/loadgen.c | $(BUILD)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(BENCHFL) -o $@ $< $(shell pkg-config --cflags --libs libcrypto 2>/dev/null)

$(BUILD)/bench/%: bench/%.c | $(BUILD)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(BENCHFL) -o $@ $< $(shell pkg-config --cflags --libs libevent 2>/dev/null)

format:
	clang-format -i runtime/*.c runtime/*.h tests/unit/*.c

clean:
	rm -rf build atsflow

# ---- fuzzing (tests/fuzz/README.md) ----------------------------------------
# `make fuzz [FUZZ_SECONDS=N] [FUZZ_TARGETS="verify parse ..."]`: one libFuzzer
# binary per target, built with clang + ASan/UBSan under build/fuzz, each run
# for FUZZ_SECONDS seeded from tests/fuzz/corpus; exits 1 on any crash.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= verify parse config dsl journal httpd
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: fuzz fuzz-build
fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: deps
	$(Q)tests/fuzz/ensure-clang.sh $(FUZZ_CC)
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="-O1 -g" \
	  SANFL="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

$(BUILD)/fuzz_%: tests/fuzz/harness.c tests/fuzz/targets.lua $(LIBOBJS)
	@echo "  FUZZ    $@"
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -DFUZZ_TARGET=$* -DFUZZ_DIR='"$(CURDIR)/tests/fuzz"' \
	  -o $@ $< $(LIBOBJS) $(LDFLAGS) $(LDLIBS)

# ---- libatsflow, install, lint (include/atsflow.h, examples/embed/) ----------
# `make lib`: build/rel/libatsflow.{a,so}. `make install PREFIX=/usr DESTDIR=/tmp/x`.
# `make embed-test`: installs into build/stage, builds examples/embed against the
# staged atsflow.pc, runs it, writes "passed failed" to $(BUILD)/results/embed.
# `make lint`: luacheck (.luacheckrc) and clang-tidy (.clang-tidy).

BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
SOVERSION  := 0
STAGE      ?= build/stage
PICOBJS    := $(patsubst $(BUILD)/%.o,$(BUILD)/pic/%.o,$(LIBOBJS))

.PHONY: lib install embed-test lint lint-lua lint-c

lib: $(BUILD)/libatsflow.a $(BUILD)/libatsflow.so

$(BUILD)/lib.o $(BUILD)/pic/lib.o: include/atsflow.h

$(BUILD)/pic:
	$(Q)mkdir -p $@

$(BUILD)/pic/%.o: runtime/%.c $(wildcard runtime/*.h) | $(BUILD)/pic
	@echo "  CC -fPIC $<"
	$(Q)$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/pic/embedded.o: $(BUILD)/embedded.c | $(BUILD)/pic
	$(Q)$(CC) $(CFLAGS) -fPIC -Wno-missing-prototypes -c -o $@ $<

# One relocatable object whose only global symbols are atsflow_*: the
# runtime's internal names (log_msg, xmalloc, ...) cannot clash with a program's.
$(BUILD)/libatsflow.a: $(LIBOBJS)
	@echo "  AR      $@"
	$(Q)$(CC) -r -nostdlib -o $(BUILD)/libatsflow.o $^
	$(Q)objcopy --wildcard -G 'atsflow_*' $(BUILD)/libatsflow.o
	$(Q)rm -f $@ && ar rcs $@ $(BUILD)/libatsflow.o

$(BUILD)/libatsflow.map: | $(BUILD)
	$(Q)printf '{\n  global: atsflow_*;\n  local: *;\n};\n' > $@

$(BUILD)/libatsflow.so: $(PICOBJS) $(BUILD)/libatsflow.map
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,-soname,libatsflow.so.$(SOVERSION) -Wl,--no-undefined \
	  -Wl,--version-script=$(BUILD)/libatsflow.map $(LDFLAGS) -o $@ $(PICOBJS) $(LDLIBS)

# atsflow.pc is relocatable (prefix from ${pcfiledir}) when LIBDIR and
# INCLUDEDIR are inside PREFIX, so a DESTDIR staging works with PKG_CONFIG_PATH.
install: $(BUILD)/atsflow lib
	@echo "  INSTALL $(DESTDIR)$(PREFIX)"
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DATADIR)/atsflow/runtime/lua \
	  $(DESTDIR)$(DATADIR)/atsflow/adapters $(DESTDIR)$(DATADIR)/atsflow/types
	$(Q)install -m 755 $(BUILD)/atsflow $(DESTDIR)$(BINDIR)/atsflow
	$(Q)install -m 644 $(BUILD)/libatsflow.a $(DESTDIR)$(LIBDIR)/libatsflow.a
	$(Q)install -m 755 $(BUILD)/libatsflow.so $(DESTDIR)$(LIBDIR)/libatsflow.so.$(VERSION)
	$(Q)ln -sf libatsflow.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libatsflow.so.$(SOVERSION)
	$(Q)ln -sf libatsflow.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libatsflow.so
	$(Q)install -m 644 include/atsflow.h $(DESTDIR)$(INCLUDEDIR)/atsflow.h
	$(Q)lr='$(patsubst $(PREFIX)/%,%,$(LIBDIR))'; ir='$(patsubst $(PREFIX)/%,%,$(INCLUDEDIR))'; \
	p='$(PREFIX)'; l='$(LIBDIR)'; i='$(INCLUDEDIR)'; \
	case "$$lr:$$ir" in /*|*:/*) ;; *) \
	  p="\$${pcfiledir}/$$(echo "$$lr/pkgconfig" | sed 's|[^/][^/]*|..|g')"; \
	  l="\$${prefix}/$$lr"; i="\$${prefix}/$$ir";; esac; \
	sed -e "s|@prefix@|$$p|" -e "s|@libdir@|$$l|" -e "s|@includedir@|$$i|" \
	  -e 's|@version@|$(VERSION)|' atsflow.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/atsflow.pc
	$(Q)sed 's|@DATADIR@|$(DATADIR)|g' man/atsflow.1 > $(DESTDIR)$(MANDIR)/man1/atsflow.1
	$(Q)install -m 644 runtime/lua/*.lua $(DESTDIR)$(DATADIR)/atsflow/runtime/lua/
	$(Q)install -m 644 adapters/*.lua $(DESTDIR)$(DATADIR)/atsflow/adapters/
	$(Q)install -m 644 types/*.lua $(DESTDIR)$(DATADIR)/atsflow/types/

embed-test: $(BUILD)/atsflow lib
	$(Q)rm -rf $(STAGE) && mkdir -p $(BUILD)/results
	$(Q)$(MAKE) --no-print-directory install DESTDIR=$(abspath $(STAGE)) PREFIX=/usr/local \
	  BINDIR=/usr/local/bin LIBDIR=/usr/local/lib INCLUDEDIR=/usr/local/include \
	  DATADIR=/usr/local/share MANDIR=/usr/local/share/man >/dev/null
	$(Q)PKG_CONFIG_PATH=$(abspath $(STAGE))/usr/local/lib/pkgconfig \
	  $(MAKE) --no-print-directory -s -C examples/embed clean all \
	  OUT=$(abspath $(BUILD))/embed-test SANFL='$(SANFL)'
	$(Q)examples/embed/run-tests.sh $(BUILD)/embed-test $(BUILD)/results/embed

# Installs luacheck (Debian lua-check) and clang-tidy when missing, as root.
lint: lint-lua lint-c

lint-lua:
	$(Q)command -v luacheck >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then echo "  APT     lua-check"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua-check) >/dev/null || exit 1; \
	  else echo "luacheck is missing (run: sudo apt-get install lua-check)"; exit 1; fi; }
	@echo "  LUACHECK scripts adapters runtime/lua"
	$(Q)luacheck --quiet --no-color scripts adapters runtime/lua

lint-c: deps
	$(Q)command -v clang-tidy >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then echo "  APT     clang-tidy"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-tidy) >/dev/null || exit 1; \
	  else echo "clang-tidy is missing (run: sudo apt-get install clang-tidy)"; exit 1; fi; }
	@echo "  TIDY    runtime/*.c"
	$(Q)mkdir -p $(BUILD) && printf '%s\n' runtime/*.c | xargs -P 2 -I{} clang-tidy --quiet \
	  --warnings-as-errors='*' {} -- $(filter-out $(SANFL),$(CFLAGS)) 2>$(BUILD)/tidy.err \
	  || { grep -v 'warnings generated' $(BUILD)/tidy.err; exit 1; }
