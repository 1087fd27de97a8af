/* atsflow.h — the atsflow runtime as a library (libatsflow), for test
 * harnesses and other programs that embed it.
 *
 * An atsflow_t is one complete runtime: the config, the journal, the webhook
 * listener (on loopback), the engine with its scripts, and, when the config
 * asks for it, the built-in sandbox ATS and Coderbyte. By default it runs on
 * a virtual clock that moves only when atsflow_advance() says so, with a
 * fresh journal and a private scripts folder in a temporary folder of its
 * own, removed by atsflow_close() — the same world `atsflow test` gives a
 * Lua test (docs/testing.md).
 *
 * Nothing runs between calls: each call drives the instance's event loop
 * until its work is done, then returns. An instance belongs to one thread;
 * several instances may live in one process, one call at a time.
 *
 * Errors are returned, never printed: atsflow_open* fill *err, every other
 * call returns -1 or NULL and atsflow_error() says why. Runtime log lines
 * are kept for atsflow_logs() unless options.log_stderr is set. Strings the
 * library returns are malloc'd: release them with atsflow_free().
 *
 * Build:  cc prog.c $(pkg-config --cflags --libs atsflow)
 *         (static: pkg-config --static --libs atsflow, linking libatsflow.a)
 */
#ifndef ATSFLOW_H
#define ATSFLOW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATSFLOW_VERSION "0.1.0"

typedef struct atsflow atsflow_t;

/* All fields are optional: a zeroed struct (or a NULL pointer) gives the
 * defaults described here. */
typedef struct atsflow_options {
    /* atsflow_open_string only: the folder relative paths of the config
     * text (scripts, database) resolve against. Default: the current
     * directory. */
    const char *base_dir;
    /* The journal. NULL (default): a fresh one in the instance's private
     * folder. Otherwise a path (relative to the current directory) or
     * ":memory:". */
    const char *database;
    /* The listener, "address:port". NULL (default): "127.0.0.1:0", a free
     * loopback port (see atsflow_url). */
    const char *listen;
    /* 0 (default): the virtual clock, moved by atsflow_advance. 1: the wall
     * clock (timers fire in real time, during atsflow_run_for). */
    int real_clock;
    /* 0 (default): start with the *.lua files of the config's scripts
     * folder. 1: start with no scripts (add them with atsflow_load_*). */
    int no_config_scripts;
    /* 0 (default): runtime log lines are kept for atsflow_logs(). 1: they
     * are written to stderr as the daemon does. */
    int log_stderr;
} atsflow_options;

/* ---- life cycle ---- */

/* Opens an instance from a config file (docs/reference.md "Config"). Returns
 * NULL with *err (malloc'd; free with atsflow_free) when the config, the
 * scripts or the journal cannot be loaded; err may be NULL. */
atsflow_t *atsflow_open(const char *config_path, const atsflow_options *opts, char **err);
/* The same from config text (e.g. "ats = { sandbox = {} }"). */
atsflow_t *atsflow_open_string(const char *config_text, const atsflow_options *opts,
                               char **err);
/* Stops everything, closes the journal, removes the private folder. NULL is
 * accepted. */
void atsflow_close(atsflow_t *af);

/* Why the last call on af failed ("" when it did not). The pointer stays
 * valid until atsflow_close; the next call on af changes the text. */
const char *atsflow_error(const atsflow_t *af);
/* "http://127.0.0.1:PORT": the instance's listener (webhooks, /events,
 * /status, /metrics, the sandbox under /sandbox/). */
const char *atsflow_url(const atsflow_t *af);
/* The library's version, e.g. "0.1.0". */
const char *atsflow_version(void);
/* Releases a string the library returned. */
void atsflow_free(void *p);

/* ---- scripts ----
 * Each call adds to the instance's scripts (loaded in the order they were
 * added, after the config's own) and reloads them all-or-nothing: on a load
 * error nothing changes, the call returns -1 and atsflow_error() lists every
 * error, one "file:line: message" per line. */

/* A script file, or every *.lua file of a folder (in lexical order). */
int atsflow_load_script(atsflow_t *af, const char *path);
/* Script source text; name (e.g. "invite.lua") appears in its errors. */
int atsflow_load_source(atsflow_t *af, const char *name, const char *lua_text);
/* Removes every script (the config's too), leaving no automation. */
int atsflow_clear_scripts(atsflow_t *af);

/* ---- input ---- */

/* POSTs raw bytes to /webhooks/{source}, as an upstream would. headers: NULL
 * or a NULL-terminated list of "Name: value" lines. Returns the HTTP status
 * (e.g. 200 accepted, 401 bad signature, 404 unknown source) or -1; when
 * response is not NULL, *response receives the response body. */
int atsflow_webhook(atsflow_t *af, const char *source, const char *const *headers,
                    const char *body, size_t body_len, char **response);
/* POSTs a canonical event (docs: spec events.md), or a JSON array of them,
 * to /events with the admin token. Returns the HTTP status (202 accepted,
 * 200 duplicate, 400 invalid) or -1; *response as above. */
int atsflow_emit(atsflow_t *af, const char *event_json, char **response);
/* The built-in sandbox's control surface (config ats = { sandbox = {} }):
 * command is "seed", "reset", "move", "complete", "scorecard", "interview"
 * (POST with json_args, e.g. {"email":…,"job":…,"stage":…}) or "show"
 * (GET; json_args may hold {"email":…}). The simulated upstream posts its
 * signed webhook as it would in production. Returns the response JSON, or
 * NULL when the sandbox answered an error (atsflow_error holds its body). */
char *atsflow_sandbox(atsflow_t *af, const char *command, const char *json_args);

/* ---- running and time ---- */

/* Runs the loop until nothing is runnable and no I/O is in flight (tasks
 * waiting on the virtual clock count as idle). timeout_ms <= 0 means 30000
 * wall-clock ms. Returns 0, or -1 when it was still busy at the timeout. */
int atsflow_run_until_idle(atsflow_t *af, long timeout_ms);
/* Runs the loop for ms wall-clock milliseconds, whatever happens (with the
 * virtual clock, I/O progresses but virtual timers do not fire). */
int atsflow_run_for(atsflow_t *af, long ms);
/* Virtual clock only: moves it forward by ms, stopping at each due timer
 * (retries, backoff, report waits) to let the world settle before going
 * on, and settles at the end. Returns 0 or -1. */
int atsflow_advance(atsflow_t *af, int64_t ms);
/* The instance's clock: milliseconds since the epoch (virtual or real). */
int64_t atsflow_now(const atsflow_t *af);

/* ---- read back (JSON arrays, oldest first; NULL on error) ---- */

/* The journal's events: [{ id, type, source, received_at, status, reason,
 * delivery_id, event = the canonical event, decisions }]. status: NULL for
 * all, or "processed", "ignored" (deliveries that produced no event appear
 * as "delivery:N" with status "accepted" or "failed"). */
char *atsflow_events(atsflow_t *af, const char *status);
/* The action runs: [{ id, event_id, automation, status, attempts, next_at,
 * last_error, ..., steps = [{ seq, kind, status, request, response, at }] }].
 * status: NULL for all, or "pending", "running", "retrying", "succeeded",
 * "dead". */
char *atsflow_runs(atsflow_t *af, const char *status);
/* The requests the automations made to their upstreams. With the sandbox:
 * what it received, [{ seq, method, path, query, headers, json }]; without:
 * the exchanges journaled by the runs' steps, [{ run_id, step, method, url,
 * status, request }]. */
char *atsflow_requests(atsflow_t *af);
/* The log lines kept since the last call (logfmt or JSON per the config's
 * log_format), "" when none; empty with options.log_stderr. */
char *atsflow_logs(atsflow_t *af);

#ifdef __cplusplus
}
#endif

#endif
