-- The sandbox (spec semantics.md "Sandbox", STYLE "Sandbox and limits"):
-- scripts that try to escape it or to exhaust the host. Runtime probes run
-- as an action or a condition of the automation "escape probe" in a real
-- world next to a healthy automation in another file; each must fail with a
-- clear error recorded on the run (or the event's decisions) that names the
-- automation and the script's file:line, and the healthy automation must
-- still match and run. Load-time probes check the load errors.

local PROBE = "escape probe"

local HEALTHY = [[
automation {
    name = "healthy",
    trigger = interview_finished {},
    conditions = { function(e)
        return e.interview.id == "i-1" and ("abc"):upper() == "ABC" and string.format("%d", 7) == "7"
            and ("  padded  "):match("^%s*(.-)%s*$") == "padded"
    end },
    action = function(e)
        local parts = {}
        for i = 1, 200 do parts[i] = ("x"):rep(10) end
        assert(#table.concat(parts) == 2000, "table.concat")
        assert(("a,b"):find(",") == 2, "find")
        assert(select(2, ("a b  c"):gsub("%s+", " ")) == 2, "gsub")
        assert(setmetatable({}, { __index = { k = 1 } }).k == 1, "own metatables")
        store.set("healthy", e.interview.id)
    end,
}
]]

local EVENT = { id = "probe-ev-1", type = "interview.finished",
                candidate = { id = "c-1", name = "Ada Lovelace", emails = { "ada@example.com" } },
                interview = { id = "i-1", report_url = "https://example.com/r/1" } }

local function run_of(w, name)
    for _, r in ipairs(w.runs()) do
        if r.automation == name then return r end
    end
    return nil
end

local function decision_of(w, name)
    local ev = w.event(EVENT.id)
    ok(ev, "the event was journaled")
    for _, d in ipairs(json.decode(ev.decisions).automations or {}) do
        if d.automation == name then return d end
    end
    return nil
end

local function has(s, text) return type(s) == "string" and s:find(text, 1, true) ~= nil end

-- The healthy automation of the other file matched and ran.
local function healthy_still_works(w)
    local d = decision_of(w, "healthy")
    ok(d and d.met, "the healthy automation's condition is met: " .. json.encode(d))
    local r = run_of(w, "healthy")
    ok(r, "the healthy automation ran")
    eq(r.status, "succeeded", "healthy run: " .. tostring(r.last_error))
end

-- Asserts a probe error: the expected text, the script's file:line, and
-- (for the sandbox's own errors) the automation's name.
local function check_error(err, spec)
    ok(type(err) == "string", "an error was recorded")
    ok(has(err, spec.expect), ("error %q should contain %q"):format(err, spec.expect))
    ok(err:find((spec.file or "901_inline") .. "%.lua:%d+"), "error names the script's file:line: " .. err)
    if spec.names ~= false then
        ok(has(err, PROBE), "error names the automation: " .. err)
    end
end

local function action_source(body)
    return ("automation { name = %q, trigger = interview_finished {}, action = function(e)\n%s\nend }\n")
        :format(PROBE, body)
end

local function condition_source(body)
    return ("automation { name = %q, trigger = interview_finished {}, conditions = { function(e)\n%s\nend },\n"
        .. "    action = function(e) store.set('probe ran', true) end }\n"):format(PROBE, body)
end

-- spec: { action = code | condition = code, prelude?, expect, names?, status? }
local function probe(spec)
    local src = (spec.prelude or "") .. (spec.action and action_source(spec.action) or condition_source(spec.condition))
    local w = world { sources = { src, HEALTHY } }
    w.emit(EVENT)
    w.settle()
    if spec.action then
        local r = run_of(w, PROBE)
        ok(r, "the probe's run exists")
        eq(r.status, spec.status or "dead", "probe run status")
        check_error(r.last_error, spec)
    else
        local d = decision_of(w, PROBE)
        ok(d, "the event records the probe's decision")
        eq(d.met, false, "a failing condition is not met")
        check_error(d.conditions[1].error, spec)
        eq(run_of(w, PROBE), nil, "no run for a failing condition")
    end
    healthy_still_works(w)
    return w
end

local function probe_test(name, spec)
    test(name, function() probe(spec) end)
end

-- ------------------------------------------------------------ forbidden things

probe_test("io is not reachable", { action = [[io.open("/etc/passwd")]], expect = "unknown global 'io'" })
probe_test("os.execute is not available", { action = [[os.execute("touch /tmp/pwned")]],
    expect = "'os.execute' is not available to scripts" })
probe_test("os.exit is not available", { action = [[os.exit(1)]], expect = "'os.exit' is not available to scripts" })
probe_test("os.getenv is not available", { action = [[return os.getenv("HOME")]],
    expect = "'os.getenv' is not available to scripts" })
probe_test("require is not available", { action = [[require("io")]], expect = "unknown global 'require'" })
probe_test("debug is not available", { action = [[debug.sethook()]], expect = "unknown global 'debug'" })
probe_test("dofile and loadfile are not available", { action = [[dofile("/etc/passwd")]],
    expect = "unknown global 'dofile'" })
probe_test("string.dump is not available", { action = [[string.dump(function() end)]],
    expect = "'string.dump' is not available to scripts" })
probe_test("string.dump is not reachable through the string metatable either", {
    action = [[local dump = ("").dump
        error("dump is " .. tostring(dump))]], expect = "dump is nil", names = false })
probe_test("collectgarbage is not available", { action = [[collectgarbage("stop")]],
    expect = "unknown global 'collectgarbage'" })
probe_test("package is not available", { action = [[package.loadlib("libc.so.6", "system")]],
    expect = "unknown global 'package'" })
probe_test("rawset is not available, not even on DSL values", { action = [[rawset(qualified, "name", "x")]],
    expect = "unknown global 'rawset'" })
probe_test("a binary chunk cannot be loaded", {
    action = [[local f, err = load("\27LuaT\0\25\147\13\10\26\10\4\8\8\120\86")
        assert(f == nil, "a binary chunk loaded")
        error(err)]], expect = "attempt to load a binary chunk", names = false })
probe_test("load takes text only, not a reader function", {
    action = [[load(function() return nil end)]], expect = "load: only source text is allowed" })
probe_test("load cannot pass for runtime code with a runtime chunk name", {
    action = [[local f = assert(load("while true do end", "@[atsflow]/runtime/lua/engine.lua"))
        f()]], expect = "instruction budget exceeded" })
probe_test("unknown globals raise in conditions too", { condition = [[return undefined_helper(e)]],
    expect = "unknown global 'undefined_helper'" })

-- ------------------------------------------------------------ metatables

probe_test("the string metatable cannot be read or replaced", {
    action = [[local mt = getmetatable("")
        assert(type(mt) == "string", "got the real metatable")
        local ok = pcall(setmetatable, "", {})
        assert(not ok, "setmetatable on a string worked")
        getmetatable("").__index = { upper = function() return "pwned" end }]],
    expect = "attempt to index a string value", names = false })
probe_test("setmetatable cannot install a __gc finalizer", {
    action = [[setmetatable({}, { __gc = function() while true do end end })]],
    expect = "setmetatable: __gc metamethods are not allowed in scripts" })
probe_test("setmetatable's own argument errors are raised at the script's line", {
    action = [[setmetatable("not a table")]],
    expect = "bad argument #1 to 'setmetatable' (table expected, got string)" })
probe_test("setmetatable refuses a metatable that is not a table, at the script's line", {
    action = [[setmetatable({}, 42)]], expect = "bad argument #2 to 'setmetatable' (nil or table expected)" })
probe_test("the script's environment is protected", {
    action = [[setmetatable(_G, { __index = function() return 1 end })]],
    expect = "setmetatable: cannot change the metatable of a value the runtime shares" })
probe_test("getmetatable(_G) shows nothing to play with", {
    action = [[local mt = getmetatable(_G)
        assert(type(mt) == "string")
        local idx = mt.__index
        error("the environment's metatable is " .. mt .. "; its __index is " .. tostring(idx))]],
    expect = "script environments are protected; its __index is nil", names = false })
probe_test("_G._G still does not lead outside", { action = [[return _G._G._G.io.open("/etc/passwd")]],
    expect = "unknown global 'io'" })
probe_test("_ENV games reach nothing", {
    action = [[local function grab()
            local _ENV = setmetatable({}, { __index = function(_, k) return k end })
            return io, os
        end
        local a, b = grab()
        error(("io is %s, os is %s"):format(type(a), type(b)))]],
    expect = "io is string, os is string", names = false })
probe_test("setting _ENV to nil only breaks the script itself", {
    action = [[local _ENV = nil
        x = 1]], expect = "attempt to index", names = false })
probe_test("library tables are protected", {
    action = [[setmetatable(string, { __index = function() return os end })]],
    expect = "setmetatable: cannot change the metatable of a value the runtime shares" })
probe_test("the event cannot be changed", { action = [[e.candidate.name = "Mallory"]],
    expect = "events are read-only", names = false })
probe_test("the event's metatable is protected", {
    action = [[setmetatable(e, { __index = function() return "x" end })]],
    expect = "setmetatable: cannot change the metatable of a value the runtime shares" })
probe_test("built-in conditions are read-only", { action = [[qualified.name = "not_qualified"]],
    expect = "built-in conditions are read-only" })
probe_test("a primitive's error object cannot have its metatable replaced", {
    action = [[local ok, err = pcall(ats.add_tag, e, nil)
        assert(not ok)
        assert(type(err) == "table", "an upstream error")
        setmetatable(err, { __index = function() while true do end end })]],
    expect = "setmetatable: cannot change the metatable of a value the runtime shares" })

-- ------------------------------------------------------------ coroutines

probe_test("coroutine.yield at the top level of an action is refused", {
    action = [[coroutine.yield("stuck")]], expect = "coroutine.yield outside a coroutine the script created" })
probe_test("coroutine.yield at the top level of a condition is refused", {
    condition = [[return coroutine.yield(true)]], expect = "coroutine.yield outside a coroutine the script created" })
probe_test("the run's own thread cannot be resumed", {
    action = [[local me = coroutine.running()
        coroutine.resume(me)]], expect = "that is the run's own thread" })
probe_test("the run's own thread cannot be closed", {
    action = [[coroutine.close((coroutine.running()))]], expect = "that is the run's own thread" })
probe_test("primitives refuse to run inside a script's coroutine", {
    action = [[coroutine.wrap(function() ats.add_tag(e, "x") end)()]],
    expect = "primitives that write can only be used in an action", names = false })

-- ------------------------------------------------------------ the instruction budget

probe_test("an infinite loop in an action is stopped", { action = [[while true do end]],
    expect = "instruction budget exceeded" })
probe_test("an infinite loop in a condition is stopped", { condition = [[while true do end]],
    expect = "instruction budget exceeded" })
probe_test("pcall cannot swallow the budget", {
    action = [[while true do pcall(function() while true do end end) end]], expect = "instruction budget exceeded" })
probe_test("xpcall with a script handler cannot swallow it", {
    action = [[while true do xpcall(function() while true do end end, function(m) return m end) end]],
    expect = "instruction budget exceeded" })
probe_test("xpcall with a runtime function as handler cannot swallow it", {
    action = [[for _ = 1, 1e9 do xpcall(function() while true do end end, store.get) end]],
    expect = "instruction budget exceeded" })
probe_test("calling runtime code in the loop does not reset the budget", {
    action = [[while true do local _ = e.candidate.name; now(); pcall(store.get, "k") end]],
    expect = "instruction budget exceeded" })
probe_test("a coroutine cannot swallow the budget", {
    action = [[local co = coroutine.create(function() while true do end end)
        while true do coroutine.resume(co) end]], expect = "instruction budget exceeded" })
probe_test("coroutine.wrap inside pcall cannot swallow it", {
    action = [[while true do pcall(coroutine.wrap(function() while true do end end)) end]],
    expect = "instruction budget exceeded" })
probe_test("a loop in a __close handler is stopped", {
    action = [[do local x <close> = setmetatable({}, { __close = function() while true do end end }) end]],
    expect = "instruction budget exceeded" })
probe_test("a loop in a table.sort comparator is stopped", {
    action = [[local t = {} for i = 1, 100 do t[i] = i end
        table.sort(t, function(a, b) while true do end end)]], expect = "instruction budget exceeded" })
probe_test("a loop in a gsub replacement function is stopped", {
    action = [[("abc"):gsub(".", function(c) while true do end end)]], expect = "instruction budget exceeded" })

-- ------------------------------------------------------------ memory

probe_test("a string memory bomb fails the call", {
    action = [[local s = "x" while true do s = s .. s end]], expect = "memory cap exceeded" })
probe_test("a table memory bomb fails the call", {
    action = [[local s = ("x"):rep(500000)
        local all = {}
        for i = 1, 1000 do all[i] = { s:byte(1, -1) } end]], expect = "memory cap exceeded" })
probe_test("a closure memory bomb fails the call", {
    action = [[local fs, base = {}, ("y"):rep(65536)
        for i = 1, 1e9 do local big = base .. i; fs[i] = function() return big end end]],
    expect = "memory cap exceeded" })
probe_test("string.rep of a huge size hits the memory cap", {
    action = [[local s = ("x"):rep(1e9)]], expect = "memory cap exceeded" })
probe_test("string.rep past what a Lua string can hold fails at once", {
    action = [[local s = ("x"):rep(1e12)]], expect = "resulting string too large", names = false })
probe_test("string.rep of the empty string a huge number of times returns at once", {
    action = [[local s = string.rep("", 1e15) .. ("").rep("", 1e15, "")
        error("rep returned " .. #s .. " bytes")]], expect = "rep returned 0 bytes", names = false })

-- ------------------------------------------------------------ slow C functions

probe_test("a backtracking pattern on a long subject is refused", {
    action = [[local s = ("a"):rep(2000)
        return s:find(".-.-b")]], expect = "string.find on a 2000-byte subject: refused" })
probe_test("string.match with stacked quantifiers is refused", {
    action = [[return string.match(("a"):rep(2000), "a*a*b")]], expect = "string.match on a 2000-byte subject: refused" })
probe_test("gmatch with a pathological pattern is refused", {
    action = [[for x in ("x"):rep(2000):gmatch("x-x-y") do end]], expect = "string.gmatch on a 2000-byte subject: refused" })
probe_test("gsub with a pathological pattern is refused", {
    condition = [[return (" "):rep(2000):gsub("%s*%s*x", "") ~= nil]],
    expect = "string.gsub on a 2000-byte subject: refused" })
probe_test("a refused pattern cannot be retried under pcall", {
    action = [[local s = ("a"):rep(20000)
        for _ = 1, 100 do pcall(string.find, s, ".-.-b") end
        store.set("after", true)]], expect = "instruction budget exceeded" })
probe_test("a plain find of a long needle in a long subject is priced", {
    action = [[local hay = ("a"):rep(200000)
        local needle = ("a"):rep(20000) .. "b"
        return hay:find(needle, 1, true)]], expect = "refused" })
probe_test("table.move over a huge range is refused", {
    action = [[table.move({}, 1, 200000000, 1, {})]], expect = "table.move over" })
probe_test("many cheap calls on a huge string are still bounded", {
    action = [[local s = ("x"):rep(1 << 24)
        while true do local _ = utf8.len(s) end]], expect = "refused" })
probe_test("slow comparisons of big strings hit the wall clock", {
    action = [[local a = ("x"):rep(1 << 22)
        local b = ("x"):rep((1 << 22) - 1) .. "y"
        local n = 0
        while true do if a == b then n = n + 1 end end]], expect = "time limit exceeded" })

probe_test("compiling big chunks with load in a loop is bounded", {
    action = [[local src = "return 1" .. (" "):rep(1 << 22)
        while true do load(src) end]], expect = "load of a 4194312-byte chunk: refused" })
probe_test("a malformed pattern's error points at the script's line", {
    action = [[local s = ("x"):rep(100)
        return s:find("[a") or 0]], expect = "malformed pattern", names = false })
probe_test("a looping __tostring behind string.format is stopped", {
    action = [[return string.format("%s", setmetatable({}, { __tostring = function() while true do end end }))]],
    expect = "instruction budget exceeded" })

-- ------------------------------------------------------------ error objects

probe_test("an error object whose __tostring loops is stopped and recorded", {
    action = [[error(setmetatable({}, { __tostring = function() while true do end end }))]],
    expect = "instruction budget exceeded" })
probe_test("an error object whose __index loops never runs in the runtime", {
    action = [[error(setmetatable({}, { __index = function() while true do end end,
        __tostring = function() return "tricky error" end }))]], expect = "tricky error (error object raised in" })
probe_test("an error object with a __gc is refused before it exists", {
    action = [[error(setmetatable({ message = "x" }, { __gc = function() end }))]],
    expect = "__gc metamethods are not allowed" })
probe_test("a forged upstream error with a table message is shown as text", {
    action = [[error({ upstream = true, retryable = false, message = { "not", "text" } })]],
    expect = "table: 0x" })
probe_test("a condition raising a looping error object is stopped and recorded", {
    condition = [[error(setmetatable({}, { __tostring = function() while true do end end }))]],
    expect = "instruction budget exceeded" })
probe_test("an error object with a __tostring that returns a table is shown safely", {
    action = [[error(setmetatable({}, { __tostring = function() return {} end }))]],
    expect = "whose __tostring failed" })

-- ------------------------------------------------------------ files and DSL values

test("files cannot see each other's globals, nor change each other's libraries", function()
    local w = world { sources = {
        [[shared_secret = "s3cret"
          string.upper = function() return "pwned" end
          table.concat = nil
          qualified = "not a condition anymore"]],
        action_source([[return shared_secret]]),
        HEALTHY,
    } }
    w.emit(EVENT)
    w.settle()
    local r = run_of(w, PROBE)
    eq(r.status, "dead")
    check_error(r.last_error, { expect = "unknown global 'shared_secret'", file = "902_inline" })
    ok(r.last_error:find("902_inline%.lua:2"), r.last_error)
    healthy_still_works(w)
end)

test("a built-in condition changed by one file means the same in every other", function()
    local w = world { sources = {
        [[pcall(function() qualified.name = "not_qualified" end)
          automation { name = "changer", trigger = assessment_completed { assessment = "A" },
                       conditions = { qualified }, action = function(e) end }]],
        [[automation { name = "user", trigger = assessment_completed { assessment = "A" },
                       conditions = { qualified }, action = function(e) store.set("x", 1) end }]],
    } }
    w.emit({ id = "q-1", type = "assessment.completed", candidate = { id = "c-1", emails = { "ada@example.com" } },
             assessment = { id = "A", name = "A", qualified = true, cheating_detected = false } })
    w.settle()
    local runs = {}
    for _, r in ipairs(w.runs()) do runs[r.automation] = r.status end
    eq(runs, { changer = "succeeded", user = "succeeded" })
end)

test("what a script changes in its automation after declaring it changes nothing", function()
    local w = world { sources = {
        [[local a = automation { name = "mutant", trigger = interview_finished {},
                                 action = function(e) store.set("ran", true) end }
          local opts = { job = "J", stage = "S" }
          automation { name = "mover", trigger = applicant_moved_to_stage(opts), action = function(e) end }
          automation { name = "changer", trigger = interview_finished {}, action = function(e)
              a.enabled = false; a.name = 42; a.action = function() error("hijacked") end
              a.trigger.event = "nothing"; opts.stage = nil
          end }]],
        HEALTHY,
    } }
    w.emit(EVENT)
    w.settle()
    w.emit({ id = "probe-ev-2", type = "interview.finished", candidate = { id = "c-1", emails = { "ada@example.com" } },
             interview = { id = "i-2" } })
    w.settle()
    local n = 0
    for _, r in ipairs(w.runs()) do
        if r.automation == "mutant" then
            eq(r.status, "succeeded", tostring(r.last_error))
            n = n + 1
        end
    end
    eq(n, 2, "the mutated automation ran as declared, twice")
end)

test("DSL values changed at load time are load errors naming the line", function()
    local res = load_scripts {
        [[local a = automation { name = "x", trigger = interview_finished {}, action = function(e) end }
          a.name = 42]],
        [[automation { name = "y", trigger = applicant_moved_to_stage(setmetatable({ job = "J", stage = "S" }, {})),
                       action = function(e) end }]],
    }
    eq(#res.errors, 2, json.encode(res.errors))
    ok(res.errors[1]:find("^01%.lua:1: automation '42': 'name' was changed after it was declared"), res.errors[1])
    ok(res.errors[2]:find("^02%.lua:1: .*trigger options is a table with a metatable"), res.errors[2])
end)

test("forbidden globals at load time are load errors with file and line", function()
    local res = load_scripts { "local x = 1\nlocal f = io.open('/etc/passwd')", "os.execute('id')" }
    eq(#res.errors, 2, json.encode(res.errors))
    ok(res.errors[1]:find("^01%.lua:2: unknown global 'io'"), res.errors[1])
    ok(res.errors[2]:find("^02%.lua:1: 'os.execute' is not available to scripts"), res.errors[2])
end)

test("an infinite loop at load time fails the reload, names the file and line, and the old set stays", function()
    local w = world { sources = { HEALTHY } }
    local f = assert(io.open(w.dir .. "/scripts/950_loop.lua", "w"))
    f:write("local n = 0\nwhile true do n = n + 1 end\n")
    f:close()
    local res = require("host").http({ method = "POST", url = w.url .. "/admin/reload",
                                       headers = { authorization = "Bearer test-admin-token" } })
    eq(res.status, 422, res.body)
    ok(res.body:find("950_loop%.lua:2: instruction budget exceeded"), res.body)
    ok(has(res.body, "in loading "), res.body)
    w.emit(EVENT)
    w.settle()
    healthy_still_works(w)
end)

test("a probe that failed leaves the state usable for the next event", function()
    local w = probe({ action = [[while true do end]], expect = "instruction budget exceeded" })
    w.emit({ id = "probe-ev-3", type = "interview.finished", candidate = { id = "c-1", emails = { "ada@example.com" } },
             interview = { id = "i-1" } })
    w.settle()
    local healthy = 0
    for _, r in ipairs(w.runs()) do
        if r.automation == "healthy" and r.status == "succeeded" then healthy = healthy + 1 end
    end
    eq(healthy, 2)
end)

test("patterns of ordinary size are not refused", function()
    local w = world { sources = { action_source([[
        local text = ("word "):rep(20000)
        assert(select(2, text:gsub("%s+", " ")) == 20000)
        assert(text:match("^%s*(.-)%s*$") == text:sub(1, -2))
        local n = 0
        for k, v in ("k=v;"):rep(2000):gmatch("(%w+)=(%w+)") do n = n + 1 end
        assert(n == 2000)
        assert(("x"):rep(1e6):find("y", 1, true) == nil)
    ]]), HEALTHY } }
    w.emit(EVENT)
    w.settle()
    eq(run_of(w, PROBE).status, "succeeded", tostring(run_of(w, PROBE).last_error))
end)
