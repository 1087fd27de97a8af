/* l_host: the raw host primitives the runtime's Lua code is built on (the
 * friendly API — DSL, adapters' ctx, test kit — is Lua in runtime/lua/).
 * Functions that wait (http, sleep, commit) yield the calling task and are
 * resumed from the loop by task_resume. */
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "engine.h"
#include "host.h"
#include "httpd.h"
#include "httpc.h"
#include "journal.h"
#include "log.h"
#include "luamod.h"
#include "lstate.h"
#include "metrics.h"
#include "runq.h"
#include "util.h"

static struct host *host_of(lua_State *L)
{
    return lstate_of(L)->host;
}

/* The task running on L, raising when L is not a task's main thread. */
static struct task *need_task(lua_State *L, const char *what)
{
    struct task *t = task_of(L);
    if (!t)
        luaL_error(L, "%s can only be called from an automation's action or "
                      "the runtime, not inside a coroutine a script created", what);
    return t;
}

static int l_host_now(lua_State *L)
{
    lua_pushinteger(L, host_now(host_of(L)));
    return 1;
}

static int l_host_mono(lua_State *L)
{
    lua_pushinteger(L, util_mono_ms());
    return 1;
}

static void wake_after_sleep(void *arg)
{
    task_resume(arg, 0);
}

static int l_host_sleep(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    struct task *t = need_task(L, "sleep");
    host_timer_add(host_of(L), ms < 0 ? 0 : ms, wake_after_sleep, t);
    t->wait = "sleep";
    return lua_yield(L, 0);
}

static void wake_after_commit(void *arg, int ok)
{
    struct task *t = arg;
    lua_pushboolean(t->co, ok); // ok
    task_resume(t, 1);
}

static int l_host_commit(lua_State *L)
{
    struct task *t = need_task(L, "commit");
    journal_on_commit(host_of(L)->journal, wake_after_commit, t);
    t->wait = "commit";
    return lua_yield(L, 0);
}

/* ---- http ---- */

static void push_response(lua_State *co, const struct httpc_response *res)
{
    lua_createtable(co, 0, 6);                       // res
    lua_pushinteger(co, res->status);                // res status
    lua_setfield(co, -2, "status");
    if (res->error) {
        lua_pushstring(co, res->error);              // res err
        lua_setfield(co, -2, "error");
    }
    lua_pushboolean(co, res->timed_out);
    lua_setfield(co, -2, "timed_out");
    lua_pushboolean(co, res->resend_refused);
    lua_setfield(co, -2, "resend_refused");
    lua_pushlstring(co, res->body ? res->body : "", res->body_len); // res body
    lua_setfield(co, -2, "body");
    lua_pushnumber(co, res->total_ms);
    lua_setfield(co, -2, "total_ms");
    lua_createtable(co, 0, (int)res->nheaders);      // res headers
    for (size_t i = 0; i < res->nheaders; i++) {
        lua_pushstring(co, res->headers[i].value);   // res headers v
        lua_setfield(co, -2, res->headers[i].name);
    }
    lua_setfield(co, -2, "headers");                 // res
}

static void http_done(void *arg, const struct httpc_response *res)
{
    struct task *t = arg;
    if (t->deadline)
        host_timer_cancel(t->ctx.st->host, t->deadline);
    t->deadline = NULL;
    push_response(t->co, res);
    task_resume(t, 1);
}

/* Under the virtual clock a request times out when that clock says so: a
 * stalled upstream (a parked reply) costs no real time in tests. */
static void http_deadline(void *arg)
{
    struct task *t = arg;
    char why[96];
    t->deadline = NULL;
    snprintf(why, sizeof why,
             "Operation timed out after %ld milliseconds of virtual time", t->timeout_ms);
    httpc_time_out(t->ctx.st->host->httpc, t, why);
}

/* Collects a { name = value } table into "Name: value" lines. */
static const char **header_lines(lua_State *L, int idx)
{
    size_t n = 0, cap = 8;
    const char **lines = xcalloc(cap + 1, sizeof *lines);
    lua_pushnil(L);                                  // k
    while (idx && lua_next(L, idx)) {                // k v
        if (n == cap)
            lines = xrealloc(lines, ((cap *= 2) + 1) * sizeof *lines);
        lua_pushfstring(L, "%s: %s", luaL_checkstring(L, -2),
                        luaL_checkstring(L, -1));    // k v line
        lines[n++] = xstrdup(lua_tostring(L, -1));
        lua_pop(L, 2);                               // k
    }
    lines[n] = NULL;
    return lines;
}

static void free_lines(const char **lines)
{
    for (size_t i = 0; lines[i]; i++)
        free((char *)lines[i]);
    free(lines);
}

static const char *opt_field(lua_State *L, int t, const char *k, size_t *len)
{
    lua_getfield(L, t, k); // v
    const char *s = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, len);
    lua_pop(L, 1);         /* the table still holds the string */
    return s;
}

static int l_host_http(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    struct task *t = need_task(L, "http");
    struct httpc_request req = {0};
    size_t len = 0;
    req.method = opt_field(L, 1, "method", &len);
    req.url = opt_field(L, 1, "url", &len);
    req.body = opt_field(L, 1, "body", &req.body_len);
    luaL_argcheck(L, req.url != NULL, 1, "url is required");
    lua_getfield(L, 1, "timeout_ms"); // timeout
    req.timeout_ms = (long)luaL_optinteger(L, -1, 30000);
    if (req.timeout_ms <= 0)
        req.timeout_ms = 30000;
    lua_getfield(L, 1, "fresh");      // timeout fresh
    req.fresh_connect = lua_toboolean(L, -1);
    lua_pop(L, 1);                    // timeout
    lua_getfield(L, 1, "headers");    // timeout headers
    const char **lines = header_lines(L, lua_istable(L, -1) ? lua_gettop(L) : 0);
    req.headers = lines;
    char *err = NULL;
    int rc = httpc_start(host_of(L)->httpc, &req, http_done, t, &err);
    free_lines(lines);
    lua_pop(L, 2);
    if (rc < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        free(err);
        return 2;
    }
    if (host_of(L)->virtual_time) {
        t->timeout_ms = req.timeout_ms;
        t->deadline = host_timer_add(host_of(L), req.timeout_ms, http_deadline, t);
    }
    t->wait = "http";
    return lua_yield(L, 0);
}

/* ---- runq: run order across script versions (runtime/runq.h) ---- */

static void runq_start_run(void *owner, long id)
{
    struct lstate *st = owner;
    lua_pushinteger(st->L, id); // id (on the owner's main thread)
    lstate_spawn(st, "run_task", 1);
}

static void runq_hold_state(void *owner)
{
    lstate_hold(owner);
}

static void runq_release_state(void *owner)
{
    lstate_release(owner);
}

static struct runq *runq_of(struct host *h)
{
    static const struct runq_owner_ops ops = {runq_start_run, runq_hold_state,
                                              runq_release_state};
    if (!h->runq)
        h->runq = runq_new(&ops);
    return h->runq;
}

/* runq_add(key, id, limit) -> queued: false when id is already queued under key */
static int l_host_runq_add(lua_State *L)
{
    const char *key = luaL_checkstring(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    lua_Integer limit = luaL_checkinteger(L, 3);
    struct lstate *st = lstate_of(L);
    lua_pushboolean(L, runq_add(runq_of(st->host), key, (long)id, st, (long)limit) == 0);
    return 1;
}

/* runq_done(key, id, limit) -> ok: false when id was not the started head */
static int l_host_runq_done(lua_State *L)
{
    const char *key = luaL_checkstring(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    lua_Integer limit = luaL_checkinteger(L, 3);
    lua_pushboolean(L, runq_done(runq_of(host_of(L)), key, (long)id, (long)limit) == 0);
    return 1;
}

/* runq_slot(delta, limit): a run sleeping before a retry frees (-1) or takes
 * back (+1) its place in the concurrency bound */
static int l_host_runq_slot(lua_State *L)
{
    lua_Integer delta = luaL_checkinteger(L, 1);
    lua_Integer limit = luaL_checkinteger(L, 2);
    luaL_argcheck(L, delta == 1 || delta == -1, 1, "1 or -1");
    runq_slot(runq_of(host_of(L)), (int)delta, (long)limit);
    return 0;
}

/* runq_depth() -> waiting, running (every version together) */
static int l_host_runq_depth(lua_State *L)
{
    struct runq *q = runq_of(host_of(L));
    lua_pushinteger(L, (lua_Integer)runq_waiting(q));
    lua_pushinteger(L, (lua_Integer)runq_running(q));
    return 2;
}

/* ---- journal ---- */

static int push_row(void *arg, int ncol, const char *const *names,
                    const struct journal_value *vals)
{
    lua_State *L = arg;
    lua_createtable(L, 0, ncol);                          // rows row
    for (int c = 0; c < ncol; c++) {
        const struct journal_value *v = &vals[c];
        if (v->type == JV_INT)
            lua_pushinteger(L, v->i);                     // rows row v
        else if (v->type == JV_NULL)
            continue;
        else
            lua_pushlstring(L, v->s, v->len);
        lua_setfield(L, -2, names[c]);                    // rows row
    }
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1); // rows
    return 0;
}

static void to_value(lua_State *L, int i, struct journal_value *v)
{
    memset(v, 0, sizeof *v);
    switch (lua_type(L, i)) {
    case LUA_TNIL:
        v->type = JV_NULL;
        break;
    case LUA_TBOOLEAN:
        v->type = JV_INT;
        v->i = lua_toboolean(L, i);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, i)) {
            v->type = JV_INT;
            v->i = lua_tointeger(L, i);
            break;
        }
        v->type = JV_TEXT; /* floats are stored as their text */
        v->s = luaL_tolstring(L, i, &v->len);
        lua_replace(L, i);
        break;
    default:
        v->type = JV_TEXT;
        v->s = luaL_checklstring(L, i, &v->len);
    }
}

/* journal(op, args...) -> rows (reads) or { changes, last_id } (writes);
 * raises on a database error: the caller's unit of work fails and is retried. */
static int l_host_journal(lua_State *L)
{
    const char *op = luaL_checkstring(L, 1);
    int nargs = lua_gettop(L) - 1;
    luaL_argcheck(L, nargs <= 16, 2, "too many arguments");
    struct journal_value vals[16];
    for (int i = 0; i < nargs; i++)
        to_value(L, i + 2, &vals[i]);
    struct journal *j = host_of(L)->journal;
    int writes = journal_op_writes(op);
    lua_newtable(L); // rows
    char *err = NULL;
    if (journal_exec(j, op, vals, nargs, writes == 1 ? NULL : push_row, L, &err) < 0) {
        lua_pushstring(L, err);
        free(err);
        return lua_error(L);
    }
    if (writes == 1) {
        lua_pushinteger(L, journal_changes(j)); // res n
        lua_setfield(L, -2, "changes");
        lua_pushinteger(L, journal_last_id(j));
        lua_setfield(L, -2, "last_id");
    }
    return 1;
}

/* ---- logs, metrics, tasks, files ---- */

/* log(level, msg, { k1, v1, k2, v2, ... }) */
static int l_host_log(lua_State *L)
{
    int lv = log_level_parse(luaL_checkstring(L, 1));
    const char *msg = luaL_checkstring(L, 2);
    if (lv < 0 || !log_enabled((enum log_level)lv))
        return 0;
    const char *kv[41];
    int n = lua_istable(L, 3) ? (int)lua_rawlen(L, 3) : 0;
    if (n > 40)
        n = 40;
    luaL_checkstack(L, n, "log");
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 3, i + 1);                   // ... v (stays on the stack)
        kv[i] = luaL_tolstring(L, -1, NULL);        // ... v s
        lua_remove(L, -2);                          // ... s
    }
    kv[n & ~1] = NULL;
    log_kv((enum log_level)lv, msg, kv);
    return 0;
}

/* metric(kind, name, labels, value): kind is "add", "set" or "observe". */
static int l_host_metric(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    const char *name = luaL_checkstring(L, 2);
    const char *labels = luaL_optstring(L, 3, "");
    double v = luaL_optnumber(L, 4, 1);
    struct metrics *m = host_of(L)->metrics;
    if (!m)
        return 0;
    if (strcmp(kind, "set") == 0)
        metrics_set(m, name, labels, v);
    else if (strcmp(kind, "observe") == 0)
        metrics_observe(m, name, labels, v);
    else
        metrics_add(m, name, labels, v);
    return 0;
}

/* describe(name, type, help) */
static int l_host_describe(lua_State *L)
{
    struct metrics *m = host_of(L)->metrics;
    if (m)
        metrics_describe(m, luaL_checkstring(L, 1), luaL_checkstring(L, 2),
                         luaL_checkstring(L, 3));
    return 0;
}

static int l_host_spawn(lua_State *L)
{
    const char *fname = luaL_checkstring(L, 1);
    struct lstate *st = lstate_of(L);
    int nargs = lua_gettop(L) - 1;
    if (L == st->L) {
        lua_remove(L, 1);
    } else {
        lua_remove(L, 1);
        lua_xmove(L, st->L, nargs); /* the arguments move to the main thread */
    }
    lstate_spawn(st, fname, nargs);
    return 0;
}

/* slice(who, times?): a new slice; `times` budgets (loading a whole file
 * runs every automation's constructor in one slice). */
static int l_host_slice(lua_State *L)
{
    struct lstate *st = lstate_of(L);
    lstate_slice(st, luaL_optstring(L, 1, ""));
    lua_Integer times = luaL_optinteger(L, 2, 1);
    if (times > 1)
        st->slice_used = -(long)((times - 1) * st->budget);
    return 0;
}

static int l_host_in_task(lua_State *L)
{
    lua_pushboolean(L, task_of(L) != NULL);
    return 1;
}

static int l_host_state(lua_State *L)
{
    struct lstate *st = lstate_of(L);
    lua_createtable(L, 0, 5);                        // t
    lua_pushinteger(L, (lua_Integer)st->mem_used);
    lua_setfield(L, -2, "mem_used");
    lua_pushinteger(L, (lua_Integer)st->mem_peak);
    lua_setfield(L, -2, "mem_peak");
    lua_pushinteger(L, (lua_Integer)st->mem_cap);
    lua_setfield(L, -2, "mem_cap");
    lua_pushinteger(L, st->tasks);
    lua_setfield(L, -2, "tasks");
    lua_pushinteger(L, st->budget);
    lua_setfield(L, -2, "budget");
    return 1;
}

/* limits(mem_cap_bytes, budget): applied to the calling state from now on. */
static int l_host_limits(lua_State *L)
{
    struct lstate *st = lstate_of(L);
    st->mem_cap = (size_t)luaL_checkinteger(L, 1);
    st->budget = (long)luaL_checkinteger(L, 2);
    return 0;
}

static int l_host_self_url(lua_State *L)
{
    const char *u = host_of(L)->self_url;
    if (u)
        lua_pushstring(L, u);
    else
        lua_pushnil(L);
    return 1;
}

/* sandbox_secret([secret]) -> secret | nil: sets (a string, or nil to
 * clear) when given an argument; answers the one set. */
static int l_host_sandbox_secret(lua_State *L)
{
    struct host *h = host_of(L);
    if (lua_gettop(L) >= 1) {
        const char *s = luaL_optstring(L, 1, NULL);
        free(h->sandbox_secret);
        h->sandbox_secret = s ? xstrdup(s) : NULL;
    }
    if (h->sandbox_secret)
        lua_pushstring(L, h->sandbox_secret);
    else
        lua_pushnil(L);
    return 1;
}

static int l_host_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    FILE *f = fopen(path, "rb");
    if (!f) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t n;
    char chunk[8192];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        luaL_addlstring(&b, chunk, n);
    fclose(f);
    luaL_pushresult(&b); // data
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_dir(path) -> sorted names (no dot files), or nil, err */
static int l_host_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_str);
    lua_createtable(L, (int)n, 0); // list
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        free(names[i]);
    }
    free(names);
    return 1;
}

static int l_host_advance(lua_State *L)
{
    struct host *h = host_of(L);
    luaL_argcheck(L, h->virtual_time, 1, "advance needs the virtual clock (atsflow test)");
    host_advance(h, luaL_checkinteger(L, 1));
    return 0;
}

/* next_due() -> due time (virtual ms) of the earliest timer, or nil */
static int l_host_next_due(lua_State *L)
{
    int64_t due = host_next_due(host_of(L));
    if (due < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, due);
    return 1;
}

/* park(id) -> ok: request id is never answered (a stalled upstream); false
 * when its client is gone already */
static int l_host_park(lua_State *L)
{
    struct engine *e = host_of(L)->engine;
    lua_Integer id = luaL_checkinteger(L, 1);
    lua_pushboolean(L, e && e->httpd && httpd_park(e->httpd, (uint64_t)id) == 0);
    return 1;
}

/* reply(id, status, content_type, body, headers?) -> ok */
static int l_host_reply(lua_State *L)
{
    struct engine *e = host_of(L)->engine;
    size_t len;
    lua_Integer id = luaL_checkinteger(L, 1);
    int status = (int)luaL_checkinteger(L, 2);
    const char *ctype = luaL_optstring(L, 3, NULL);
    const char *body = luaL_optlstring(L, 4, "", &len);
    const char *headers[17] = {NULL};
    int n = 0;
    if (lua_istable(L, 5)) {
        lua_pushnil(L);                               // k
        while (n < 16 && lua_next(L, 5)) {            // k v
            headers[n++] = luaL_checkstring(L, -2);   /* the table keeps both alive */
            headers[n++] = luaL_checkstring(L, -1);
            lua_pop(L, 1);                            // k
        }
    }
    int ok = e && e->httpd &&
             httpd_reply(e->httpd, (uint64_t)id, status, ctype, body, len, headers) == 0;
    lua_pushboolean(L, ok);
    return 1;
}

static int l_host_exit(lua_State *L)
{
    struct host *h = host_of(L);
    h->exit_code = (int)luaL_optinteger(L, 1, 0);
    event_base_loopbreak(h->base);
    return 0;
}

/* engine_open(config_path, { database?, listen? }) -> url | nil, err */
static int l_host_engine_open(lua_State *L)
{
    struct host *h = host_of(L);
    const char *path = luaL_checkstring(L, 1);
    struct engine *e = h->engine;
    engine_close(e);
    free(e->override_db);
    free(e->override_listen);
    e->override_db = e->override_listen = NULL;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "database"); // db
        lua_getfield(L, 2, "listen");   // db listen
        e->override_db = lua_isstring(L, -2) ? xstrdup(lua_tostring(L, -2)) : NULL;
        e->override_listen = lua_isstring(L, -1) ? xstrdup(lua_tostring(L, -1)) : NULL;
        lua_pop(L, 2);
    }
    char *err = NULL;
    if (engine_open(e, h, path, &err) < 0) {
        engine_close(e);
        lua_pushnil(L);
        lua_pushstring(L, err);
        free(err);
        return 2;
    }
    lua_pushstring(L, h->self_url);
    return 1;
}

static int l_host_engine_close(lua_State *L)
{
    engine_close(host_of(L)->engine);
    free(host_of(L)->self_url);
    host_of(L)->self_url = NULL;
    return 0;
}

static int l_host_engine_spawn(lua_State *L)
{
    struct engine *e = host_of(L)->engine;
    const char *fname = luaL_checkstring(L, 1);
    luaL_argcheck(L, e && e->current, 1, "no engine is open");
    lstate_spawn(e->current, fname, 0);
    return 0;
}

struct idle_wait {
    struct task *t;
    struct event *ev;
    int quiet; /* consecutive idle checks */
};

static void idle_check(evutil_socket_t fd, short what, void *arg)
{
    struct idle_wait *w = arg;
    struct host *h = lstate_of(w->t->co)->host;
    w->quiet = engine_idle(h) ? w->quiet + 1 : 0;
    if (w->quiet < 3) {
        struct timeval tv = {0, 1000};
        evtimer_add(w->ev, &tv);
        return;
    }
    struct task *t = w->t;
    event_free(w->ev);
    free(w);
    task_resume(t, 0);
}

/* idle_wait(): yields until no task is runnable and no I/O is in flight
 * (tasks sleeping on the virtual clock count as idle). */
static int l_host_idle_wait(lua_State *L)
{
    struct task *t = need_task(L, "idle_wait");
    struct idle_wait *w = xcalloc(1, sizeof *w);
    w->t = t;
    w->ev = evtimer_new(host_of(L)->base, idle_check, w);
    struct timeval tv = {0, 1000};
    evtimer_add(w->ev, &tv);
    t->wait = "idle";
    return lua_yield(L, 0);
}

/* open_journal(path) -> true | nil, err (CLI commands read the journal) */
static int l_host_open_journal(lua_State *L)
{
    struct host *h = host_of(L);
    const char *path = luaL_checkstring(L, 1);
    char *err = NULL;
    if (h->journal)
        journal_close(h->journal);
    h->journal = journal_open(path, h->base, &err);
    if (!h->journal) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        free(err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* is_current() -> whether the calling state is the active script version */
static int l_host_is_current(lua_State *L)
{
    struct engine *e = host_of(L)->engine;
    lua_pushboolean(L, e && e->current == lstate_of(L));
    return 1;
}

static const luaL_Reg host_funcs[] = {
    {"is_current", l_host_is_current},     /* is_current() -> bool */
    {"open_journal", l_host_open_journal}, /* open_journal(path) -> true | nil, err */
    {"reply", l_host_reply},       /* reply(id, status, ctype, body, {name = value}?) -> ok */
    {"exit", l_host_exit},         /* exit(code): ends the CLI command */
    {"engine_open", l_host_engine_open},   /* engine_open(path, {database, listen}) -> url | nil, err */
    {"engine_close", l_host_engine_close}, /* engine_close() */
    {"engine_spawn", l_host_engine_spawn}, /* engine_spawn(fname): task in the engine */
    {"idle_wait", l_host_idle_wait},       /* idle_wait(): until nothing is in flight */
    {"now", l_host_now},           /* now() -> wall ms (virtual under test) */
    {"mono", l_host_mono},         /* mono() -> monotonic ms */
    {"sleep", l_host_sleep},       /* sleep(ms): yields the task */
    {"commit", l_host_commit},     /* commit() -> ok: yields until the group commit */
    {"http", l_host_http},         /* http{method,url,headers,body,timeout_ms,fresh} -> res | nil, err */
    {"journal", l_host_journal},   /* journal(op, ...) -> rows | {changes,last_id} */
    {"log", l_host_log},           /* log(level, msg, {k, v, ...}) */
    {"metric", l_host_metric},     /* metric("add"|"set"|"observe", name, labels, v) */
    {"describe", l_host_describe}, /* describe(name, type, help) */
    {"spawn", l_host_spawn},       /* spawn(fname, ...): module[fname] as a new task */
    {"runq_add", l_host_runq_add},     /* runq_add(key, id, limit) -> queued */
    {"runq_done", l_host_runq_done},   /* runq_done(key, id, limit) -> ok */
    {"runq_slot", l_host_runq_slot},   /* runq_slot(-1 | 1, limit) */
    {"runq_depth", l_host_runq_depth}, /* runq_depth() -> waiting, running */
    {"slice", l_host_slice},       /* slice(who, times?): new instruction budget slice */
    {"in_task", l_host_in_task},   /* in_task() -> whether on a task's own thread */
    {"state", l_host_state},       /* state() -> {mem_used, mem_peak, mem_cap, tasks, budget} */
    {"limits", l_host_limits},     /* limits(mem_cap, budget) */
    {"self_url", l_host_self_url}, /* self_url() -> "http://addr:port" | nil */
    {"sandbox_secret", l_host_sandbox_secret}, /* sandbox_secret([s]) -> s | nil (memory only) */
    {"read_file", l_host_read_file}, /* read_file(path) -> data | nil, err */
    {"list_dir", l_host_list_dir}, /* list_dir(path) -> {names} | nil, err */
    {"advance", l_host_advance},   /* advance(ms): virtual clock only */
    {"next_due", l_host_next_due}, /* next_due() -> virtual ms of the next timer | nil */
    {"park", l_host_park},         /* park(id) -> ok: never answer request id */
    /* bucket(name, rate, burst) -> the upstream's token bucket, shared by
     * every script version (fields rate, burst, tokens, at, blocked_until) */
    {"bucket", l_host_bucket},
    {NULL, NULL},
};

/* What a state may call while it compiles (lstate.off_loop), perhaps on a
 * worker thread: these touch only the calling state, the clock, the log
 * (locked) or files. Every other function reaches loop objects — journal,
 * metrics, timers, task queue, httpd — and is wrapped by loop_only. */
static const char *const off_loop_ok[] = {
    "now",   "mono",   "log",       "slice",    "in_task",
    "state", "limits", "read_file", "list_dir", NULL,
};

/* Pushes "file:line: " of the innermost script frame (runtime frames are
 * the DSL's wrappers: the script's own line is what the user can fix). */
static void push_script_where(lua_State *L)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline > 0 && strncmp(ar.source, "@[atsflow]", 10) != 0) {
            lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
            return;
        }
    }
    lua_pushliteral(L, "");
}

/* upvalues: the real function, its name */
static int loop_only(lua_State *L)
{
    if (!lstate_of(L)->off_loop)
        return lua_tocfunction(L, lua_upvalueindex(1))(L);
    push_script_where(L); // where
    lua_pushfstring(L,
                    "%shost.%s is not available while scripts load (it needs the event "
                    "loop: call it from an action or a condition)",
                    lua_tostring(L, -1),
                    lua_tostring(L, lua_upvalueindex(2))); // where msg
    return lua_error(L);
}

static int safe_off_loop(const char *name)
{
    for (int i = 0; off_loop_ok[i]; i++)
        if (strcmp(off_loop_ok[i], name) == 0)
            return 1;
    return 0;
}

int luaopen_atsflow_host(lua_State *L);

int luaopen_atsflow_host(lua_State *L)
{
    lua_createtable(L, 0, (int)(sizeof host_funcs / sizeof host_funcs[0])); // M
    for (const luaL_Reg *f = host_funcs; f->name; f++) {
        lua_pushcfunction(L, f->func); // M fn
        if (!safe_off_loop(f->name)) {
            lua_pushstring(L, f->name);        // M fn name
            lua_pushcclosure(L, loop_only, 2); // M guarded
        }
        lua_setfield(L, -2, f->name); // M
    }
    return 1;
}
