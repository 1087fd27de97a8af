/* util: allocation wrappers (fatal on failure), duration/size parsing, clocks. */
#include <ctype.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static void *oom(size_t n)
{
    fprintf(stderr, "atsflow: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    return p ? p : oom(n * m);
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    return n < 0 ? oom((size_t)strlen(fmt)) : p;
}

/* Parses "<digits><unit>" against a unit table; -1 when malformed. */
static int64_t parse_units(const char *s, const char *const *units, const int64_t *mult,
                           int64_t bare)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (v < 0 || v > (INT64_MAX / (1LL << 40)))
        return -1;
    if (*end == '\0')
        return bare > 0 ? v * bare : -1;
    for (int i = 0; units[i]; i++)
        if (strcmp(end, units[i]) == 0)
            return v * mult[i];
    return -1;
}

int64_t util_parse_duration_ms(const char *s)
{
    static const char *const u[] = {"ms", "s", "m", "h", "d", NULL};
    static const int64_t m[] = {1, 1000, 60000, 3600000, 86400000};
    return parse_units(s, u, m, 0);
}

int64_t util_parse_size(const char *s)
{
    static const char *const u[] = {"B", "KB", "MB", "GB", NULL};
    static const int64_t m[] = {1, 1024, 1024 * 1024, 1024LL * 1024 * 1024};
    return parse_units(s, u, m, 1);
}

int64_t util_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void util_iso8601(int64_t wall_ms, char *buf, size_t len)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(wall_ms % 1000));
}

/* SCHED_IDLE: the calling thread runs only on CPU time nothing else wants,
 * and the loop thread preempts it at once when it wakes (on one CPU a nice
 * value alone still let a build delay the loop by 10 ms and more). The
 * price: with every CPU saturated a build waits. Best effort. */
void util_background_thread(void)
{
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
}

int util_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
