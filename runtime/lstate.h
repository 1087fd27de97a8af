/* lstate: one Lua state of the runtime (a script version, or the sandbox
 * simulator) with its memory cap, its instruction budget, and its tasks —
 * coroutines that yield on I/O. task_resume is the only caller of
 * lua_resume; lstate_call is the only synchronous entry from C into Lua. */
#ifndef ATSF_LSTATE_H
#define ATSF_LSTATE_H

#include <lua.h>
#include <stddef.h>

struct host;
struct host_timer;

enum lctx_kind { LCTX_STATE = 0x5354, LCTX_TASK = 0x5441 };

struct lctx {
    int kind;
    struct lstate *st;
};

struct task {
    struct lctx ctx; /* first: the coroutine's extra space points here */
    lua_State *co;
    int ref;         /* keeps the thread alive */
    const char *wait; /* why it is suspended (NULL while running) */
    struct host_timer *deadline; /* its HTTP request's, on the virtual clock */
    long timeout_ms;             /* that request's time-out */
    long id;
    struct task *next; /* ready queue */
    struct task *lprev, *lnext; /* the state's live tasks */
};

struct lstate {
    struct lctx ctx; /* first: the main thread's extra space points here */
    lua_State *L;
    struct host *host;
    size_t mem_used, mem_cap, mem_peak;
    long budget, slice_used;
    int killed;
    int module_ref;   /* table returned by the boot module */
    struct task *current;
    char who[160];    /* automation (and file:line) the current slice runs for */
    int tasks;        /* live tasks */
    int retired;      /* closed when the last task ends (and no hold is left) */
    int holds;        /* lstate_hold: references from outside its tasks */
    int off_loop;     /* compiling, maybe on a worker thread: host functions
                         that reach loop objects raise (l_host.c) */
    struct lstate *rprev, *rnext; /* host's retired states with live tasks */
    char *version;
    long next_task_id;
    struct task *live; /* every live task, freed with the state */
};

struct lstate *lstate_new(struct host *h, size_t mem_cap, long budget, char **err);
void lstate_free(struct lstate *st);
/* Requires `module` and keeps the table it returns as the entry points. */
int lstate_boot(struct lstate *st, const char *module, char **err);
/* Calls module[fname] with the nargs values on top of the stack; leaves nres
 * results. On error returns -1 with *err (message with traceback). */
int lstate_call(struct lstate *st, const char *fname, int nargs, int nres, char **err);
/* Starts module[fname](args...) as a task on the next loop turn, outside
 * whatever is running now. */
struct task *lstate_spawn(struct lstate *st, const char *fname, int nargs);
/* Resumes a suspended task with nargs values pushed on its stack. */
void task_resume(struct task *t, int nargs);
/* The task running on thread L, or NULL when L is not a task's main thread. */
struct task *task_of(lua_State *L);
struct lstate *lstate_of(lua_State *L);
/* Closes st now, with whatever tasks it still has (they never resume). */
void lstate_close(struct lstate *st);
/* Marks st retired; frees it when no task is alive, closing the Lua state
 * on a thread of its own (lstate_reap joins those threads). */
void lstate_retire(struct lstate *st);
/* Joins the threads closing retired states that are done; at the end
 * (final) closes the retired states whose tasks never ended, and waits for
 * every thread. */
void lstate_reap(struct host *h, int final);
/* Keeps a retired st alive while something outside its tasks (runq) will
 * still start work in it; release frees it when it was the last reference. */
void lstate_hold(struct lstate *st);
void lstate_release(struct lstate *st);
/* Starts a new instruction slice for `who` (an automation's name and
 * file:line); limits apply only inside a slice, and "" ends it. */
void lstate_slice(struct lstate *st, const char *who);

#endif
