/* l_bucket: host.bucket(name, rate, burst) -> the shared token bucket of an
 * upstream as a userdata whose fields (rate, burst, tokens, at,
 * blocked_until) read and write the host's numbers (bucket.h), so the code
 * of upstream.lua indexes it like the table it used to be. */
#include <lauxlib.h>
#include <string.h>

#include "bucket.h"
#include "host.h"
#include "lstate.h"
#include "luamod.h"
#include "util.h"

#define BUCKET_MT "atsflow.bucket"

static struct bucket *check(lua_State *L)
{
    return *(struct bucket **)luaL_checkudata(L, 1, BUCKET_MT);
}

/* Field k of b as a pointer to its double or int64_t; NULL if unknown. */
static void *field(struct bucket *b, const char *k, int *is_int)
{
    *is_int = 0;
    if (strcmp(k, "rate") == 0)
        return &b->rate;
    if (strcmp(k, "burst") == 0)
        return &b->burst;
    if (strcmp(k, "tokens") == 0)
        return &b->tokens;
    *is_int = 1;
    if (strcmp(k, "at") == 0)
        return &b->at;
    if (strcmp(k, "blocked_until") == 0)
        return &b->blocked_until;
    return NULL;
}

static int l_index(lua_State *L)
{
    int is_int;
    void *p = field(check(L), luaL_checkstring(L, 2), &is_int);
    if (!p)
        return 0;
    if (is_int)
        lua_pushinteger(L, *(int64_t *)p);
    else
        lua_pushnumber(L, *(double *)p);
    return 1;
}

static int l_newindex(lua_State *L)
{
    int is_int;
    const char *k = luaL_checkstring(L, 2);
    void *p = field(check(L), k, &is_int);
    if (!p)
        return luaL_error(L, "bucket has no field '%s'", k);
    if (is_int)
        *(int64_t *)p = (int64_t)luaL_checknumber(L, 3);
    else
        *(double *)p = luaL_checknumber(L, 3);
    return 0;
}

int l_host_bucket(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    double rate = luaL_checknumber(L, 2), burst = luaL_checknumber(L, 3);
    struct host *h = lstate_of(L)->host;
    struct bucket *b = buckets_get(&h->buckets, name, rate, burst, util_mono_ms());
    *(struct bucket **)lua_newuserdatauv(L, sizeof b, 0) = b; // ud
    if (luaL_newmetatable(L, BUCKET_MT)) {                    // ud mt
        lua_pushcfunction(L, l_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_newindex);
        lua_setfield(L, -2, "__newindex");
    }
    lua_setmetatable(L, -2); // ud
    return 1;
}
