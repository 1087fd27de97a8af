/* reload: builds on a worker thread, installs on the loop (see reload.h).
 * The worker sees only its copies of the config source and the state it
 * creates; the loop reads the result after pthread_join. */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine.h"
#include "host.h"
#include "log.h"
#include "lstate.h"
#include "reload.h"
#include "util.h"

struct waiter {
    engine_reload_fn fn;
    void *arg;
    struct waiter *next;
};

struct reload {
    struct engine *e;
    int fd; /* eventfd: the worker's "done" */
    struct event *ev;
    pthread_t thread;
    int running;               /* a build is on the worker */
    int again;                 /* requested during it: one more build after */
    struct waiter *now, *next; /* answered by the running build / the one after */
    /* the running build: its input (copies) and its output */
    char *config_path, *override_db, *override_listen;
    struct engine_catalog *catalogs;
    size_t ncatalogs;
    struct lstate *st;
    char *err;
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void build_inputs_free(struct reload *r)
{
    free(r->config_path);
    free(r->override_db);
    free(r->override_listen);
    r->config_path = r->override_db = r->override_listen = NULL;
    engine_catalogs_free(r->catalogs, r->ncatalogs);
    r->catalogs = NULL;
    r->ncatalogs = 0;
}

static void *build_main(void *arg)
{
    struct reload *r = arg;
    struct engine_source src = {r->config_path, r->override_db, r->override_listen,
                                r->catalogs, r->ncatalogs};
    util_background_thread();
    r->st = engine_build(r->e->host, &src, &r->err);
    uint64_t one = 1;
    while (write(r->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* Starts the worker with every signal blocked (they belong to the loop). */
static int build_start(struct reload *r)
{
    struct engine *e = r->e;
    if (engine_catalogs_read(e, &r->catalogs, &r->ncatalogs, &r->err) < 0)
        return -1;
    r->config_path = xstrdup(e->config_path);
    r->override_db = dup_or_null(e->override_db);
    r->override_listen = dup_or_null(e->override_listen);
    int rc = util_thread_start(&r->thread, build_main, r);
    if (rc != 0) {
        build_inputs_free(r);
        r->err = xasprintf("cannot start the reload thread: %s", strerror(rc));
        return -1;
    }
    r->running = 1;
    return 0;
}

static void answer(struct waiter *w, int rc, const char *text)
{
    while (w) {
        struct waiter *next = w->next;
        if (w->fn)
            w->fn(w->arg, rc, text);
        free(w);
        w = next;
    }
}

static void drop(struct waiter *w)
{
    while (w) {
        struct waiter *next = w->next;
        free(w);
        w = next;
    }
}

/* The build is in (or could not start): install it, then start the one
 * asked for meanwhile, then answer. */
static void build_finish(struct reload *r)
{
    struct lstate *st = r->st;
    char *err = r->err;
    r->st = NULL;
    r->err = NULL;
    struct waiter *w = r->now;
    r->now = NULL;
    if (!st && !err)
        err = xstrdup("reload failed");
    int rc = engine_install(r->e, st, &err);
    const char *text = rc == 0 ? engine_version(r->e) : err;
    char *kept = xstrdup(text ? text : "reload failed");
    while (r->again) {
        r->again = 0;
        r->now = r->next;
        r->next = NULL;
        if (build_start(r) == 0)
            break;
        /* the retry failed too: report it to its own waiters */
        char *why = r->err;
        r->err = NULL;
        engine_install(r->e, NULL, &why);
        answer(r->now, -1, why);
        r->now = NULL;
        free(why);
    }
    answer(w, rc, kept);
    free(kept);
    free(err);
}

static void build_done(evutil_socket_t fd, short what, void *arg)
{
    struct reload *r = arg;
    uint64_t n;
    if (read(r->fd, &n, sizeof n) < 0 || !r->running)
        return;
    pthread_join(r->thread, NULL);
    r->running = 0;
    build_inputs_free(r);
    build_finish(r);
}

struct reload *reload_new(struct engine *e)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        log_msg(LOG_WARN, "no eventfd: reloads build on the loop", "error",
                strerror(errno));
        return NULL;
    }
    struct reload *r = xcalloc(1, sizeof *r);
    r->e = e;
    r->fd = fd;
    r->ev = event_new(e->host->base, fd, EV_READ | EV_PERSIST, build_done, r);
    event_add(r->ev, NULL);
    return r;
}

void reload_request(struct reload *r, engine_reload_fn done, void *arg)
{
    struct waiter *w = xcalloc(1, sizeof *w);
    *w = (struct waiter){done, arg, NULL};
    struct waiter **tail = r->running ? &r->next : &r->now;
    while (*tail)
        tail = &(*tail)->next;
    *tail = w;
    if (r->running) {
        r->again = 1;
        return;
    }
    if (build_start(r) < 0)
        build_finish(r);
}

void reload_free(struct reload *r)
{
    if (!r)
        return;
    if (r->running) {
        pthread_join(r->thread, NULL);
        build_inputs_free(r);
        lstate_free(r->st);
        free(r->err);
    }
    drop(r->now);
    drop(r->next);
    event_free(r->ev);
    close(r->fd);
    free(r);
}
