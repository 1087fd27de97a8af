/* metrics: an ordered list of series per family; few families, few series,
 * so a linear search is cheaper than a hash here. */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,   1,    2.5,   5,    10};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

struct series {
    char *labels;
    double value;             /* counter / gauge, or histogram sum */
    double count;             /* histogram */
    double bucket[NBUCKETS];  /* histogram, cumulative at render */
    struct series *next;
};

struct family {
    char *name, *type, *help;
    struct series *series;
    struct family *next;
};

struct metrics {
    struct family *families;
};

struct metrics *metrics_new(void)
{
    return xcalloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
    for (struct family *f = m->families, *fn; f; f = fn) {
        fn = f->next;
        for (struct series *s = f->series, *sn; s; s = sn) {
            sn = s->next;
            free(s->labels);
            free(s);
        }
        free(f->name);
        free(f->type);
        free(f->help);
        free(f);
    }
    free(m);
}

static struct family *family(struct metrics *m, const char *name, const char *type)
{
    struct family **p = &m->families;
    for (; *p; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0)
            return *p;
    *p = xcalloc(1, sizeof **p);
    (*p)->name = xstrdup(name);
    (*p)->type = xstrdup(type);
    return *p;
}

static struct series *series(struct family *f, const char *labels)
{
    struct series **p = &f->series;
    for (; *p; p = &(*p)->next)
        if (strcmp((*p)->labels, labels) == 0)
            return *p;
    *p = xcalloc(1, sizeof **p);
    (*p)->labels = xstrdup(labels);
    return *p;
}

void metrics_describe(struct metrics *m, const char *name, const char *type,
                      const char *help)
{
    struct family *f = family(m, name, type);
    free(f->type);
    free(f->help);
    f->type = xstrdup(type);
    f->help = xstrdup(help);
}

void metrics_add(struct metrics *m, const char *name, const char *labels, double delta)
{
    series(family(m, name, "counter"), labels ? labels : "")->value += delta;
}

void metrics_set(struct metrics *m, const char *name, const char *labels, double value)
{
    series(family(m, name, "gauge"), labels ? labels : "")->value = value;
}

double metrics_get(struct metrics *m, const char *name, const char *labels)
{
    return series(family(m, name, "counter"), labels ? labels : "")->value;
}

void metrics_observe(struct metrics *m, const char *name, const char *labels, double v)
{
    struct series *s = series(family(m, name, "histogram"), labels ? labels : "");
    s->value += v;
    s->count += 1;
    for (size_t i = 0; i < NBUCKETS; i++)
        if (v <= buckets[i])
            s->bucket[i] += 1;
}

static void render_histogram(struct family *f, struct series *s, struct evbuffer *out)
{
    const char *sep = s->labels[0] ? "," : "";
    for (size_t i = 0; i < NBUCKETS; i++)
        evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %.17g\n", f->name, s->labels,
                            sep, buckets[i], s->bucket[i]);
    evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %.17g\n", f->name, s->labels, sep,
                        s->count);
    evbuffer_add_printf(out, "%s_sum{%s} %.17g\n%s_count{%s} %.17g\n", f->name, s->labels,
                        s->value, f->name, s->labels, s->count);
}

void metrics_render(struct metrics *m, struct evbuffer *out)
{
    for (struct family *f = m->families; f; f = f->next) {
        if (f->help)
            evbuffer_add_printf(out, "# HELP %s %s\n", f->name, f->help);
        evbuffer_add_printf(out, "# TYPE %s %s\n", f->name, f->type);
        for (struct series *s = f->series; s; s = s->next) {
            if (strcmp(f->type, "histogram") == 0)
                render_histogram(f, s, out);
            else
                evbuffer_add_printf(out, "%s{%s} %.17g\n", f->name, s->labels, s->value);
        }
    }
}
