/* bucket: the host's token buckets by upstream name (see bucket.h). A few
 * upstreams at most: a list. */
#include <stdlib.h>
#include <string.h>

#include "bucket.h"
#include "util.h"

struct buckets {
    char *name;
    int stale; /* buckets_reset: started afresh at the next get */
    struct bucket b;
    struct buckets *next;
};

struct bucket *buckets_get(struct buckets **all, const char *name, double rate,
                           double burst, int64_t now_mono)
{
    for (struct buckets *e = *all; e; e = e->next) {
        if (strcmp(e->name, name) != 0)
            continue;
        if (e->stale)
            e->b = (struct bucket){rate, burst, burst, now_mono, 0};
        e->stale = 0;
        return &e->b;
    }
    struct buckets *e = xcalloc(1, sizeof *e);
    e->name = xstrdup(name);
    e->b = (struct bucket){rate, burst, burst, now_mono, 0};
    e->next = *all;
    *all = e;
    return &e->b;
}

void buckets_reset(struct buckets *all)
{
    for (; all; all = all->next)
        all->stale = 1;
}

void buckets_free(struct buckets *all)
{
    while (all) {
        struct buckets *next = all->next;
        free(all->name);
        free(all);
        all = next;
    }
}
