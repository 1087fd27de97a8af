/* reload: script versions built off the loop thread. A worker thread does
 * engine_build (fresh state, config, scripts compiled: nothing shared);
 * it wakes the loop through an eventfd, and the loop runs engine_install
 * (journal-side start, swap) between two events. A request made while a
 * build runs is answered by one more build after it, however many came. */
#ifndef ATSF_RELOAD_H
#define ATSF_RELOAD_H

#include "engine.h"

struct reload;

/* NULL when the wakeup eventfd cannot be made. */
struct reload *reload_new(struct engine *e);
/* Waits for a build in flight and drops it; waiters are not called. */
void reload_free(struct reload *r);
/* Asks for a build; done (may be NULL) runs on the loop with its result. */
void reload_request(struct reload *r, engine_reload_fn done, void *arg);

#endif
