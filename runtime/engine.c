/* engine: script versions and the simulator (see engine.h). */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "engine.h"
#include "host.h"
#include "httpc.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "lstate.h"
#include "metrics.h"
#include "reload.h"
#include "bucket.h"
#include "runq.h"
#include "util.h"

#define DEFAULT_MEMORY (64u << 20)
#define DEFAULT_BUDGET 1000000L

static char *opt_string(lua_State *L, const char *k)
{
    lua_getfield(L, -1, k); // cfg v
    char *s = lua_isstring(L, -1) ? xstrdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return s;
}

static lua_Integer opt_int(lua_State *L, const char *k, lua_Integer def)
{
    lua_getfield(L, -1, k); // cfg v
    lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

static void settings_free(struct engine_settings *s)
{
    free(s->listen);
    free(s->database);
    free(s->scripts);
    free(s->admin_token);
    free(s->log_format);
    free(s->log_level);
    memset(s, 0, sizeof *s);
}

/* Reads the table engine.init returned. */
static void settings_read(lua_State *L, struct engine_settings *s)
{
    settings_free(s);
    s->listen = opt_string(L, "listen");
    s->database = opt_string(L, "database");
    s->scripts = opt_string(L, "scripts");
    s->admin_token = opt_string(L, "admin_token");
    s->log_format = opt_string(L, "log_format");
    s->log_level = opt_string(L, "log_level");
    s->max_body = (size_t)opt_int(L, "max_body", 1 << 20);
    s->max_connections = (size_t)opt_int(L, "max_connections", 1024);
    s->script_memory = (size_t)opt_int(L, "script_memory", DEFAULT_MEMORY);
    s->script_budget = (long)opt_int(L, "script_budget", DEFAULT_BUDGET);
    s->drain_timeout_ms = opt_int(L, "drain_timeout", 10000);
    s->read_timeout_ms = opt_int(L, "read_timeout", 30000);
    lua_getfield(L, -1, "sandbox"); // cfg v
    s->sandbox = lua_toboolean(L, -1);
    lua_pop(L, 1);
}

/* engine.init(config_path, { override = {...} }) in a fresh state, which
 * stays off_loop until engine.compile has run (see engine_build). */
static struct lstate *boot_version(struct host *h, const struct engine_source *src,
                                   struct engine_settings *s, char **err)
{
    struct lstate *st = lstate_new(h, DEFAULT_MEMORY, DEFAULT_BUDGET, err);
    if (!st)
        return NULL;
    st->off_loop = 1;
    if (lstate_boot(st, "engine", err) < 0)
        goto fail;
    lua_State *L = st->L;
    lua_pushstring(L, src->config_path);    // path
    lua_createtable(L, 0, 1);               // path opts
    lua_createtable(L, 0, 2);               // path opts override
    if (src->override_db) {
        lua_pushstring(L, src->override_db);
        lua_setfield(L, -2, "database");
    }
    if (src->override_listen) {
        lua_pushstring(L, src->override_listen);
        lua_setfield(L, -2, "listen");
    }
    lua_setfield(L, -2, "override");        // path opts
    if (lstate_call(st, "init", 2, 2, err) < 0)
        goto fail;
    if (lua_isnil(L, -2)) {                 // nil msg
        *err = xstrdup(luaL_optstring(L, -1, "config error"));
        lua_pop(L, 2);
        goto fail;
    }
    lua_pop(L, 1);                          // cfg
    settings_read(L, s);
    lua_pop(L, 1);
    return st;
fail:
    lstate_free(st);
    return NULL;
}

/* engine.compile(catalogs): the scripts, compiled and checked, kept in the
 * state for engine.start. */
static int compile_version(struct lstate *st, const struct engine_source *src, char **err)
{
    lua_State *L = st->L;
    lua_createtable(L, 0, (int)src->ncatalogs); // cats
    for (size_t i = 0; i < src->ncatalogs; i++) {
        const struct engine_catalog *c = &src->catalogs[i];
        lua_createtable(L, 0, 2); // cats row
        lua_pushstring(L, c->body);
        lua_setfield(L, -2, "body");
        lua_pushinteger(L, c->fetched_at);
        lua_setfield(L, -2, "fetched_at");
        lua_setfield(L, -2, c->source); // cats
    }
    return lstate_call(st, "compile", 1, 0, err);
}

struct lstate *engine_build(struct host *h, const struct engine_source *src, char **err)
{
    struct engine_settings s = {0};
    struct lstate *st = boot_version(h, src, &s, err);
    settings_free(&s);
    if (st && compile_version(st, src, err) < 0) {
        lstate_free(st);
        return NULL;
    }
    return st;
}

/* engine.start(): the loop's half of a compiled version (journal, adapters,
 * catalog check); errors joined one per line. */
static int start_version(struct lstate *st, char **err)
{
    lua_State *L = st->L;
    st->off_loop = 0;
    if (lstate_call(st, "start", 0, 2, err) < 0)
        return -1;
    if (!lua_isnil(L, -2)) { // version warnings
        free(st->version);
        st->version = xstrdup(lua_tostring(L, -2));
        lua_Integer n = lua_istable(L, -1) ? luaL_len(L, -1) : 0;
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, -1, i); // version warnings w
            log_msg(LOG_WARN, "script warning", "warning", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
        return 0;
    }
    int errs = lua_gettop(L); /* (nil, errors): nres is 2 */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_Integer n = luaL_len(L, errs);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, errs, i);
        luaL_addvalue(&b);
        luaL_addchar(&b, '\n');
    }
    luaL_pushresult(&b);
    *err = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 3);
    return -1;
}

static void apply_limits(struct engine *e, struct lstate *st)
{
    st->mem_cap = e->set.script_memory;
    st->budget = e->set.script_budget;
}

static int open_sim(struct engine *e, char **err)
{
    e->sim = lstate_new(e->host, 0, 0, err);
    if (!e->sim || lstate_boot(e->sim, "sim", err) < 0)
        return -1;
    return 0;
}

/* Creates the folder a database file lives in. */
static void ensure_parent(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        char *cmd = NULL;
        for (char *p = dir + 1; *p; p++) {
            if (*p == '/') {
                *p = '\0';
                mkdir(dir, 0755);
                *p = '/';
            }
        }
        mkdir(dir, 0755);
        free(cmd);
    }
    free(dir);
}

struct catalog_rows {
    struct engine_catalog *rows;
    size_t n;
};

static int catalog_row(void *arg, int ncol, const char *const *names,
                       const struct journal_value *vals)
{
    struct catalog_rows *out = arg;
    struct engine_catalog c = {0};
    for (int i = 0; i < ncol; i++) {
        const struct journal_value *v = &vals[i];
        if (strcmp(names[i], "fetched_at") == 0 && v->type == JV_INT)
            c.fetched_at = v->i;
        else if (strcmp(names[i], "source") == 0 && v->type == JV_TEXT)
            c.source = xstrndup(v->s, v->len);
        else if (strcmp(names[i], "body") == 0 && v->type == JV_TEXT)
            c.body = xstrndup(v->s, v->len);
    }
    if (!c.source || !c.body) { /* nothing to check names against */
        free(c.source);
        free(c.body);
        return 0;
    }
    out->rows = xrealloc(out->rows, (out->n + 1) * sizeof *out->rows);
    out->rows[out->n++] = c;
    return 0;
}

int engine_catalogs_read(struct engine *e, struct engine_catalog **out, size_t *n,
                         char **err)
{
    struct catalog_rows rows = {NULL, 0};
    int rc =
        journal_exec(e->host->journal, "catalog_all", NULL, 0, catalog_row, &rows, err);
    if (rc < 0) {
        engine_catalogs_free(rows.rows, rows.n);
        rows = (struct catalog_rows){NULL, 0};
    }
    *out = rows.rows;
    *n = rows.n;
    return rc;
}

void engine_catalogs_free(struct engine_catalog *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].source);
        free(c[i].body);
    }
    free(c);
}

static struct engine_source source_of(const struct engine *e)
{
    return (struct engine_source){e->config_path, e->override_db, e->override_listen,
                                  NULL, 0};
}

/* engine.compile on the calling thread, with the catalogs read now. */
static int compile_here(struct engine *e, struct lstate *st, char **err)
{
    struct engine_source src = source_of(e);
    struct engine_catalog *cats = NULL;
    if (engine_catalogs_read(e, &cats, &src.ncatalogs, err) < 0)
        return -1;
    src.catalogs = cats;
    int rc = compile_version(st, &src, err);
    engine_catalogs_free(cats, src.ncatalogs);
    return rc;
}

int engine_open(struct engine *e, struct host *h, const char *config_path, char **err)
{
    e->host = h;
    h->engine = e;
    free(e->config_path);
    e->config_path = xstrdup(config_path);
    struct engine_source src = source_of(e);
    e->current = boot_version(h, &src, &e->set, err);
    if (!e->current)
        return -1;
    log_configure(e->set.log_format, e->set.log_level);
    if (strcmp(e->set.database, ":memory:") != 0)
        ensure_parent(e->set.database);
    h->journal = journal_open(e->set.database, h->base, err);
    if (!h->journal)
        return -1;
    struct httpd_opts ho = {e->set.listen, e->set.max_body, e->set.max_connections,
                            e->set.read_timeout_ms};
    e->httpd = httpd_start(e, &ho, err);
    if (!e->httpd)
        return -1;
    free(h->self_url); /* a test world opened over another one */
    h->self_url = xstrdup(httpd_url(e->httpd));
    if (e->set.sandbox && open_sim(e, err) < 0)
        return -1;
    if (compile_here(e, e->current, err) < 0 || start_version(e->current, err) < 0)
        return -1;
    apply_limits(e, e->current);
    e->loaded_at = host_now(h);
    return journal_flush(h->journal, err);
}

static void reload_failed(struct engine *e, const char *err)
{
    free(e->last_reload_error);
    e->last_reload_error = xstrdup(err);
    e->reloads_failed++;
    metrics_add(e->host->metrics, "atsflow_reloads_total", "result=\"failed\"", 1);
    log_msg(LOG_ERROR, "reload failed; the previous scripts stay active", "error", err);
}

int engine_install(struct engine *e, struct lstate *st, char **err)
{
    if (st && start_version(st, err) < 0) {
        lstate_free(st);
        st = NULL;
    }
    if (!st) {
        reload_failed(e, *err);
        return -1;
    }
    free(e->last_reload_error);
    e->last_reload_error = NULL;
    apply_limits(e, st);
    struct lstate *old = e->current;
    e->current = st;
    e->loaded_at = host_now(e->host);
    e->reloads_ok++;
    metrics_add(e->host->metrics, "atsflow_reloads_total", "result=\"ok\"", 1);
    log_msg(LOG_INFO, "scripts reloaded", "version", st->version);
    if (e->serving)
        lstate_spawn(st, "background", 0);
    lstate_retire(old);
    return 0;
}

int engine_reload(struct engine *e, char **err)
{
    struct engine_source src = source_of(e);
    struct engine_catalog *cats = NULL;
    struct lstate *st = NULL;
    if (engine_catalogs_read(e, &cats, &src.ncatalogs, err) == 0) {
        src.catalogs = cats;
        st = engine_build(e->host, &src, err);
    }
    engine_catalogs_free(cats, src.ncatalogs);
    return engine_install(e, st, err);
}

void engine_reload_async(struct engine *e, engine_reload_fn done, void *arg)
{
    if (!e->reload)
        e->reload = reload_new(e);
    if (e->reload) {
        reload_request(e->reload, done, arg);
        return;
    }
    char *err = NULL; /* no worker (eventfd refused): build here */
    int rc = engine_reload(e, &err);
    if (done)
        done(arg, rc, rc == 0 ? engine_version(e) : err);
    free(err);
}

const char *engine_version(const struct engine *e)
{
    return e->current && e->current->version ? e->current->version : "none";
}

static int parked_here(const void *arg, long client_port, long server_port)
{
    return httpd_parked_peer(arg, client_port, server_port);
}

int engine_idle(const struct host *h)
{
    const struct engine *e = h->engine;
    const struct httpd *d = e ? e->httpd : NULL;
    return !h->ready_head && (!h->journal || !journal_busy(h->journal)) &&
           httpc_busy(h->httpc, d ? parked_here : NULL, d) == 0 &&
           (!d || httpd_pending(d) == 0);
}

void engine_close(struct engine *e)
{
    /* first: a build in flight is waited for, and its waiters (pending
     * replies httpd_free drops) are forgotten */
    reload_free(e->reload);
    e->reload = NULL;
    /* a new world starts with no queued runs; releasing them may retire
     * old versions, which the final reap then closes */
    if (e->host) {
        runq_free(e->host->runq);
        e->host->runq = NULL;
        lstate_reap(e->host, 1);
    }
    /* nothing may wake a task of a closed world (tests open many): not a
     * timer, nor a transfer still waiting on a parked reply */
    if (e->host && e->host->virtual_time) {
        host_cleanup_timers(e->host);
        if (e->host->httpc)
            httpc_cancel_all(e->host->httpc);
    }
    httpd_free(e->httpd);
    e->httpd = NULL;
    if (e->current)
        lstate_close(e->current);
    if (e->sim)
        lstate_close(e->sim);
    e->current = e->sim = NULL;
    if (e->host) /* a new world starts with full buckets */
        buckets_reset(e->host->buckets);
    if (e->host && e->host->journal) {
        journal_close(e->host->journal);
        e->host->journal = NULL;
    }
    free(e->config_path);
    free(e->last_reload_error);
    settings_free(&e->set);
    e->config_path = e->last_reload_error = NULL;
}
