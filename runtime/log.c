/* log: logfmt / JSON lines on stderr (see log.h). Lines are written under
 * one lock: a reload compiling on a worker thread logs too (script print). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static int use_json;
static enum log_level min_level = LOG_INFO;
static log_sink_fn sink; /* NULL: stderr */
static void *sink_arg;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* Called on the loop while no build runs (engine_open). */
void log_configure(const char *format, const char *level)
{
    pthread_mutex_lock(&lock);
    use_json = format && strcmp(format, "json") == 0;
    int lv = log_level_parse(level);
    if (lv >= 0)
        min_level = (enum log_level)lv;
    pthread_mutex_unlock(&lock);
}

int log_enabled(enum log_level lv)
{
    return lv >= min_level;
}

static void put_logfmt(FILE *f, const char *v)
{
    int quote = *v == '\0' || strpbrk(v, " =\"\t\n\r") != NULL;
    if (!quote) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', f);
        if (*p == '\n')
            fputs("\\n", f);
        else if (*p != '\r')
            fputc(*p, f);
    }
    fputc('"', f);
}

static void put_json(FILE *f, const char *v)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void put_pair(FILE *f, const char *k, const char *v, int first)
{
    if (use_json) {
        fputs(first ? "{" : ",", f);
        put_json(f, k);
        fputc(':', f);
        put_json(f, v);
    } else {
        if (!first)
            fputc(' ', f);
        fprintf(f, "%s=", k);
        put_logfmt(f, v);
    }
}

void log_set_sink(log_sink_fn fn, void *arg)
{
    pthread_mutex_lock(&lock);
    sink = fn;
    sink_arg = arg;
    pthread_mutex_unlock(&lock);
}

void log_kv(enum log_level lv, const char *msg, const char *const *kv)
{
    if (!log_enabled(lv))
        return;
    char ts[32];
    util_iso8601(util_wall_ms(), ts, sizeof ts);
    pthread_mutex_lock(&lock);
    char *line = NULL;
    size_t len = 0;
    FILE *f = sink ? open_memstream(&line, &len) : stderr;
    if (f) {
        flockfile(f);
        put_pair(f, "ts", ts, 1);
        put_pair(f, "level", names[lv], 0);
        put_pair(f, "msg", msg, 0);
        for (int i = 0; kv && kv[i]; i += 2)
            if (kv[i + 1])
                put_pair(f, kv[i], kv[i + 1], 0);
        fputs(use_json ? "}\n" : "\n", f);
        funlockfile(f);
    }
    if (f && f != stderr) {
        fclose(f);
        sink(sink_arg, (int)lv, line);
        free(line);
    }
    pthread_mutex_unlock(&lock);
}

void log_msg(enum log_level lv, const char *msg, const char *k1, const char *v1)
{
    const char *kv[] = {k1, v1, NULL};
    log_kv(lv, msg, k1 ? kv : NULL);
}
