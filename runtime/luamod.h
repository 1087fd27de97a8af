/* luamod: makes the embedded Lua modules (runtime/lua/NAME.lua, adapters/NAME.lua)
 * and the host's C modules loadable with `require` in a host-side Lua state.
 * Script sandboxes never see `require`; only runtime code does. */
#ifndef ATSF_LUAMOD_H
#define ATSF_LUAMOD_H

#include <lua.h>

/* Installs a package searcher for embedded modules and preloads the C modules
 * "crypto" (l_crypto.c), "cjson" and "cjson.safe". When the environment
 * variable ATSFLOW_LUA_PATH names a folder, sources there override embedded
 * ones (development only). */
void luamod_open(lua_State *L);

/* Finds an embedded module's source; NULL when there is none. */
const char *luamod_source(const char *name, size_t *len, const char **path);

/* C modules (each in its own l_*.c). */
int luaopen_atsflow_crypto(lua_State *L);
/* host.bucket (l_bucket.c), registered with the host module. */
int l_host_bucket(lua_State *L);

#endif
