/* host: the services every Lua state of the process shares — the event loop,
 * the journal, the HTTP client, the clock (real or virtual), metrics — and
 * the timers built on that clock. */
#ifndef ATSF_HOST_H
#define ATSF_HOST_H

#include <stdint.h>

struct event_base;
struct journal;
struct httpc;
struct metrics;
struct engine;
struct host_timer;
struct task;
struct event;
struct lstate_closer;
struct lstate;
struct runq;
struct buckets;

typedef void (*host_timer_fn)(void *arg);

struct host {
    struct event_base *base;
    struct journal *journal;
    struct httpc *httpc;
    struct metrics *metrics;
    struct engine *engine;
    char *self_url;        /* http://address:port of our own listener, or NULL */
    char *sandbox_secret;  /* a configured sandbox webhook secret, for the simulator:
                              kept in memory only, never in the journal */
    int virtual_time;      /* atsflow test: time moves only when told */
    _Atomic int64_t vnow;  /* virtual wall clock, ms (read by off-loop builds) */
    struct host_timer *vtimers; /* virtual timers, sorted by due time */
    struct host_timer *rtimers; /* real-clock timers not fired yet (freed at cleanup) */
    int64_t start_mono;
    struct event *ready_ev;     /* drains the tasks started "later" */
    struct task *ready_head, *ready_tail;
    long tasks_started;
    struct lstate_closer *closing; /* retired states being closed (lstate.c) */
    struct lstate *retired;        /* retired states whose tasks still run */
    struct runq *runq;          /* run order across script versions, or NULL */
    struct buckets *buckets;    /* outbound token buckets by upstream (bucket.h) */
    int exit_code; /* set by a CLI task through host.exit */
};

void host_init(struct host *h, struct event_base *base, int virtual_time);
void host_cleanup(struct host *h);
void host_cleanup_timers(struct host *h); /* drops virtual timers unfired */
int64_t host_now(const struct host *h); /* wall ms (virtual under test) */

/* One-shot timer; returns a handle that host_timer_cancel accepts until it fires. */
struct host_timer *host_timer_add(struct host *h, int64_t ms, host_timer_fn fn, void *arg);
void host_timer_cancel(struct host *h, struct host_timer *t);
/* Virtual time: moves the clock forward, firing due timers in order. */
void host_advance(struct host *h, int64_t ms);
/* Virtual time: due time of the earliest timer, or -1. */
int64_t host_next_due(const struct host *h);

#endif
