/* The fuzz harness (tests/fuzz/README.md): one libFuzzer entry point, built
 * once per target with -DFUZZ_TARGET=name and linked with the runtime's
 * objects (everything but main.o).
 *
 * Lua targets (verify, parse, config, dsl, journal) run in one Lua state
 * booted like the runtime's own (lstate_new, the host and crypto modules,
 * the embedded modules) with tests/fuzz/targets.lua loaded as runtime code;
 * each input is passed to targets[FUZZ_TARGET], which raises when an
 * invariant breaks: that becomes an abort(), i.e. a crash libFuzzer keeps.
 *
 * The httpd target is the whole intake in-process: an engine opened from a
 * generated config (every adapter, an in-memory journal, a virtual clock),
 * its evhttp listener on 127.0.0.1, and per input one TCP connection that
 * sends the input's bytes and reads whatever comes back while the event
 * loop runs. An input "SIGN <source>\n<body>" or "EVENTS\n<body>" is first
 * turned into a correctly signed / authorised request (targets.lua), so
 * bodies get past verification into the journal and processing. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "host.h"
#include "httpc.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "lstate.h"
#include "metrics.h"
#include "util.h"

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=name"
#endif
#ifndef FUZZ_DIR
#error "build with -DFUZZ_DIR=absolute path of tests/fuzz"
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct host host;
static struct lstate *st; /* targets.lua */

/* ------------------------------------------------------------ Lua coverage
 * libFuzzer sees only instrumented C; the Lua interpreter is a system
 * library. A line hook feeds Lua's own control flow (chunk name x line,
 * as AFL-style edges) to libFuzzer through its extra-counters section, so
 * mutations that reach new Lua code are kept. A thread has one hook, so
 * this one also carries the instruction budget, with the same semantics
 * as lstate.c's (a kill is raised only in frames that are not runtime
 * code, and the first runtime frame that sees it disarms it). */
#define COV_SIZE (1u << 16)
#define HOOK_STEP 1000
#define RUNTIME_MARK "@[atsflow]"
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_cov[COV_SIZE];
static uint32_t prev_loc;
static const char *cached_src;
static uint32_t cached_hash;

static void cov_hook(lua_State *L, lua_Debug *ar);

static void arm(lua_State *L, int every)
{
    lua_sethook(L, cov_hook, LUA_MASKCOUNT | LUA_MASKLINE, every);
}

static void budget(lua_State *L, lua_Debug *ar)
{
    struct lstate *s = lstate_of(L);
    if (!s->killed) {
        s->slice_used += HOOK_STEP;
        if (s->budget <= 0 || s->slice_used <= s->budget)
            return;
        s->killed = 1;
        arm(L, 1);
        if (s->current)
            arm(s->current->co, 1);
    }
    lua_getinfo(L, "S", ar);
    if (strncmp(ar->source, RUNTIME_MARK, strlen(RUNTIME_MARK)) == 0) {
        s->killed = 0;
        arm(L, HOOK_STEP);
        if (s->current)
            arm(s->current->co, HOOK_STEP);
        return;
    }
    luaL_error(L, "instruction budget exceeded (%ld instructions) in %s", s->budget,
               s->who[0] ? s->who : "script");
}

static void cov_hook(lua_State *L, lua_Debug *ar)
{
    if (ar->event == LUA_HOOKCOUNT) {
        budget(L, ar);
        return;
    }
    if (ar->event != LUA_HOOKLINE || !lua_getinfo(L, "S", ar))
        return;
    if (ar->source != cached_src) {
        uint32_t h = 2166136261u;
        for (const char *c = ar->source; *c; c++)
            h = (h ^ (uint8_t)*c) * 16777619u;
        cached_src = ar->source;
        cached_hash = h;
    }
    uint32_t loc = cached_hash ^ ((uint32_t)ar->currentline * 2654435761u);
    lua_cov[(loc ^ prev_loc) % COV_SIZE]++;
    prev_loc = loc >> 1;
}

static void die(const char *what, char *err)
{
    fprintf(stderr, "fuzz harness: %s: %s\n", what, err ? err : "?");
    abort();
}

static void pump_nonblock(void)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
}

static void boot_targets(void)
{
    char *err = NULL;
    st = lstate_new(&host, 0, 0, &err);
    if (!st)
        die("lstate_new", err);
    const char *path = FUZZ_DIR "/targets.lua";
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open", (char *)path);
    char *src = NULL;
    size_t len = 0, cap = 0, n;
    char buf[8192];
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (len + n > cap)
            src = xrealloc(src, cap = (len + n) * 2);
        memcpy(src + len, buf, n);
        len += n;
    }
    fclose(f);
    arm(st->L, HOOK_STEP);
    lua_State *L = st->L;
    /* runtime code: the instruction budget never stops the targets
     * themselves, only the scripts they load */
    if (luaL_loadbufferx(L, src, len, "@[atsflow]/tests/fuzz/targets.lua", "t") != LUA_OK)
        die("loading targets.lua", (char *)lua_tostring(L, -1));
    free(src);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK)
        die("running targets.lua", (char *)lua_tostring(L, -1));
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE); // M loaded
    lua_pushvalue(L, -2);                                     // M loaded M
    lua_setfield(L, -2, "fuzz_targets");                      // M loaded
    lua_pop(L, 2);
    if (lstate_boot(st, "fuzz_targets", &err) < 0)
        die("booting targets", err);
}

/* ------------------------------------------------------------ httpd */

static struct engine engine;
static char cfg_path[512];
static int port;
static unsigned long inputs;

static int world_idle(void)
{
    return !host.ready_head && (!host.journal || !journal_busy(host.journal)) &&
           httpc_pending(host.httpc) == 0 && (!engine.httpd || httpd_pending(engine.httpd) == 0);
}

/* Runs the loop for at most ~1 ms of waiting. */
static void pump_briefly(void)
{
    struct timeval tv = {0, 1000};
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
}

static void settle(void)
{
    for (int i = 0; i < 2000 && !world_idle(); i++)
        pump_briefly();
    pump_nonblock();
}

static void open_engine(void)
{
    char *err = NULL;
    if (engine_open(&engine, &host, cfg_path, &err) < 0)
        die("engine_open", err);
    arm(engine.current->L, HOOK_STEP);
    if (engine.sim)
        arm(engine.sim->L, HOOK_STEP);
    const char *url = httpd_url(engine.httpd);
    const char *colon = strrchr(url, ':');
    port = atoi(colon + 1);
}

static void close_engine(void)
{
    settle();
    engine_close(&engine);
    free(host.self_url);
    host.self_url = NULL;
    settle();
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0)
        die("cannot write", (char *)path);
    fclose(f);
}

static void setup_httpd(void)
{
    char dir[] = "/tmp/atsflow-fuzz-httpd-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", strerror(errno));
    char scripts[600];
    snprintf(scripts, sizeof scripts, "%s/scripts", dir);
    if (mkdir(scripts, 0755) < 0)
        die("mkdir", strerror(errno));
    lua_State *L = st->L;
    char *err = NULL;
    lua_pushstring(L, dir);
    if (lstate_call(st, "httpd_config", 1, 1, &err) < 0)
        die("httpd_config", err);
    snprintf(cfg_path, sizeof cfg_path, "%s/atsflow.conf.lua", dir);
    write_file(cfg_path, lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
    lua_getfield(L, -1, "fuzz_targets");
    lua_getfield(L, -1, "HTTPD_SCRIPT");
    char spath[700];
    snprintf(spath, sizeof spath, "%s/fuzz.lua", scripts);
    write_file(spath, lua_tostring(L, -1));
    lua_pop(L, 3);
    open_engine();
}

/* The bytes to send for an input (signed requests are built in Lua). */
static char *request_bytes(const uint8_t *data, size_t size, size_t *len)
{
    lua_State *L = st->L;
    char *err = NULL;
    lua_pushlstring(L, (const char *)data, size);
    lua_pushinteger(L, host_now(&host));
    if (lstate_call(st, "http_request", 2, 1, &err) < 0)
        die("http_request", err);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    char *out = xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = '\0';
    *len = n;
    lua_pop(L, 1);
    return out;
}

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket", strerror(errno));
    struct linger lg = {1, 0}; /* RST on close: no TIME_WAIT pile-up */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    /* non-blocking: libFuzzer's SIGALRM would interrupt a blocking connect */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (errno != EINPROGRESS && errno != EINTR)
            die("connect", strerror(errno));
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        while (poll(&p, 1, 5000) < 0 && errno == EINTR)
            ;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
            die("connect", strerror(err ? err : errno));
    }
    return fd;
}

/* Checks every status line of what came back. */
static void check_answers(const char *resp, size_t n, int *all_401, int *any)
{
    *all_401 = 1;
    *any = 0;
    for (size_t i = 0; i + 12 <= n; i++) {
        if ((i == 0 || resp[i - 1] == '\n') && memcmp(resp + i, "HTTP/1.", 7) == 0) {
            int status = atoi(resp + i + 9);
            *any = 1;
            if (status != 401)
                *all_401 = 0;
            /* 501: evhttp's answer to a method it does not know */
            if (status >= 500 && status != 501 && status != 503) {
                fprintf(stderr, "fuzz httpd: the server answered %d:\n%.*s\n", status,
                        (int)(n - i < 600 ? n - i : 600), resp + i);
                abort();
            }
        }
    }
}

static void httpd_one(const uint8_t *data, size_t size)
{
    if (++inputs % 3000 == 0) { /* a fresh engine now and then keeps memory flat */
        close_engine();
        open_engine();
    }
    size_t len;
    char *req = request_bytes(data, size, &len);
    uint64_t writes0, commits;
    journal_stats(host.journal, &commits, &writes0);
    int fd = connect_local();
    size_t off = 0, got = 0, cap = 1 << 16;
    char *resp = xmalloc(cap);
    int closed = 0, quiet = 0;
    for (int round = 0; round < 5000 && !closed; round++) {
        int progress = 0;
        if (off < len) {
            ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                progress = 1;
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                off = len; /* the server closed on us */
            }
        }
        if (world_idle())
            pump_nonblock();
        else
            pump_briefly();
        for (;;) {
            if (got == cap)
                resp = xrealloc(resp, cap *= 2);
            ssize_t r = recv(fd, resp + got, cap - got, 0);
            if (r > 0) {
                got += (size_t)r;
                progress = 1;
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                closed = 1;
            break;
        }
        /* nothing moved three turns in a row with the world idle: the
         * server waits for bytes we do not have */
        quiet = progress || !world_idle() ? 0 : quiet + 1;
        if (off == len && quiet >= 3)
            break;
    }
    close(fd);
    settle();
    int all_401, any;
    check_answers(resp, got, &all_401, &any);
    uint64_t writes1;
    journal_stats(host.journal, &commits, &writes1);
    if (any && all_401 && writes1 != writes0) {
        fprintf(stderr, "fuzz httpd: a rejected (401) request wrote to the journal\n");
        abort();
    }
    free(resp);
    free(req);
}

/* ------------------------------------------------------------ entry points */

#define TARGET STR(FUZZ_TARGET)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    int httpd = strcmp(TARGET, "httpd") == 0;
    host_init(&host, base, 1); /* virtual clock: nothing sleeps for real */
    host.metrics = metrics_new();
    host.httpc = httpc_new(base);
    host.engine = &engine;
    log_configure("logfmt", "error");
    boot_targets();
    if (httpd) {
        setup_httpd();
    } else {
        char *err = NULL;
        host.journal = journal_open(":memory:", base, &err);
        if (!host.journal)
            die("journal_open", err);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (strcmp(TARGET, "httpd") == 0) {
        httpd_one(data, size);
        return 0;
    }
    lua_State *L = st->L;
    char *err = NULL;
    lua_pushlstring(L, (const char *)data, size);
    if (lstate_call(st, TARGET, 1, 0, &err) < 0) {
        fprintf(stderr, "fuzz target %s: %s\n", TARGET, err);
        abort();
    }
    pump_nonblock(); /* the journal's group commit */
    return 0;
}
