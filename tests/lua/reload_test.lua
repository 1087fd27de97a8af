-- Reload (spec semantics.md "Hot reload"): a new version compiles off the
-- event loop, where nothing shared is reachable (runtime/l_host.c refuses
-- those host functions while a state compiles); POST /admin/reload answers
-- once the build is in.

local ONE = [[
automation { name = "one", trigger = interview_finished {}, action = function(e) store.set("one", true) end }
]]

local function reload(w)
    return require("host").http({ method = "POST", url = w.url .. "/admin/reload",
                                  headers = { authorization = "Bearer test-admin-token" } })
end

local function write(path, text)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
end

test("POST /admin/reload answers with the version the build swapped in", function()
    local w = world { sources = { ONE } }
    local before = json.decode(reload(w).body).version
    write(w.dir .. "/scripts/950_two.lua", (ONE:gsub('"one"', '"two"')))
    local res = reload(w)
    eq(res.status, 200, res.body)
    local v = json.decode(res.body).version
    ok(v ~= before, "a new version")
    local st = json.decode(require("host").http({ method = "GET", url = w.url .. "/status" }).body)
    eq(st.scripts_version, v)
    eq(#st.automations, 2)
end)

test("reading the store at load time is a load error that says why", function()
    local w = world { sources = { ONE } }
    local v = json.decode(reload(w).body).version
    write(w.dir .. "/scripts/950_store.lua", 'local seen = store.get("seen")\n')
    local res = reload(w)
    eq(res.status, 422, res.body)
    ok(res.body:find("950_store%.lua:1: host%.journal is not available while scripts load"), res.body)
    ok(res.body:find("reload failed; version " .. v .. " stays active", 1, true), res.body)
end)

test("logging and the clock work at load time", function()
    local w = world { sources = { ONE } }
    write(w.dir .. "/scripts/950_log.lua", 'log.info("loading at %d", now())\nprint("loaded")\n')
    local res = reload(w)
    eq(res.status, 200, res.body)
end)
