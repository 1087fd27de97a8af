/* engine: the running daemon's scripts side — the current script version
 * (a Lua state booted with runtime/lua/engine.lua), the sandbox simulator's
 * state, reload (all-or-nothing, swapped between two events), and the calls
 * the HTTP intake makes into them. */
#ifndef ATSF_ENGINE_H
#define ATSF_ENGINE_H

#include <stddef.h>
#include <stdint.h>

struct host;
struct lstate;
struct httpd;
struct reload;

/* The answer to one reload request: rc 0 and the new version hash, or -1
 * and the errors (one per line). */
typedef void (*engine_reload_fn)(void *arg, int rc, const char *text);

/* A catalog row of the journal, copied for a build. */
struct engine_catalog {
    char *source, *body;
    int64_t fetched_at;
};

/* What a version is built from: the config, and the journal's catalogs
 * (read on the loop) that its names are checked against. */
struct engine_source {
    const char *config_path, *override_db, *override_listen;
    const struct engine_catalog *catalogs;
    size_t ncatalogs;
};

struct engine_settings {
    char *listen, *database, *scripts, *admin_token, *log_format, *log_level;
    size_t max_body, max_connections, script_memory;
    long script_budget;
    int64_t drain_timeout_ms, read_timeout_ms;
    int sandbox;
};

struct engine {
    struct host *host;
    struct httpd *httpd;
    struct lstate *current; /* the active script version */
    struct lstate *sim;     /* the simulated ATS and Coderbyte, or NULL */
    char *config_path;
    char *override_db, *override_listen; /* tests */
    struct engine_settings set;
    char *last_reload_error;
    int64_t loaded_at;
    int draining;
    struct reload *reload; /* off-loop builds, made at the first async reload */
    int serving;    /* `serve`: background work runs in each new version */
    long reloads_ok, reloads_failed;
};

/* Loads the config, opens the journal and the listener, loads the scripts.
 * Returns 0, or -1 with *err (every load error, one per line). */
int engine_open(struct engine *e, struct host *h, const char *config_path, char **err);
void engine_close(struct engine *e);
/* Compiles the scripts into a fresh state and swaps it in, all on the
 * calling thread; on failure the old version stays and *err says why. */
int engine_reload(struct engine *e, char **err);
/* The world h runs is idle: no task runnable, no commit pending, nothing in
 * flight but requests the simulator parked (a stalled upstream, which only
 * the clock ends). Tests settle on this; tasks asleep on the virtual clock
 * count as idle. */
int engine_idle(const struct host *h);
/* The same, built on a worker thread (reload.c) while the loop keeps
 * serving; done runs on the loop. A request made while a build runs is
 * answered by one more build after it. */
void engine_reload_async(struct engine *e, engine_reload_fn done, void *arg);
/* The half of a reload that touches nothing shared, safe on any thread: a
 * fresh state, its config loaded and its scripts compiled; NULL and *err on
 * failure. */
struct lstate *engine_build(struct host *h, const struct engine_source *src, char **err);
/* Copies the journal's catalog rows (on the loop); 0, or -1 with *err. */
int engine_catalogs_read(struct engine *e, struct engine_catalog **out, size_t *n,
                         char **err);
void engine_catalogs_free(struct engine_catalog *c, size_t n);
/* The loop's half: starts st (journal, adapters, catalog check) and swaps
 * it in. Takes st; NULL means the build failed with *err. On failure the
 * old version stays, the error is reported (log, metric, /status) and -1
 * returned. */
int engine_install(struct engine *e, struct lstate *st, char **err);
/* Version hash of the active scripts. */
const char *engine_version(const struct engine *e);

#endif
