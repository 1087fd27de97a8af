-- testkit: `atsflow test`. Runs Lua test files; each test gets fresh state.
-- Adapter tests bind an adapter to a scripted responder (docs/testing.md);
-- world tests start the real engine with the built-in sandbox ATS and
-- Coderbyte on loopback, on a virtual clock, and assert on the exact
-- requests the automations made.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"
local util = require "util"
local upstream = require "upstream"

local M = {}

local function fmt(v)
    local ok, s = pcall(cjson.encode, v)
    return ok and s or tostring(v)
end

local function fail(msg, level) error({ test_failure = msg }, (level or 1) + 1) end

local function where(level)
    local info = debug.getinfo(level + 1, "Sl")
    return info and (info.short_src .. ":" .. info.currentline) or "?"
end

local assertions = {}
function assertions.eq(actual, expected, msg)
    if not util.same(actual, expected) then
        fail(("%s: %s\n      expected: %s\n      actual:   %s"):format(where(2), msg or "values differ",
            fmt(expected), fmt(actual)))
    end
end
function assertions.ok(v, msg)
    if not v then fail(("%s: %s"):format(where(2), msg or "expected a truthy value")) end
    return v
end
function assertions.raises(fn, pattern)
    local ok, e = pcall(fn)
    if ok then fail(where(2) .. ": expected an error") end
    local s = type(e) == "table" and e.message
        and (e.message .. (e.retryable and " [retryable]" or " [permanent]"))
        or (type(e) == "table" and fmt(e)) or tostring(e)
    if pattern and not s:find(pattern, 1, true) then
        fail(("%s: error %q does not contain %q"):format(where(2), s, pattern))
    end
    return s
end

-- ------------------------------------------------------------ adapters

local function adapter_for_test(root)
    return function(name, cfg, opts)
        opts = opts or {}
        local mod = require("adapters." .. name)
        local obj = { requests = {}, sleeps = {} }
        local now = opts.now or 1764324000000
        local c = util.deepcopy(cfg or {})
        for k, v in pairs(mod.config and mod.config.defaults or {}) do if c[k] == nil then c[k] = v end end
        local ctx = upstream.ctx(name, mod, c, {
            no_bucket = true,
            now = function() return now end,
            sleep = function(ms) obj.sleeps[#obj.sleeps + 1] = ms; now = now + ms end,
            send = function(wire)
                local rec = { method = wire.method, url = wire.url, headers = wire.headers,
                              body = wire.body, json = wire.body and json.decode(wire.body) or nil }
                obj.requests[#obj.requests + 1] = rec
                if not opts.responder then fail("unexpected request " .. wire.method .. " " .. wire.url) end
                local res = opts.responder(rec) or { status = 599 }
                return { status = res.status or 200, headers = res.headers or {}, body = res.body or
                         (res.json ~= nil and cjson.encode(res.json)) or "" }
            end,
        })
        obj.ctx = ctx
        obj.advance = function(ms) now = now + ms end
        for k, v in pairs(mod) do
            if type(v) == "function" then obj[k] = function(...) return v(ctx, ...) end end
        end
        return obj
    end
end

-- ------------------------------------------------------------ worlds

local worlds = {}
local MAX_ADVANCE_STEPS = 100000

local function write(path, text)
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
end

local function world_config(dir, opts)
    return ([[
log_level = %q
listen = "127.0.0.1:0"
database = %q
scripts = %q
admin_token = "test-admin-token"
ats = { sandbox = {} }
coderbyte = { sandbox = true, likely_counts_as_cheating = %s, report_wait = %q }
limits = { action_attempts = %d, retry_base = "1s" }
]]):format(M.log_level or "error", dir .. "/journal.db", dir .. "/scripts", tostring(opts.likely_counts_as_cheating or false),
        opts.report_wait or "30m", opts.action_attempts or 10)
end

local function new_world(root)
    return function(opts)
        opts = opts or {}
        local dir = os.tmpname()
        os.remove(dir)
        assert(os.execute("mkdir -p '" .. dir .. "/scripts'"))
        for i, path in ipairs(opts.scripts or {}) do
            local src = path:sub(1, 1) == "/" and path or (root .. "/" .. path)
            local text = host.read_file(src) or fail("cannot read script " .. src)
            write(("%s/scripts/%02d_%s"):format(dir, i, src:match("[^/]+$")), text)
        end
        for i, text in ipairs(opts.sources or {}) do
            write(("%s/scripts/9%02d_inline.lua"):format(dir, i), text)
        end
        write(dir .. "/atsflow.conf.lua", world_config(dir, opts))
        local url, err = host.engine_open(dir .. "/atsflow.conf.lua")
        if not url then fail("the engine did not start: " .. tostring(err)) end
        host.engine_spawn("recover")
        local w = { url = url, dir = dir }
        worlds[#worlds + 1] = w
        local function call(method, path, body, headers)
            local res, e = host.http({ method = method, url = url .. path, body = body and cjson.encode(body),
                headers = headers or { ["content-type"] = "application/json" } })
            if not res or res.status == 0 then fail(("%s %s failed: %s"):format(method, path, e or res.error)) end
            return res, json.decode(res.body)
        end
        local function ctl(name, body)
            local res, doc = call("POST", "/sandbox/ctl/" .. name, body or {})
            if res.status >= 300 then fail(("sandbox %s answered %d: %s"):format(name, res.status, res.body)) end
            return doc
        end
        function w.seed(data) return ctl("seed", data) end
        function w.move(email, job, stage) return ctl("move", { email = email, job = job, stage = stage }) end
        function w.complete(email, assessment, o)
            local b = { email = email, assessment = assessment }
            for k, v in pairs(o or {}) do b[k] = v end
            return ctl("complete", b)
        end
        function w.scorecard(email, o)
            local b = { email = email }
            for k, v in pairs(o or {}) do b[k] = v end
            return ctl("scorecard", b)
        end
        -- Scripted upstream failures: { { path = "pattern", method?, status
        -- or timeout = true, times?, retry_after?, json? }, … } answer
        -- matching requests first (a time-out never answers).
        function w.faults(rules) return ctl("faults", { rules = rules }) end
        function w.interview(email, id) return ctl("interview", { email = email, interview_id = id }) end
        function w.emit(ev)
            local res = call("POST", "/events", ev, { authorization = "Bearer test-admin-token",
                ["content-type"] = "application/json" })
            if res.status >= 300 then fail("POST /events answered " .. res.status .. ": " .. res.body) end
            return res
        end
        function w.webhook(source, body, headers)
            local res = host.http({ method = "POST", url = url .. "/webhooks/" .. source, body = body, headers = headers or {} })
            return res
        end
        function w.settle() host.idle_wait() end
        -- Fires the due timers in order and settles after each, so the I/O
        -- a timer starts completes at that instant rather than the clock
        -- jumping past its time-out (as atsflow_advance does).
        function w.advance(d)
            local ms = math.tointeger(util.duration_ms(d))
            if not ms or ms < 0 then fail(("advance: expected a duration such as \"10m\", got %s"):format(tostring(d)), 2) end
            local until_ms = host.now() + ms
            host.idle_wait()
            for _ = 1, MAX_ADVANCE_STEPS do
                local due = host.next_due()
                if not due or due > until_ms then
                    host.advance(until_ms - host.now())
                    return host.idle_wait()
                end
                host.advance(math.max(0, due - host.now()))
                host.idle_wait()
            end
            fail("advance: timers keep firing without the clock moving", 2)
        end
        function w.now() return host.now() end
        -- The requests the automations sent to the simulated upstreams;
        -- filter = { method = "POST", path = "pattern" }.
        function w.requests(filter)
            local res = call("GET", "/sandbox/ctl/requests")
            local all = json.decode(res.body) or {}
            local out = {}
            for _, r in ipairs(all) do
                if (not filter or not filter.method or r.method == filter.method)
                    and (not filter or not filter.path or tostring(r.path):find(filter.path)) then
                    out[#out + 1] = r
                end
            end
            return out
        end
        function w.writes()
            local out = {}
            for _, r in ipairs(w.requests()) do if r.method ~= "GET" then out[#out + 1] = r end end
            return out
        end
        function w.show(email) return select(2, call("GET", "/sandbox/ctl/show" .. (email and ("?email=" .. util.urlencode(email)) or ""))) end
        function w.runs(status) return host.journal("runs_list", status, nil, 1000) end
        function w.events(status) return host.journal("events_list", status, 0, 1000) end
        function w.event(id) return host.journal("event_get", id)[1] end
        function w.steps(run_id) return host.journal("steps_of_run", run_id) end
        return w
    end
end

local function close_worlds()
    if #worlds > 0 then host.engine_close() end
    for _, w in ipairs(worlds) do os.execute("rm -rf '" .. w.dir .. "'") end
    worlds = {}
end

-- ------------------------------------------------------------ running

local function test_env(root, file, tests)
    local env = setmetatable({}, { __index = _G })
    for k, v in pairs(assertions) do env[k] = v end
    env.test = function(name, fn) tests[#tests + 1] = { name = name, fn = fn, file = file } end
    env.json = cjson
    env.crypto = require "crypto"
    env.jwt = require "jwt"
    env.stdwebhooks = require "stdwebhooks"
    env.adapter = adapter_for_test(root)
    env.world = new_world(root)
    -- Loads script sources (strings, in order) as `atsflow check` would,
    -- without a catalog; returns { errors, warnings, names }.
    env.load_scripts = function(sources)
        local dir = os.tmpname()
        os.remove(dir)
        assert(os.execute("mkdir -p '" .. dir .. "'"))
        for i, text in ipairs(sources) do write(("%s/%02d.lua"):format(dir, i), text) end
        local set = require("scriptenv").load(dir)
        os.execute("rm -rf '" .. dir .. "'")
        local names = {}
        for _, a in ipairs(set.list) do names[#names + 1] = a.name end
        local errors = {}
        for _, e in ipairs(set.errors) do errors[#errors + 1] = (e:gsub("^.-/(%d%d%.lua)", "%1")) end
        return { errors = errors, warnings = set.warnings, names = names, set = set }
    end
    env.fixture = function(path)
        local data, e = host.read_file(root .. "/tests/fixtures/" .. path)
        if not data then fail("fixture: " .. e) end
        return data
    end
    return env
end

local function find_files(dir)
    local out = {}
    local p = io.popen("find '" .. dir .. "' -name '*_test.lua' 2>/dev/null | sort")
    for line in p:lines() do out[#out + 1] = line end
    p:close()
    return out
end

local function failure_text(e)
    if type(e) == "table" and e.test_failure then return e.test_failure end
    if type(e) == "table" then return e.message or fmt(e) end
    return tostring(e)
end

local function junit(path, results)
    local parts = { '<?xml version="1.0" encoding="UTF-8"?>',
        ('<testsuite name="atsflow" tests="%d" failures="%d">'):format(results.passed + results.failed, results.failed) }
    local function esc(s) return (tostring(s):gsub("[<>&\"]", { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;" })) end
    for _, r in ipairs(results.list) do
        parts[#parts + 1] = ('<testcase classname="%s" name="%s">%s</testcase>'):format(esc(r.file), esc(r.name),
            r.error and ('<failure message="%s"/>'):format(esc(r.error)) or "")
    end
    parts[#parts + 1] = "</testsuite>"
    write(path, table.concat(parts, "\n") .. "\n")
end

function M.main(config, args)
    local files, o = {}, {}
    local i = 1
    while i <= #args do
        local a = args[i]
        if a == "--filter" or a == "--junit" or a == "--results" then o[a:sub(3)] = args[i + 1]; i = i + 1
        elseif a == "--verbose" then o.verbose = true; M.log_level = "info"
        else files[#files + 1] = a end
        i = i + 1
    end
    local root = os.getenv("PWD") or "."
    local expanded = {}
    for _, f in ipairs(#files > 0 and files or { root .. "/tests" }) do
        if f:match("%.lua$") then expanded[#expanded + 1] = f
        else for _, x in ipairs(find_files(f)) do expanded[#expanded + 1] = x end end
    end
    local results = { passed = 0, failed = 0, list = {} }
    for _, file in ipairs(expanded) do
        local tests = {}
        local chunk, e = loadfile(file, "t", test_env(root, file, tests))
        local ok, le = chunk ~= nil, e
        if chunk then ok, le = pcall(chunk) end
        if not ok then
            results.failed = results.failed + 1
            results.list[#results.list + 1] = { file = file, name = "(load)", error = tostring(le) }
            io.stdout:write(("FAIL %s (load): %s\n"):format(file, tostring(le)))
        end
        for _, t in ipairs(tests) do
            if not o.filter or t.name:find(o.filter, 1, true) then
                local tok, te = xpcall(t.fn, function(x)
                    if type(x) == "table" then return x end
                    return debug.traceback(tostring(x), 2)
                end)
                close_worlds()
                local r = { file = file, name = t.name, error = not tok and failure_text(te) or nil }
                results.list[#results.list + 1] = r
                if tok then
                    results.passed = results.passed + 1
                    if o.verbose then io.stdout:write(("ok   %s: %s\n"):format(file:match("[^/]+$"), t.name)) end
                else
                    results.failed = results.failed + 1
                    io.stdout:write(("FAIL %s: %s\n     %s\n"):format(file:match("[^/]+$"), t.name, r.error))
                end
            end
        end
    end
    if o.junit then junit(o.junit, results) end
    if o.results then write(o.results, ("%d %d\n"):format(results.passed, results.failed)) end
    io.stdout:write(("%d passed, %d failed\n"):format(results.passed, results.failed))
    return results.failed == 0 and 0 or 1
end

return M
