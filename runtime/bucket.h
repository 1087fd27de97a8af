/* bucket: the outbound token buckets, one per configured upstream, kept by
 * the host so that every script version (each its own Lua state) shares
 * it: runs of an old and a new version together stay under the rate. The
 * arithmetic is the caller's (runtime/lua/upstream.lua); this holds the
 * numbers. */
#ifndef ATSF_BUCKET_H
#define ATSF_BUCKET_H

#include <stdint.h>

struct bucket {
    double rate;  /* tokens per second */
    double burst; /* most tokens kept */
    double tokens;
    int64_t at;            /* monotonic ms of the last refill */
    int64_t blocked_until; /* wall ms: Retry-After, or the window's reset */
};

struct buckets;

/* The bucket named name, created with rate, burst (full) at now_mono when
 * new or reset since; an existing one keeps what it learned. */
struct bucket *buckets_get(struct buckets **all, const char *name, double rate,
                           double burst, int64_t now_mono);
/* Makes every bucket start afresh at its next buckets_get (a new world),
 * keeping the memory: Lua values may still point at it. */
void buckets_reset(struct buckets *all);
/* At the host's end only. */
void buckets_free(struct buckets *all);

#endif
