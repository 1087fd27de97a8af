/* runq: per-key FIFOs of run ids in one hash table, and a list of the keys
 * whose head waits to start, oldest first (see runq.h). Relies on util.h for
 * allocation; callers own the meaning of owners. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runq.h"
#include "util.h"

struct run {
    long id;
    void *owner;
    int started;
    struct run *next;
};

struct key {
    char *name;
    struct run *head, *tail;
    struct key *hnext;      /* hash chain */
    struct key *ready_next; /* in the ready list: the head waits to start */
    int ready;
};

struct runq {
    struct runq_owner_ops ops;
    struct key **buckets;
    size_t nbuckets, nkeys;
    struct key *ready_head, *ready_tail;
    size_t waiting, running;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct runq *runq_new(const struct runq_owner_ops *ops)
{
    struct runq *q = xcalloc(1, sizeof(*q));

    q->ops = *ops;
    q->nbuckets = 64;
    q->buckets = xcalloc(q->nbuckets, sizeof(*q->buckets));
    return q;
}

static void grow(struct runq *q)
{
    size_t n = q->nbuckets * 2;
    struct key **b = xcalloc(n, sizeof(*b));

    for (size_t i = 0; i < q->nbuckets; i++) {
        for (struct key *k = q->buckets[i], *next; k; k = next) {
            next = k->hnext;
            k->hnext = b[hash(k->name) & (n - 1)];
            b[hash(k->name) & (n - 1)] = k;
        }
    }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = n;
}

static struct key **slot_of(struct runq *q, const char *name)
{
    struct key **pp = &q->buckets[hash(name) & (q->nbuckets - 1)];

    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

static struct key *key_get(struct runq *q, const char *name, int create)
{
    struct key **pp = slot_of(q, name);

    if (*pp || !create)
        return *pp;
    if (q->nkeys >= q->nbuckets) {
        grow(q);
        pp = slot_of(q, name);
    }
    *pp = xcalloc(1, sizeof(**pp));
    (*pp)->name = xstrdup(name);
    q->nkeys++;
    return *pp;
}

/* Only for a key that is empty and not in the ready list. */
static void key_drop(struct runq *q, struct key *k)
{
    struct key **pp = slot_of(q, k->name);

    *pp = k->hnext;
    q->nkeys--;
    free(k->name);
    free(k);
}

static void ready_push(struct runq *q, struct key *k)
{
    k->ready = 1;
    k->ready_next = NULL;
    if (q->ready_tail)
        q->ready_tail->ready_next = k;
    else
        q->ready_head = k;
    q->ready_tail = k;
}

/* Starts ready heads, oldest ready first, while below limit. The hold is
 * released after start, so a retired owner is not freed in between. */
static void pump(struct runq *q, long limit)
{
    while (q->ready_head && (long)q->running < limit) {
        struct key *k = q->ready_head;
        struct run *r = k->head;

        q->ready_head = k->ready_next;
        if (!q->ready_head)
            q->ready_tail = NULL;
        k->ready = 0;
        r->started = 1;
        q->waiting--;
        q->running++;
        q->ops.start(r->owner, r->id);
        q->ops.release(r->owner);
    }
}

int runq_add(struct runq *q, const char *key, long id, void *owner, long limit)
{
    struct key *k = key_get(q, key, 1);
    struct run *r;

    for (r = k->head; r; r = r->next)
        if (r->id == id)
            return -1;
    r = xcalloc(1, sizeof(*r));
    r->id = id;
    r->owner = owner;
    q->ops.hold(owner);
    if (k->tail)
        k->tail->next = r;
    else
        k->head = r;
    k->tail = r;
    q->waiting++;
    if (k->head == r)
        ready_push(q, k);
    pump(q, limit);
    return 0;
}

int runq_done(struct runq *q, const char *key, long id, long limit)
{
    struct key *k = key_get(q, key, 0);
    struct run *r = k ? k->head : NULL;

    if (!r || r->id != id || !r->started)
        return -1;
    k->head = r->next;
    if (!k->head)
        k->tail = NULL;
    free(r);
    q->running--;
    if (k->head)
        ready_push(q, k);
    else
        key_drop(q, k);
    pump(q, limit);
    return 0;
}

void runq_slot(struct runq *q, int delta, long limit)
{
    if (delta < 0 && q->running > 0)
        q->running--;
    else if (delta > 0)
        q->running++;
    if (delta < 0)
        pump(q, limit);
}

void runq_free(struct runq *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nbuckets; i++) {
        while (q->buckets[i]) {
            struct key *k = q->buckets[i];

            q->buckets[i] = k->hnext;
            while (k->head) {
                struct run *r = k->head;

                k->head = r->next;
                if (!r->started)
                    q->ops.release(r->owner);
                free(r);
            }
            free(k->name);
            free(k);
        }
    }
    free(q->buckets);
    free(q);
}

size_t runq_waiting(const struct runq *q)
{
    return q->waiting;
}

size_t runq_running(const struct runq *q)
{
    return q->running;
}
