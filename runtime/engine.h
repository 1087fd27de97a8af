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
    int reload_pending;
    int serving;    /* `serve`: background work runs in each new version */
    long reloads_ok, reloads_failed;
};

/* Loads the config, opens the journal and the listener, loads the scripts.
 * Returns 0, or -1 with *err (every load error, one per line). */
int engine_open(struct engine *e, struct host *h, const char *config_path, char **err);
void engine_close(struct engine *e);
/* Compiles the scripts into a fresh state and swaps it in; on failure the
 * old version stays and *err says why. */
int engine_reload(struct engine *e, char **err);
/* The world h runs is idle: no task runnable, no commit pending, nothing in
 * flight but requests the simulator parked (a stalled upstream, which only
 * the clock ends). Tests settle on this; tasks asleep on the virtual clock
 * count as idle. */
int engine_idle(const struct host *h);
/* Version hash of the active scripts. */
const char *engine_version(const struct engine *e);

#endif
