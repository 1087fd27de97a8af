/* watch: inotify → one debounced callback (see watch.h). */
#include <event2/event.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "watch.h"

struct watch {
    int fd;
    struct event *ev, *timer;
    int debounce_ms;
    void (*fn)(void *);
    void *arg;
};

static void fire(evutil_socket_t fd, short what, void *arg)
{
    struct watch *w = arg;
    w->fn(w->arg);
}

static void readable(evutil_socket_t fd, short what, void *arg)
{
    struct watch *w = arg;
    char buf[4096];
    while (read(w->fd, buf, sizeof buf) > 0)
        ; /* the events themselves do not matter: any change reloads */
    struct timeval tv = {w->debounce_ms / 1000, (w->debounce_ms % 1000) * 1000};
    evtimer_add(w->timer, &tv); /* re-adding restarts the debounce window */
}

struct watch *watch_start(struct event_base *base, const char *dir, int debounce_ms,
                          void (*fn)(void *), void *arg)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE;
    if (fd < 0 || inotify_add_watch(fd, dir, mask) < 0) {
        log_msg(LOG_WARN, "cannot watch the scripts folder; reload with SIGHUP", "dir", dir);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct watch *w = xcalloc(1, sizeof *w);
    *w = (struct watch){.fd = fd, .debounce_ms = debounce_ms, .fn = fn, .arg = arg};
    w->ev = event_new(base, fd, EV_READ | EV_PERSIST, readable, w);
    w->timer = evtimer_new(base, fire, w);
    event_add(w->ev, NULL);
    return w;
}

void watch_free(struct watch *w)
{
    if (!w)
        return;
    event_free(w->ev);
    event_free(w->timer);
    close(w->fd);
    free(w);
}
