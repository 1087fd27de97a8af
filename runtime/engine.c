/* engine: script versions and the simulator (see engine.h). */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "engine.h"
#include "metrics.h"
#include "host.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "lstate.h"
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

/* engine.init(config_path, { override = {...} }) in a fresh state. */
static struct lstate *boot_version(struct engine *e, struct engine_settings *s, char **err)
{
    struct lstate *st = lstate_new(e->host, DEFAULT_MEMORY, DEFAULT_BUDGET, err);
    if (!st || lstate_boot(st, "engine", err) < 0)
        goto fail;
    lua_State *L = st->L;
    lua_pushstring(L, e->config_path);      // path
    lua_createtable(L, 0, 1);               // path opts
    lua_createtable(L, 0, 2);               // path opts override
    if (e->override_db) {
        lua_pushstring(L, e->override_db);
        lua_setfield(L, -2, "database");
    }
    if (e->override_listen) {
        lua_pushstring(L, e->override_listen);
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

/* engine.start(): adapters and scripts; errors joined one per line. */
static int start_version(struct lstate *st, char **err)
{
    lua_State *L = st->L;
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

int engine_open(struct engine *e, struct host *h, const char *config_path, char **err)
{
    e->host = h;
    h->engine = e;
    free(e->config_path);
    e->config_path = xstrdup(config_path);
    e->current = boot_version(e, &e->set, err);
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
    if (start_version(e->current, err) < 0)
        return -1;
    apply_limits(e, e->current);
    e->loaded_at = host_now(h);
    return journal_flush(h->journal, err);
}

int engine_reload(struct engine *e, char **err)
{
    struct engine_settings s = {0};
    struct lstate *st = boot_version(e, &s, err);
    int rc = st ? start_version(st, err) : -1;
    settings_free(&s);
    free(e->last_reload_error);
    e->last_reload_error = NULL;
    if (rc < 0) {
        lstate_free(st);
        e->last_reload_error = xstrdup(*err);
        e->reloads_failed++;
        metrics_add(e->host->metrics, "atsflow_reloads_total", "result=\"failed\"", 1);
        log_msg(LOG_ERROR, "reload failed; the previous scripts stay active", "error", *err);
        return -1;
    }
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

const char *engine_version(const struct engine *e)
{
    return e->current && e->current->version ? e->current->version : "none";
}

void engine_close(struct engine *e)
{
    httpd_free(e->httpd);
    e->httpd = NULL;
    /* nothing may wake a task of a closed world (tests open many) */
    if (e->host && e->host->virtual_time)
        host_cleanup_timers(e->host);
    /* a new world starts with no queued runs (and releases old versions) */
    if (e->host) {
        runq_free(e->host->runq);
        e->host->runq = NULL;
    }
    if (e->current)
        lstate_close(e->current);
    if (e->sim)
        lstate_close(e->sim);
    e->current = e->sim = NULL;
    if (e->host && e->host->journal) {
        journal_close(e->host->journal);
        e->host->journal = NULL;
    }
    free(e->config_path);
    free(e->last_reload_error);
    settings_free(&e->set);
    e->config_path = e->last_reload_error = NULL;
}
