/* host: shared services and timers on the real or virtual clock (host.h). */
#include <event2/event.h>
#include <stdlib.h>

#include "host.h"
#include "bucket.h"
#include "runq.h"
#include "util.h"

struct host_timer {
    struct host *h;
    struct event *ev; /* real clock */
    int64_t due;      /* virtual clock */
    host_timer_fn fn;
    void *arg;
    struct host_timer *next;
    struct host_timer *prev; /* real clock: h->rtimers is doubly linked */
};

void host_init(struct host *h, struct event_base *base, int virtual_time)
{
    h->base = base;
    h->virtual_time = virtual_time;
    h->vnow = util_wall_ms();
    h->start_mono = util_mono_ms();
}

void host_cleanup_timers(struct host *h)
{
    while (h->vtimers)
        host_timer_cancel(h, h->vtimers); // NOLINT(clang-analyzer-unix.Malloc): unlinks the head
}

void host_cleanup(struct host *h)
{
    host_cleanup_timers(h);
    while (h->rtimers) /* tasks still asleep at exit */
        host_timer_cancel(h, h->rtimers); // NOLINT(clang-analyzer-unix.Malloc): unlinks the head
    free(h->self_url);
    h->self_url = NULL;
    free(h->sandbox_secret);
    h->sandbox_secret = NULL;
    runq_free(h->runq);
    h->runq = NULL;
    buckets_free(h->buckets);
    h->buckets = NULL;
}

int64_t host_now(const struct host *h)
{
    return h->virtual_time ? h->vnow : util_wall_ms();
}

static void real_unlink(struct host_timer *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        t->h->rtimers = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

static void real_fire(evutil_socket_t fd, short what, void *arg)
{
    struct host_timer *t = arg;
    real_unlink(t);
    host_timer_fn fn = t->fn;
    void *fnarg = t->arg;
    event_free(t->ev);
    free(t);
    fn(fnarg);
}

struct host_timer *host_timer_add(struct host *h, int64_t ms, host_timer_fn fn, void *arg)
{
    struct host_timer *t = xcalloc(1, sizeof *t);
    *t = (struct host_timer){.h = h, .fn = fn, .arg = arg, .due = host_now(h) + ms};
    if (!h->virtual_time) {
        t->ev = evtimer_new(h->base, real_fire, t);
        t->next = h->rtimers;
        if (h->rtimers)
            h->rtimers->prev = t;
        h->rtimers = t;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
        evtimer_add(t->ev, &tv);
        return t;
    }
    struct host_timer **p = &h->vtimers;
    while (*p && (*p)->due <= t->due)
        p = &(*p)->next;
    t->next = *p;
    *p = t;
    return t;
}

void host_timer_cancel(struct host *h, struct host_timer *t)
{
    if (t->ev) {
        real_unlink(t);
        event_free(t->ev);
        free(t);
        return;
    }
    for (struct host_timer **p = &h->vtimers; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            free(t);
            return;
        }
    }
}

void host_advance(struct host *h, int64_t ms)
{
    int64_t until = h->vnow + ms;
    while (h->vtimers && h->vtimers->due <= until) {
        struct host_timer *t = h->vtimers;
        h->vtimers = t->next;
        if (t->due > h->vnow)
            h->vnow = t->due;
        host_timer_fn fn = t->fn;
        void *arg = t->arg;
        free(t);
        fn(arg);
    }
    h->vnow = until;
}

int64_t host_next_due(const struct host *h)
{
    return h->vtimers ? h->vtimers->due : -1;
}
