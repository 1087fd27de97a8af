/* runq: the order in which action runs may start, across every script
 * version (each version is its own Lua state, so a queue inside one cannot
 * see runs another version queued). Per queue key (one candidate) a FIFO of
 * run ids in event order: only the head may run. One bound on runs in flight
 * for all versions together. Knows nothing of Lua: a run is started through
 * the start callback in the state ("owner") that queued it, which the hold
 * and release callbacks keep alive while it has runs waiting. */
#ifndef ATSF_RUNQ_H
#define ATSF_RUNQ_H

#include <stddef.h>

struct runq;

struct runq_owner_ops {
    void (*start)(void *owner, long id); /* must not call back into runq */
    void (*hold)(void *owner);
    void (*release)(void *owner);
};

struct runq *runq_new(const struct runq_owner_ops *ops);
/* Drops every queued run (releasing their owners); starts nothing. */
void runq_free(struct runq *q);

/* Appends run id under key for owner, then starts what may start under
 * limit. Returns 0, or -1 when id is already queued under key. */
int runq_add(struct runq *q, const char *key, long id, void *owner, long limit);
/* The started run id at the head of key has ended: the next run of key
 * becomes the head; starts what may start. -1 when id is not that head. */
int runq_done(struct runq *q, const char *key, long id, long limit);
/* A started run gives up (delta -1) or takes back (+1) its slot in the bound
 * while it sleeps before a retry; its key stays held. */
void runq_slot(struct runq *q, int delta, long limit);

size_t runq_waiting(const struct runq *q); /* queued, not started */
size_t runq_running(const struct runq *q); /* started, not done */

#endif
