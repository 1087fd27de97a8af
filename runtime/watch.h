/* watch: inotify on the scripts folder, debounced so an editor's
 * save-rename-write sequence triggers one reload. */
#ifndef ATSF_WATCH_H
#define ATSF_WATCH_H

struct event_base;
struct watch;

struct watch *watch_start(struct event_base *base, const char *dir, int debounce_ms,
                          void (*fn)(void *), void *arg);
void watch_free(struct watch *w);

#endif
