/* metrics: counters, gauges and histograms keyed by name and label set,
 * rendered in the Prometheus text exposition format. */
#ifndef ATSF_METRICS_H
#define ATSF_METRICS_H

#include <stddef.h>

struct metrics;
struct evbuffer;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* labels: "" or `source="greenhouse",reason="bad signature"` (already escaped). */
void metrics_add(struct metrics *m, const char *name, const char *labels, double delta);
void metrics_set(struct metrics *m, const char *name, const char *labels, double value);
void metrics_observe(struct metrics *m, const char *name, const char *labels, double v);
double metrics_get(struct metrics *m, const char *name, const char *labels);
/* help: one line per metric family; type: "counter", "gauge", "histogram". */
void metrics_describe(struct metrics *m, const char *name, const char *type,
                      const char *help);
void metrics_render(struct metrics *m, struct evbuffer *out);

#endif
