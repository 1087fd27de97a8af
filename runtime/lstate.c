/* lstate: Lua states with a memory cap and an instruction budget, and the
 * tasks (coroutines) that run in them. See lstate.h. */
#include <event2/event.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "lstate.h"
#include "luamod.h"
#include "util.h"

#define HOOK_STEP 1000
/* Chunk names of runtime code (embedded modules) start with this marker; a
 * budget kill is raised only in frames that are not runtime code. */
#define RUNTIME_MARK "@[atsflow]"

int luaopen_atsflow_host(lua_State *L);

static void *cap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lstate *st = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        st->mem_used -= old;
        return NULL;
    }
    if (st->mem_cap && nsize > old && st->mem_used + (nsize - old) > st->mem_cap)
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

/* Once the budget is spent the hook fires on every instruction and raises
 * in every script frame, so pcall/xpcall/coroutines cannot swallow it; the
 * first runtime frame that sees it (the engine's own pcall) disarms it. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    struct lstate *st = lstate_of(L);
    if (!st->killed) {
        st->slice_used += HOOK_STEP;
        if (st->budget <= 0 || st->slice_used <= st->budget)
            return;
        st->killed = 1;
        arm(L, 1);
        if (st->current)
            arm(st->current->co, 1);
    }
    lua_getinfo(L, "S", ar);
    if (strncmp(ar->source, RUNTIME_MARK, strlen(RUNTIME_MARK)) == 0) {
        st->killed = 0;
        arm(L, HOOK_STEP);
        if (st->current)
            arm(st->current->co, HOOK_STEP);
        return;
    }
    luaL_error(L, "instruction budget exceeded (%I instructions) in %s", (lua_Integer)st->budget,
               st->who[0] ? st->who : "script");
}

struct lstate *lstate_new(struct host *h, size_t mem_cap, long budget, char **err)
{
    struct lstate *st = xcalloc(1, sizeof *st);
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
    st->mem_cap = mem_cap; /* only after the libraries are in */
    st->module_ref = LUA_NOREF;
    arm(st->L, HOOK_STEP);
    return st;
}

void lstate_free(struct lstate *st)
{
    if (!st)
        return;
    while (st->live) {
        struct task *t = st->live;
        st->live = t->lnext;
        free(t);
    }
    lua_close(st->L);
    free(st->version);
    free(st);
}

void lstate_close(struct lstate *st)
{
    lstate_free(st);
}

void lstate_retire(struct lstate *st)
{
    st->retired = 1;
    if (st->tasks == 0)
        lstate_free(st);
}

/* A fresh slice: a kill left armed by an earlier slice must not leak into it. */
static void reset_budget(struct lstate *st)
{
    st->slice_used = 0;
    if (st->killed) {
        st->killed = 0;
        arm(st->L, HOOK_STEP);
        if (st->current)
            arm(st->current->co, HOOK_STEP);
    }
}

void lstate_slice(struct lstate *st, const char *who)
{
    reset_budget(st);
    snprintf(st->who, sizeof st->who, "%s", who ? who : "");
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
    reset_budget(st);
    int rc = lua_pcall(L, nargs, nres, base);
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
    struct task *t = xcalloc(1, sizeof *t);
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
    if (st->retired && st->tasks == 0)
        lstate_free(st);
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
    struct task *prev = st->current;
    st->current = t;
    reset_budget(st);
    t->wait = NULL;
    int nres = 0;
    int rc = lua_resume(t->co, NULL, nargs, &nres);
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
