/* lstate: Lua states with a memory cap and an instruction budget, and the
 * tasks (coroutines) that run in them. See lstate.h.
 *
 * Limits apply to script slices only: lstate_slice(st, who) with a non-empty
 * `who` starts one (the runtime does it right before it calls script code,
 * and ends it with an empty `who`). A slice has an instruction budget, a wall
 * clock (SLICE_WALL_MS: C functions the count hook cannot see), and the
 * memory cap. Outside slices nothing is refused, so C code that pushes
 * values outside a protected call can never hit the cap and panic. Each task
 * keeps the slice it yielded in, and gets it back with a fresh budget when
 * it resumes (a slice is the work between two yields). The Lua module
 * "lstate" (bottom of this file) lets the runtime's Lua wrappers charge C
 * work to the slice (scriptenv.lua) and read why a slice was stopped. */
#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "lstate.h"
#include "luamod.h"
#include "util.h"

#define HOOK_STEP 1000
#define SLICE_WALL_MS 2000
/* Allocations this big are refused once the slice is past its wall clock:
 * copies of big strings are where slow C work hides. */
#define BIG_ALLOC (64u << 10)
/* Chunk names of runtime code (embedded modules) start with this marker; a
 * kill is raised only in frames that are not runtime code. */
#define RUNTIME_MARK "@[atsflow]"

int luaopen_atsflow_host(lua_State *L);
static int luaopen_lstate(lua_State *L);

/* What lstate.h does not show: every struct lstate and struct task is
 * allocated here with room for these. */
struct lstate_ext {
    struct lstate st;    /* first: lstate_of() points here */
    int64_t slice_start; /* util_mono_ms() when the slice began */
    const char *why;     /* "budget", "time" or "memory": what stopped it */
};

struct task_ext {
    struct task t; /* first: task_of() points here */
    char who[sizeof(((struct lstate *)0)->who)]; /* the slice it yielded in */
};

/* The slice saved around a nested entry into Lua. */
struct slice_save {
    char who[sizeof(((struct lstate *)0)->who)];
    long used;
    int killed;
    int64_t start;
    const char *why;
};

static struct lstate_ext *ext(struct lstate *st)
{
    return (struct lstate_ext *)st;
}

static int in_slice(const struct lstate *st)
{
    return st->who[0] != '\0';
}

static int past_wall(struct lstate *st)
{
    return util_mono_ms() - ext(st)->slice_start > SLICE_WALL_MS;
}

/* Refuses growth past the cap, and big growth once the wall clock is spent,
 * inside script slices only (a refusal is "not enough memory" for Lua). */
static int refused(struct lstate *st, size_t grow)
{
    if (!in_slice(st))
        return 0;
    if (st->mem_cap && st->mem_used + grow > st->mem_cap) {
        ext(st)->why = "memory";
        return 1;
    }
    if (grow >= BIG_ALLOC && st->budget > 0 && past_wall(st)) {
        ext(st)->why = "time";
        return 1;
    }
    return 0;
}

static void *cap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lstate *st = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        st->mem_used -= old;
        return NULL;
    }
    if (nsize > old && refused(st, nsize - old))
        return NULL;
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    st->mem_used = st->mem_used - old + nsize;
    if (st->mem_used > st->mem_peak)
        st->mem_peak = st->mem_used;
    return p;
}

struct lstate *lstate_of(lua_State *L)
{
    struct lctx *c = *(struct lctx **)lua_getextraspace(L);
    return c ? c->st : NULL;
}

struct task *task_of(lua_State *L)
{
    struct lctx *c = *(struct lctx **)lua_getextraspace(L);
    if (!c || c->kind != LCTX_TASK)
        return NULL;
    struct task *t = (struct task *)c;
    return t->co == L ? t : NULL;
}

static void budget_hook(lua_State *L, lua_Debug *ar);

static void arm(lua_State *L, int every)
{
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, every);
}

static void stop_slice(struct lstate *st, lua_State *L, const char *why)
{
    st->killed = 1;
    ext(st)->why = why;
    arm(L, 1);
    if (st->current)
        arm(st->current->co, 1);
}

/* Raised at the script's own line (ar: the running function). */
static void raise_kill(lua_State *L, lua_Debug *ar, struct lstate *st)
{
    lua_getinfo(L, "l", ar);
    if (ext(st)->why && strcmp(ext(st)->why, "time") == 0)
        lua_pushfstring(L, "%s:%d: time limit exceeded (%d ms) in %s", ar->short_src,
                        ar->currentline, SLICE_WALL_MS, st->who);
    else
        lua_pushfstring(L, "%s:%d: instruction budget exceeded (%I instructions) in %s",
                        ar->short_src, ar->currentline, (lua_Integer)st->budget, st->who);
    lua_error(L);
}

/* Once a slice is spent the hook fires on every instruction and raises in
 * every script frame, so pcall/xpcall/coroutines cannot swallow it. Runtime
 * frames are let through (the engine must record the failure) but do not
 * disarm it: a script calling runtime code, e.g. as an xpcall handler, gets
 * the error back as soon as it runs again. Only a new slice disarms. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    struct lstate *st = lstate_of(L);
    int every = lua_gethookcount(L);
    if (!in_slice(st) || st->budget <= 0) {
        if (every != HOOK_STEP)
            arm(L, HOOK_STEP);
        return;
    }
    if (!st->killed) {
        st->slice_used += every;
        if (st->slice_used > st->budget)
            stop_slice(st, L, "budget");
        else if (past_wall(st))
            stop_slice(st, L, "time");
        else {
            if (every != HOOK_STEP) /* armed by a slice that has ended */
                arm(L, HOOK_STEP);
            return;
        }
    }
    lua_getinfo(L, "S", ar);
    if (strncmp(ar->source, RUNTIME_MARK, strlen(RUNTIME_MARK)) == 0)
        return;
    if (every != 1) /* a coroutine resumed after the kill */
        arm(L, 1);
    raise_kill(L, ar, st);
}

struct lstate *lstate_new(struct host *h, size_t mem_cap, long budget, char **err)
{
    struct lstate *st = &((struct lstate_ext *)xcalloc(1, sizeof(struct lstate_ext)))->st;
    st->ctx = (struct lctx){LCTX_STATE, st};
    st->host = h;
    st->budget = budget;
    st->L = lua_newstate(cap_alloc, st);
    if (!st->L) {
        *err = xstrdup("cannot create a Lua state (out of memory)");
        free(st);
        return NULL;
    }
    *(struct lctx **)lua_getextraspace(st->L) = &st->ctx;
    luaL_openlibs(st->L);
    luamod_open(st->L);
    luaL_requiref(st->L, "host", luaopen_atsflow_host, 0); // host
    lua_pop(st->L, 1);
    luaL_getsubtable(st->L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE); // preload
    lua_pushcfunction(st->L, luaopen_lstate);                       // preload fn
    lua_setfield(st->L, -2, "lstate");
    lua_pop(st->L, 1);
    st->mem_cap = mem_cap; /* only after the libraries are in */
    st->module_ref = LUA_NOREF;
    arm(st->L, HOOK_STEP);
    return st;
}

/* Drops st's tasks from the host's queue of tasks not started yet: a state
 * closed right after it spawned (a test world closed as a webhook commits)
 * must not leave freed tasks for ready_drain. */
static void unqueue_tasks(struct lstate *st)
{
    struct host *h = st->host;
    struct task **pp = &h->ready_head;
    h->ready_tail = NULL;
    while (*pp) {
        if ((*pp)->ctx.st == st) {
            *pp = (*pp)->next;
        } else {
            h->ready_tail = *pp;
            pp = &(*pp)->next;
        }
    }
}

/* What belongs to the loop: st's queued and live tasks. */
static void drop_tasks(struct lstate *st)
{
    unqueue_tasks(st);
    while (st->live) {
        struct task *t = st->live;
        st->live = t->lnext;
        free(t);
    }
}

static void close_state(struct lstate *st)
{
    lua_close(st->L); /* the allocator still counts into st */
    free(st->version);
    free(st);
}

void lstate_free(struct lstate *st)
{
    if (!st)
        return;
    drop_tasks(st);
    close_state(st);
}

void lstate_close(struct lstate *st)
{
    lstate_free(st);
}

/* A state being closed off the loop. */
struct lstate_closer {
    pthread_t thread;
    struct lstate *st;
    struct lstate_closer *next;
};

static void *closer_main(void *arg)
{
    util_background_thread();
    close_state(((struct lstate_closer *)arg)->st);
    return NULL;
}

static void retired_unlink(struct lstate *st)
{
    if (st->rprev)
        st->rprev->rnext = st->rnext;
    else if (st->host->retired == st)
        st->host->retired = st->rnext;
    if (st->rnext)
        st->rnext->rprev = st->rprev;
    st->rprev = st->rnext = NULL;
}

void lstate_reap(struct host *h, int final)
{
    while (final && h->retired) {
        struct lstate *st = h->retired;
        retired_unlink(st);
        lstate_free(st);
    }
    for (struct lstate_closer **pp = &h->closing; *pp;) {
        struct lstate_closer *c = *pp;
        if (final ? pthread_join(c->thread, NULL) != 0
                  : pthread_tryjoin_np(c->thread, NULL) != 0) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        free(c);
    }
}

/* lua_close of a script version frees every object it holds, milliseconds
 * for a big set: a retired one is closed on a thread of its own. Nothing
 * runs there but finalizers, and none touches the loop: scripts cannot set
 * __gc, the runtime's own userdata (cjson's) only free memory. */
static void free_retired(struct lstate *st)
{
    struct host *h = st->host;
    retired_unlink(st);
    drop_tasks(st);
    lstate_reap(h, 0);
    struct lstate_closer *c = xcalloc(1, sizeof *c);
    c->st = st;
    int rc = util_thread_start(&c->thread, closer_main, c);
    if (rc != 0) {
        free(c);
        close_state(st);
        return;
    }
    c->next = h->closing;
    h->closing = c;
}

void lstate_retire(struct lstate *st)
{
    st->retired = 1;
    if (st->tasks == 0 && st->holds == 0) {
        free_retired(st);
        return;
    }
    st->rnext = st->host->retired;
    if (st->rnext)
        st->rnext->rprev = st;
    st->host->retired = st;
}

void lstate_hold(struct lstate *st)
{
    st->holds++;
}

void lstate_release(struct lstate *st)
{
    if (--st->holds == 0 && st->retired && st->tasks == 0)
        free_retired(st);
}

/* A fresh slice for `who` ("" = runtime code, no limits). Threads armed
 * for a kill re-arm themselves at their next hook. */
void lstate_slice(struct lstate *st, const char *who)
{
    st->slice_used = 0;
    st->killed = 0;
    ext(st)->slice_start = util_mono_ms();
    ext(st)->why = NULL;
    snprintf(st->who, sizeof st->who, "%s", who ? who : "");
    if (st->current)
        arm(st->current->co, HOOK_STEP);
}

static void slice_save(struct lstate *st, struct slice_save *s)
{
    memcpy(s->who, st->who, sizeof s->who);
    s->used = st->slice_used;
    s->killed = st->killed;
    s->start = ext(st)->slice_start;
    s->why = ext(st)->why;
}

static void slice_restore(struct lstate *st, const struct slice_save *s)
{
    memcpy(st->who, s->who, sizeof st->who);
    st->slice_used = s->used;
    st->killed = s->killed;
    ext(st)->slice_start = s->start;
    ext(st)->why = s->why;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below the nargs values on top of the stack. */
static int pcall_top(struct lstate *st, int nargs, int nres, char **err)
{
    lua_State *L = st->L;
    int base = lua_gettop(L) - nargs; /* index of the function */
    lua_pushcfunction(L, traceback);  // fn args... tb
    lua_insert(L, base);              // tb fn args...
    struct slice_save outer;
    slice_save(st, &outer);
    lstate_slice(st, ""); /* runtime code until it starts a slice itself */
    int rc = lua_pcall(L, nargs, nres, base);
    slice_restore(st, &outer);
    lua_remove(L, base); // results... | msg
    if (rc == LUA_OK)
        return 0;
    *err = xstrdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "error object is not a string");
    lua_pop(L, 1);
    return -1;
}

int lstate_boot(struct lstate *st, const char *module, char **err)
{
    lua_State *L = st->L;
    size_t cap = st->mem_cap;
    st->mem_cap = 0;             /* booting is runtime code, never capped */
    lua_getglobal(L, "require"); // require
    lua_pushstring(L, module);   // require name
    int rc = pcall_top(st, 1, 1, err);
    st->mem_cap = cap;
    if (rc < 0)
        return -1;
    st->module_ref = luaL_ref(L, LUA_REGISTRYINDEX); // (module table kept)
    return 0;
}

/* Pushes module[fname] and moves it below the nargs values on top. */
static void push_entry(struct lstate *st, lua_State *L, const char *fname, int nargs)
{
    lua_rawgeti(st->L, LUA_REGISTRYINDEX, st->module_ref); // args M
    lua_getfield(st->L, -1, fname);                        // args M fn
    lua_remove(st->L, -2);                                 // args fn
    lua_insert(st->L, -(nargs + 1));                       // fn args
    (void)L;
}

int lstate_call(struct lstate *st, const char *fname, int nargs, int nres, char **err)
{
    push_entry(st, st->L, fname, nargs);
    return pcall_top(st, nargs, nres, err);
}

static void ready_drain(evutil_socket_t fd, short what, void *arg);

struct task *lstate_spawn(struct lstate *st, const char *fname, int nargs)
{
    lua_State *L = st->L;
    push_entry(st, L, fname, nargs);          // fn args
    lua_State *co = lua_newthread(L);         // fn args co
    struct task *t = &((struct task_ext *)xcalloc(1, sizeof(struct task_ext)))->t;
    t->ctx = (struct lctx){LCTX_TASK, st};
    t->co = co;
    t->id = ++st->next_task_id;
    t->ref = luaL_ref(L, LUA_REGISTRYINDEX);  // fn args
    t->lnext = st->live;
    if (st->live)
        st->live->lprev = t;
    st->live = t;
    *(struct lctx **)lua_getextraspace(co) = &t->ctx;
    lua_xmove(L, co, nargs + 1);              // (moved to co)
    st->tasks++;
    st->host->tasks_started++;
    t->wait = "start";
    struct host *h = st->host;
    if (!h->ready_ev)
        h->ready_ev = event_new(h->base, -1, 0, ready_drain, h);
    lua_pushinteger(co, nargs); /* remembered until the first resume */
    if (h->ready_tail)
        h->ready_tail->next = t;
    else
        h->ready_head = t;
    h->ready_tail = t;
    event_active(h->ready_ev, 0, 0);
    return t;
}

/* Starts the tasks spawned since the last drain, outside any other task. */
static void ready_drain(evutil_socket_t fd, short what, void *arg)
{
    struct host *h = arg;
    struct task *t = h->ready_head;
    h->ready_head = h->ready_tail = NULL;
    while (t) {
        struct task *next = t->next;
        t->next = NULL;
        int nargs = (int)lua_tointeger(t->co, -1);
        lua_pop(t->co, 1);
        task_resume(t, nargs);
        t = next;
    }
}

static void task_finish(struct task *t)
{
    struct lstate *st = t->ctx.st;
    luaL_unref(st->L, LUA_REGISTRYINDEX, t->ref);
    if (t->lprev)
        t->lprev->lnext = t->lnext;
    else
        st->live = t->lnext;
    if (t->lnext)
        t->lnext->lprev = t->lprev;
    free(t);
    st->tasks--;
    if (st->retired && st->tasks == 0 && st->holds == 0)
        free_retired(st);
}

static void task_failed(struct task *t, const char *why)
{
    struct lstate *st = t->ctx.st;
    luaL_traceback(st->L, t->co, why, 0); // tb
    log_msg(LOG_ERROR, "task failed", "error", lua_tostring(st->L, -1));
    lua_pop(st->L, 1);
}

void task_resume(struct task *t, int nargs)
{
    struct lstate *st = t->ctx.st;
    struct task_ext *te = (struct task_ext *)t;
    struct task *prev = st->current;
    struct slice_save outer;
    slice_save(st, &outer);
    st->current = t;
    lstate_slice(st, te->who); /* the slice it yielded in, with a fresh budget */
    t->wait = NULL;
    int nres = 0;
    int rc = lua_resume(t->co, NULL, nargs, &nres);
    memcpy(te->who, st->who, sizeof te->who);
    slice_restore(st, &outer);
    st->current = prev;
    if (rc == LUA_YIELD && t->wait) {
        lua_pop(t->co, nres);
        return;
    }
    if (rc == LUA_YIELD)
        task_failed(t, "coroutine.yield called outside a coroutine the script created");
    else if (rc != LUA_OK)
        task_failed(t, lua_tostring(t->co, -1) ? lua_tostring(t->co, -1) : "error");
    task_finish(t);
}

/* ---- the "lstate" module (runtime Lua only; scripts cannot require) ---- */

/* charge(n) -> within: counts n instructions of C work against the script
 * slice; false once the slice is spent (the next script instruction raises). */
static int l_lstate_charge(lua_State *L)
{
    struct lstate *st = lstate_of(L);
    lua_Integer n = luaL_checkinteger(L, 1);
    if (!in_slice(st) || st->budget <= 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (!st->killed && n > 0) {
        if (n > (lua_Integer)(st->budget - st->slice_used))
            stop_slice(st, L, "budget");
        else
            st->slice_used += (long)n;
    }
    lua_pushboolean(L, !st->killed);
    return 1;
}

/* active() -> whether a script slice is running (cheap: wrappers ask first) */
static int l_lstate_active(lua_State *L)
{
    lua_pushboolean(L, in_slice(lstate_of(L)));
    return 1;
}

/* info() -> { who, killed, why, budget, used, wall_ms, mem_cap, mem_used }
 * (who is nil outside a script slice). */
static int l_lstate_info(lua_State *L)
{
    struct lstate *st = lstate_of(L);
    lua_createtable(L, 0, 8); // t
    if (in_slice(st)) {
        lua_pushstring(L, st->who);
        lua_setfield(L, -2, "who");
    }
    lua_pushboolean(L, st->killed);
    lua_setfield(L, -2, "killed");
    if (ext(st)->why) {
        lua_pushstring(L, ext(st)->why);
        lua_setfield(L, -2, "why");
    }
    lua_pushinteger(L, st->budget);
    lua_setfield(L, -2, "budget");
    lua_pushinteger(L, st->slice_used);
    lua_setfield(L, -2, "used");
    lua_pushinteger(L, SLICE_WALL_MS);
    lua_setfield(L, -2, "wall_ms");
    lua_pushinteger(L, (lua_Integer)st->mem_cap);
    lua_setfield(L, -2, "mem_cap");
    lua_pushinteger(L, (lua_Integer)st->mem_used);
    lua_setfield(L, -2, "mem_used");
    return 1;
}

static const luaL_Reg lstate_funcs[] = {
    {"active", l_lstate_active}, /* active() -> in a script slice */
    {"charge", l_lstate_charge}, /* charge(n) -> within budget */
    {"info", l_lstate_info},     /* info() -> the current slice */
    {NULL, NULL},
};

static int luaopen_lstate(lua_State *L)
{
    luaL_newlib(L, lstate_funcs);
    return 1;
}
