/* lib: libatsflow, the runtime as a library (include/atsflow.h). An
 * instance owns what main.c's `atsflow test` owns — an event loop, a host
 * (virtual clock by default), an engine — and a "driver" Lua state booted
 * with runtime/lua/libdriver.lua. Each call spawns one driver task and turns
 * the loop until that task reports back; nothing runs between calls. */
#include <errno.h>
#include <event2/event.h>
#include <ftw.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../include/atsflow.h"
#include "engine.h"
#include "host.h"
#include "httpc.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "lstate.h"
#include "metrics.h"
#include "util.h"

#define ADVANCE_MAX_STEPS 100000

struct atsflow {
    struct event_base *base;
    struct host host;
    struct engine engine;
    struct lstate *driver;
    char dir[4096]; /* private folder: config copy, scripts, journal */
    char *url;
    char error[16384]; /* stable for the instance's life; long errors are cut */
    char *logs;     /* kept log lines */
    size_t logs_len, logs_cap;
    int log_stderr;
    /* the call in progress */
    long call_id;
    int done, ok;
    long num;       /* integer result */
    char *str;      /* string result (or the error) */
    char *str2;     /* second string result */
};

/* ---- errors, logs ---- */

static void set_error(atsflow_t *af, const char *msg)
{
    snprintf(af->error, sizeof af->error, "%s", msg ? msg : "");
}

static void keep_log(void *arg, int level, const char *line)
{
    atsflow_t *af = arg;
    size_t n = strlen(line);
    if (af->logs_len + n + 1 > af->logs_cap) {
        af->logs_cap = (af->logs_len + n + 1) * 2;
        af->logs = xrealloc(af->logs, af->logs_cap);
    }
    memcpy(af->logs + af->logs_len, line, n + 1);
    af->logs_len += n;
}

/* Every entry point: this instance's log sink, no error yet. */
static void enter(atsflow_t *af)
{
    log_set_sink(af->log_stderr ? NULL : keep_log, af);
    set_error(af, "");
}

/* ---- driver calls ---- */

/* M._done(id, ok, a, b): the driver task's report. */
static int l_done(lua_State *L)
{
    atsflow_t *af = lua_touserdata(L, lua_upvalueindex(1));
    if (luaL_checkinteger(L, 1) != af->call_id)
        return 0; /* not the call in progress */
    af->done = 1;
    af->ok = lua_toboolean(L, 2);
    af->num = lua_isinteger(L, 3) ? (long)lua_tointeger(L, 3) : 0;
    free(af->str);
    free(af->str2);
    af->str = af->str2 = NULL;
    size_t len = 0;
    if (lua_type(L, 3) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, 3, &len);
        af->str = xstrndup(s, len);
    }
    if (lua_type(L, 4) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, 4, &len);
        af->str2 = xstrndup(s, len);
    }
    return 0;
}

/* Runs driver op with the nargs values on top of the driver's stack until
 * it reports back (its waits are bounded: HTTP calls time out). Returns 0,
 * or -1 with the error set. */
static int drive(atsflow_t *af, const char *op, int nargs)
{
    lua_State *L = af->driver->L;
    af->call_id++;
    af->done = 0;
    lua_pushinteger(L, af->call_id); // args... id
    lua_pushstring(L, op);           // args... id op
    lua_rotate(L, -(nargs + 2), 2);  // id op args...
    lstate_spawn(af->driver, "call", nargs + 2);
    int rc = 0;
    /* (a task that ends without reporting leaves no live task behind) */
    while (!af->done && rc == 0 && af->driver->tasks > 0)
        rc = event_base_loop(af->base, EVLOOP_ONCE);
    if (!af->done) {
        char *msg = rc != 0 ? xasprintf("%s: the event loop stopped", op)
                            : xasprintf("%s: the driver task ended without an answer (see "
                                        "atsflow_logs)", op);
        set_error(af, msg);
        free(msg);
        return -1;
    }
    if (!af->ok) {
        set_error(af, af->str ? af->str : "error");
        return -1;
    }
    return 0;
}

static char *take_str(atsflow_t *af)
{
    char *s = af->str ? af->str : xstrdup("");
    af->str = NULL;
    return s;
}

/* ---- life cycle ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void ignore_sigpipe(void)
{
    /* writes to a peer that went away must fail, not kill the process;
     * a handler the program installed itself stays */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
        !(sa.sa_flags & SA_SIGINFO))
        signal(SIGPIPE, SIG_IGN);
}

static void set_field(lua_State *L, const char *k, const char *v)
{
    if (v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static atsflow_t *open_instance(const char *path, const char *text, const atsflow_options *o,
                                char **err)
{
    static const atsflow_options none;
    if (!o)
        o = &none;
    if (err)
        *err = NULL;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) {
        if (err)
            *err = xasprintf("cannot read the current directory: %s", strerror(errno));
        return NULL;
    }
    ignore_sigpipe();
    atsflow_t *af = xcalloc(1, sizeof *af);
    af->log_stderr = o->log_stderr;
    enter(af);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char *e = tmp[0] == '/' ? xasprintf("%s/atsflow-XXXXXX", tmp)
                            : xasprintf("%s/%s/atsflow-XXXXXX", cwd, tmp);
    size_t n = strlen(e);
    memcpy(af->dir, e, n < sizeof af->dir ? n + 1 : 0);
    free(e);
    e = NULL;
    if (n >= sizeof af->dir || !mkdtemp(af->dir)) {
        e = xasprintf("cannot create a private folder %s: %s", af->dir, strerror(errno));
        af->dir[0] = '\0';
        goto fail;
    }
    char *scripts = xasprintf("%s/scripts", af->dir);
    int made = mkdir(scripts, 0700);
    free(scripts);
    if (made < 0) {
        e = xasprintf("cannot create %s/scripts: %s", af->dir, strerror(errno));
        goto fail;
    }
    af->base = event_base_new();
    if (!af->base) {
        e = xstrdup("cannot start the event loop");
        goto fail;
    }
    host_init(&af->host, af->base, !o->real_clock);
    af->host.metrics = metrics_new();
    af->host.httpc = httpc_new(af->base);
    af->host.engine = &af->engine;
    if (!af->host.httpc) {
        e = xstrdup("cannot start the HTTP client");
        goto fail;
    }
    af->driver = lstate_new(&af->host, 0, 0, &e);
    if (!af->driver || lstate_boot(af->driver, "libdriver", &e) < 0)
        goto fail;
    lua_State *L = af->driver->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, af->driver->module_ref); // M
    lua_pushlightuserdata(L, af);                              // M af
    lua_pushcclosure(L, l_done, 1);                            // M done
    lua_setfield(L, -2, "_done");                              // M
    lua_pop(L, 1);

    lua_createtable(L, 0, 8); // o
    set_field(L, "config_path", path);
    set_field(L, "config_text", text);
    set_field(L, "base_dir", o->base_dir);
    set_field(L, "cwd", cwd);
    set_field(L, "dir", af->dir);
    set_field(L, "database", o->database);
    set_field(L, "listen", o->listen);
    lua_pushboolean(L, o->no_config_scripts);
    lua_setfield(L, -2, "no_config_scripts");
    if (drive(af, "open", 1) < 0) {
        e = xstrdup(af->error);
        goto fail;
    }
    af->url = take_str(af);
    return af;
fail:
    if (err)
        *err = e;
    else
        free(e);
    atsflow_close(af);
    return NULL;
}

atsflow_t *atsflow_open(const char *config_path, const atsflow_options *opts, char **err)
{
    if (!config_path) {
        if (err)
            *err = xstrdup("atsflow_open: no config path");
        return NULL;
    }
    return open_instance(config_path, NULL, opts, err);
}

atsflow_t *atsflow_open_string(const char *config_text, const atsflow_options *opts,
                               char **err)
{
    return open_instance(NULL, config_text ? config_text : "", opts, err);
}

void atsflow_close(atsflow_t *af)
{
    if (!af)
        return;
    log_set_sink(af->log_stderr ? NULL : keep_log, af);
    engine_close(&af->engine);
    if (af->driver)
        lstate_free(af->driver);
    httpc_free(af->host.httpc);
    host_cleanup(&af->host);
    if (af->host.metrics)
        metrics_free(af->host.metrics);
    if (af->host.ready_ev)
        event_free(af->host.ready_ev);
    if (af->base)
        event_base_free(af->base);
    log_set_sink(NULL, NULL);
    remove_tree(af->dir);
    free(af->engine.override_db);
    free(af->engine.override_listen);
    free(af->url);
    free(af->logs);
    free(af->str);
    free(af->str2);
    free(af);
}

const char *atsflow_error(const atsflow_t *af)
{
    return af ? af->error : "";
}

const char *atsflow_url(const atsflow_t *af)
{
    return af && af->url ? af->url : "";
}

const char *atsflow_version(void)
{
    return ATSF_VERSION;
}

void atsflow_free(void *p)
{
    free(p);
}

/* ---- scripts ---- */

/* After the driver added files: reload, or take them out again. */
static int reload_scripts(atsflow_t *af)
{
    char *err = NULL;
    if (engine_reload(&af->engine, &err) == 0) {
        drive(af, "commit_scripts", 0);
        return 0;
    }
    lua_pushstring(af->driver->L, err ? err : "reload failed");
    free(err);
    if (drive(af, "rollback", 1) == 0) {
        char *msg = take_str(af);
        /* trailing newline of the joined list */
        size_t n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
            msg[--n] = '\0';
        set_error(af, msg);
        free(msg);
    }
    return -1;
}

int atsflow_load_script(atsflow_t *af, const char *path)
{
    enter(af);
    if (!path) {
        set_error(af, "atsflow_load_script: no path");
        return -1;
    }
    lua_pushstring(af->driver->L, path);
    if (drive(af, "add_script", 1) < 0)
        return -1;
    return reload_scripts(af);
}

int atsflow_load_source(atsflow_t *af, const char *name, const char *lua_text)
{
    enter(af);
    if (!lua_text) {
        set_error(af, "atsflow_load_source: no source text");
        return -1;
    }
    lua_pushstring(af->driver->L, name && *name ? name : "source.lua");
    lua_pushstring(af->driver->L, lua_text);
    if (drive(af, "add_source", 2) < 0)
        return -1;
    return reload_scripts(af);
}

int atsflow_clear_scripts(atsflow_t *af)
{
    enter(af);
    if (drive(af, "clear_scripts", 0) < 0)
        return -1;
    return reload_scripts(af);
}

/* ---- input ---- */

static int status_call(atsflow_t *af, const char *op, int nargs, char **response)
{
    if (response)
        *response = NULL;
    if (drive(af, op, nargs) < 0)
        return -1;
    if (response) {
        *response = af->str2;
        af->str2 = NULL;
    }
    return (int)af->num;
}

int atsflow_webhook(atsflow_t *af, const char *source, const char *const *headers,
                    const char *body, size_t body_len, char **response)
{
    enter(af);
    if (response)
        *response = NULL;
    if (!source || !*source) {
        set_error(af, "atsflow_webhook: no source");
        return -1;
    }
    lua_State *L = af->driver->L;
    lua_pushstring(L, source);
    lua_newtable(L); // source headers
    for (size_t i = 0; headers && headers[i]; i++) {
        const char *colon = strchr(headers[i], ':');
        if (!colon || colon == headers[i]) {
            lua_pop(L, 2);
            set_error(af, "atsflow_webhook: a header line is not \"Name: value\"");
            return -1;
        }
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        lua_pushlstring(L, headers[i], (size_t)(colon - headers[i])); // .. name
        luaL_gsub(L, lua_tostring(L, -1), "\r", "");                  // .. name name'
        lua_remove(L, -2);
        lua_pushstring(L, v); // .. name value
        lua_settable(L, -3);
    }
    lua_pushlstring(L, body ? body : "", body ? body_len : 0);
    return status_call(af, "webhook", 3, response);
}

int atsflow_emit(atsflow_t *af, const char *event_json, char **response)
{
    enter(af);
    if (response)
        *response = NULL;
    if (!event_json) {
        set_error(af, "atsflow_emit: no event");
        return -1;
    }
    lua_pushstring(af->driver->L, event_json);
    return status_call(af, "emit", 1, response);
}

char *atsflow_sandbox(atsflow_t *af, const char *command, const char *json_args)
{
    enter(af);
    if (!command) {
        set_error(af, "atsflow_sandbox: no command");
        return NULL;
    }
    lua_pushstring(af->driver->L, command);
    if (json_args)
        lua_pushstring(af->driver->L, json_args);
    else
        lua_pushnil(af->driver->L);
    return drive(af, "sandbox", 2) < 0 ? NULL : take_str(af);
}

/* ---- running and time ---- */

static void tick(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until engine_idle holds three checks in a row: l_host.c's
 * idle_wait, from C, so that a timeout leaves nothing behind. */
static int settle(atsflow_t *af, long timeout_ms)
{
    int64_t deadline = util_mono_ms() + (timeout_ms > 0 ? timeout_ms : 30000);
    struct event *t = evtimer_new(af->base, tick, NULL);
    int quiet = 0, rc = 0;
    while (quiet < 3 && rc >= 0) {
        struct timeval tv = {0, 1000};
        evtimer_add(t, &tv);
        rc = event_base_loop(af->base, EVLOOP_ONCE);
        quiet = engine_idle(&af->host) ? quiet + 1 : 0; /* as idle_wait */
        if (quiet < 3 && util_mono_ms() >= deadline)
            break;
    }
    event_free(t);
    if (quiet >= 3)
        return 0;
    char *msg = rc < 0 ? xstrdup("the event loop failed")
                       : xasprintf("still busy after %ld ms", timeout_ms > 0 ? timeout_ms : 30000);
    set_error(af, msg);
    free(msg);
    return -1;
}

int atsflow_run_until_idle(atsflow_t *af, long timeout_ms)
{
    enter(af);
    return settle(af, timeout_ms);
}

int atsflow_run_for(atsflow_t *af, long ms)
{
    enter(af);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (ms < 0)
        tv = (struct timeval){0, 0};
    event_base_loopexit(af->base, &tv);
    if (event_base_dispatch(af->base) < 0) {
        set_error(af, "the event loop failed");
        return -1;
    }
    return 0;
}

int atsflow_advance(atsflow_t *af, int64_t ms)
{
    enter(af);
    struct host *h = &af->host;
    if (!h->virtual_time) {
        set_error(af, "atsflow_advance needs the virtual clock (options.real_clock = 0)");
        return -1;
    }
    if (ms < 0) {
        set_error(af, "atsflow_advance: the clock does not go back");
        return -1;
    }
    int64_t until = h->vnow + ms;
    if (settle(af, 0) < 0)
        return -1;
    for (long steps = 0;; steps++) {
        int64_t due = host_next_due(h);
        if (due < 0 || due > until)
            break;
        if (steps == ADVANCE_MAX_STEPS) {
            set_error(af, "atsflow_advance: timers keep firing without the clock moving");
            return -1;
        }
        host_advance(h, due > h->vnow ? due - h->vnow : 0);
        if (settle(af, 0) < 0)
            return -1;
    }
    if (until > h->vnow)
        host_advance(h, until - h->vnow);
    return settle(af, 0);
}

int64_t atsflow_now(const atsflow_t *af)
{
    return host_now(&af->host);
}

/* ---- read back ---- */

static char *json_call(atsflow_t *af, const char *op, const char *status)
{
    int nargs = 0;
    if (status) {
        lua_pushstring(af->driver->L, status);
        nargs = 1;
    }
    return drive(af, op, nargs) < 0 ? NULL : take_str(af);
}

char *atsflow_events(atsflow_t *af, const char *status)
{
    enter(af);
    return json_call(af, "events", status);
}

char *atsflow_runs(atsflow_t *af, const char *status)
{
    enter(af);
    return json_call(af, "runs", status);
}

char *atsflow_requests(atsflow_t *af)
{
    enter(af);
    return json_call(af, "requests", NULL);
}

char *atsflow_logs(atsflow_t *af)
{
    char *s = af->logs ? af->logs : xstrdup("");
    af->logs = NULL;
    af->logs_len = af->logs_cap = 0;
    return s;
}
