/* util: allocation that never returns NULL, string helpers, duration and size
 * parsing, wall/monotonic clocks. */
#ifndef ATSF_UTIL_H
#define ATSF_UTIL_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "500ms", "30s", "15m", "2h", "14d" -> milliseconds; -1 on bad input. */
int64_t util_parse_duration_ms(const char *s);
/* "64KB", "1MB", "1GB", "512" (bytes) -> bytes; -1 on bad input. */
int64_t util_parse_size(const char *s);

int64_t util_wall_ms(void);  /* ms since the epoch */
int64_t util_mono_ms(void);  /* monotonic ms */
/* ISO-8601 UTC with milliseconds, e.g. 2026-11-28T10:00:00.123Z; buf >= 32. */
void util_iso8601(int64_t wall_ms, char *buf, size_t len);

/* Lowest CPU priority for the calling thread (builds, closes): the loop first. */
void util_background_thread(void);
/* pthread_create with every signal blocked in the new thread: signals are
 * the loop's (libevent). 0 or the error number. */
int util_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
