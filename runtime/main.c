/* main: the atsflow command line. `serve` runs the daemon here; every other
 * command is Lua (runtime/lua/cli.lua) run as a task on the same loop. */
#include <curl/curl.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "host.h"
#include "httpc.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "lstate.h"
#include "metrics.h"
#include "util.h"
#include "watch.h"

static const char usage[] =
    "usage: atsflow [-c CONFIG] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  serve                 run the daemon (SIGHUP reloads scripts, SIGTERM stops)\n"
    "  check                 validate the config and scripts, list the automations\n"
    "  test [FILES...]       run Lua tests (default tests/**/*_test.lua)\n"
    "  dry-run EVENT.json... show what the automations would do, sending nothing\n"
    "  events [--status S] [--since T] [--limit N]\n"
    "  runs [--status S] [--automation NAME] [--limit N]\n"
    "  show ID               one event or run in full\n"
    "  replay ID... | --dead | --since T\n"
    "  catalog [refresh]     jobs, stages and assessments known per upstream\n"
    "  sandbox seed | move EMAIL JOB STAGE | complete EMAIL ASSESSMENT [--score N]\n"
    "          [--cheating L] | scorecard EMAIL (--assessment A | --interview I)\n"
    "          --event E [--comment C] | interview EMAIL [ID] | show [EMAIL]\n"
    "\n"
    "options:\n"
    "  -c CONFIG             config file (default ./atsflow.conf.lua)\n"
    "  --help, --version\n";

struct app {
    struct event_base *base;
    struct host host;
    struct engine engine;
    struct event *sig_hup, *sig_term, *sig_int, *drain_timer;
    struct watch *watch;
    int64_t drain_deadline;
    int exit_code;
};

static void print_version(void)
{
    printf("atsflow %s\n%s, libevent %s, %s, SQLite %s\n", ATSF_VERSION, LUA_RELEASE,
           event_get_version(), curl_version(), sqlite3_libversion());
}

/* The build runs off the loop; its result is logged by the engine. */
static void on_hup(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;
    log_msg(LOG_INFO, "SIGHUP: reloading scripts", NULL, NULL);
    engine_reload_async(&a->engine, NULL, NULL);
}

static void drain_check(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;
    struct host *h = &a->host;
    int busy = httpc_pending(h->httpc) > 0 || journal_busy(h->journal);
    if (!busy || util_mono_ms() >= a->drain_deadline) {
        char *err = NULL;
        if (journal_flush(h->journal, &err) < 0) {
            log_msg(LOG_ERROR, "final commit failed", "error", err);
            free(err);
        }
        log_msg(LOG_INFO, "stopped", NULL, NULL);
        event_base_loopbreak(a->base);
        return;
    }
    struct timeval tv = {0, 50000};
    evtimer_add(a->drain_timer, &tv);
}

/* SIGTERM/SIGINT: refuse new webhooks (503), let in-flight calls finish up
 * to the drain deadline, commit, exit. Unfinished runs resume at start. */
static void on_term(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;
    if (a->engine.draining)
        return;
    a->engine.draining = 1;
    httpd_drain(a->engine.httpd);
    log_msg(LOG_INFO, "stopping: draining in-flight work", NULL, NULL);
    a->drain_deadline = util_mono_ms() + a->engine.set.drain_timeout_ms;
    a->drain_timer = evtimer_new(a->base, drain_check, a);
    struct timeval tv = {0, 0};
    evtimer_add(a->drain_timer, &tv);
}

static void on_scripts_changed(void *arg)
{
    struct app *a = arg;
    log_msg(LOG_INFO, "scripts changed: reloading", NULL, NULL);
    engine_reload_async(&a->engine, NULL, NULL);
}

static int serve(struct app *a, const char *config)
{
    char *err = NULL;
    if (engine_open(&a->engine, &a->host, config, &err) < 0) {
        fprintf(stderr, "atsflow: %s\n", err);
        free(err);
        return 1;
    }
    a->engine.serving = 1;
    lstate_spawn(a->engine.current, "serve_tasks", 0);
    a->sig_hup = evsignal_new(a->base, SIGHUP, on_hup, a);
    a->sig_term = evsignal_new(a->base, SIGTERM, on_term, a);
    a->sig_int = evsignal_new(a->base, SIGINT, on_term, a);
    evsignal_add(a->sig_hup, NULL);
    evsignal_add(a->sig_term, NULL);
    evsignal_add(a->sig_int, NULL);
    a->watch = watch_start(a->base, a->engine.set.scripts, 200, on_scripts_changed, a);
    log_kv(LOG_INFO, "listening",
           (const char *[]){"url", httpd_url(a->engine.httpd), "version",
                            engine_version(&a->engine), "database", a->engine.set.database,
                            NULL});
    event_base_dispatch(a->base);
    watch_free(a->watch);
    event_free(a->sig_hup);
    event_free(a->sig_term);
    event_free(a->sig_int);
    if (a->drain_timer)
        event_free(a->drain_timer);
    return 0;
}

/* Any other command: cli.main(config, command, args...) as a task. */
static int run_cli(struct app *a, const char *config, int argc, char **argv)
{
    char *err = NULL;
    struct lstate *st = lstate_new(&a->host, 0, 0, &err);
    if (!st || lstate_boot(st, "cli", &err) < 0) {
        fprintf(stderr, "atsflow: %s\n", err);
        free(err);
        lstate_free(st);
        return 1;
    }
    lua_pushstring(st->L, config); // config
    for (int i = 0; i < argc; i++)
        lua_pushstring(st->L, argv[i]);
    lstate_spawn(st, "main", argc + 1);
    a->host.exit_code = -1;
    event_base_dispatch(a->base);
    engine_close(&a->engine);
    lstate_free(st);
    return a->host.exit_code < 0 ? 1 : a->host.exit_code;
}

int main(int argc, char **argv)
{
    const char *config = "atsflow.conf.lua";
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            print_version();
            return 0;
        } else {
            fprintf(stderr, "atsflow: unknown option '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct app a;
    a.base = event_base_new();
    int is_test = strcmp(argv[i], "test") == 0;
    host_init(&a.host, a.base, is_test);
    a.host.metrics = metrics_new();
    a.host.httpc = httpc_new(a.base);
    a.host.engine = &a.engine;
    int rc = strcmp(argv[i], "serve") == 0 ? serve(&a, config)
                                           : run_cli(&a, config, argc - i, argv + i);
    engine_close(&a.engine);
    httpc_free(a.host.httpc);
    host_cleanup(&a.host);
    metrics_free(a.host.metrics);
    if (a.host.ready_ev)
        event_free(a.host.ready_ev);
    event_base_free(a.base);
    return rc;
}
