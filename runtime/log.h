/* log: one structured line per record on stderr, logfmt or JSON. Keys and
 * values come in pairs; values are escaped for the chosen format. */
#ifndef ATSF_LOG_H
#define ATSF_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_configure(const char *format, const char *level); /* "logfmt"|"json", "info"... */
int log_enabled(enum log_level lv);
/* kv: NULL-terminated list of key, value, key, value ... (values may be NULL: skipped). */
void log_kv(enum log_level lv, const char *msg, const char *const *kv);
void log_msg(enum log_level lv, const char *msg, const char *k1, const char *v1);
int log_level_parse(const char *s);
/* Sends every record (one line, ending in '\n') to fn instead of stderr;
 * fn NULL restores stderr. Used by libatsflow (runtime/lib.c). */
typedef void (*log_sink_fn)(void *arg, int level, const char *line);
void log_set_sink(log_sink_fn fn, void *arg);

#endif
