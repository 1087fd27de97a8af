/* luamod: embedded module searcher and C module preloads (see luamod.h). */
#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "luamod.h"

/* lua-cjson exports this entry but its header does not declare it. */
int luaopen_cjson_safe(lua_State *L);

const char *luamod_source(const char *name, size_t *len, const char **path)
{
    for (const struct embedded_file *f = embedded_files; f->name; f++) {
        if (strcmp(f->name, name) == 0) {
            *len = f->len;
            if (path)
                *path = f->path;
            return f->data;
        }
    }
    return NULL;
}

/* package.searchers entry: finds `name` among the embedded sources. */
static int searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    size_t len;
    const char *path;
    const char *src = luamod_source(name, &len, &path);
    if (!src) {
        lua_pushfstring(L, "no embedded module '%s'", name);
        return 1;
    }
    lua_pushfstring(L, "@[atsflow]/%s", path); // name chunkname
    const char *dev = getenv("ATSFLOW_LUA_PATH");
    if (dev && *dev) {
        /* development override: load from the source tree when present */
        const char *file = lua_pushfstring(L, "%s/%s", dev, path); // name chunk file
        if (luaL_loadfilex(L, file, "t") == LUA_OK) {
            lua_pushstring(L, path);
            return 2;
        }
        lua_pop(L, 2); // name chunkname
    }
    if (luaL_loadbufferx(L, src, len, lua_tostring(L, -1), "t") != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, path); // name chunkname fn path
    return 2;
}

static int open_cjson_safe(lua_State *L)
{
    return luaopen_cjson_safe(L);
}

void luamod_open(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE); // preload
    lua_pushcfunction(L, luaopen_cjson);
    lua_setfield(L, -2, "cjson");
    lua_pushcfunction(L, open_cjson_safe);
    lua_setfield(L, -2, "cjson.safe");
    lua_pushcfunction(L, luaopen_atsflow_crypto);
    lua_setfield(L, -2, "crypto");
    lua_pop(L, 1);

    lua_getglobal(L, "package");                 // package
    lua_getfield(L, -1, "searchers");            // package searchers
    lua_pushcfunction(L, searcher);              // package searchers fn
    lua_rawseti(L, -2, 2);                       // replaces the path searcher
    lua_pushnil(L);
    lua_rawseti(L, -2, 3);                       // no C path searchers
    lua_pushnil(L);
    lua_rawseti(L, -2, 4);
    lua_pop(L, 2);
}
