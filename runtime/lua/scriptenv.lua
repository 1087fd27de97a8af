-- scriptenv: loads the automation files, each in its own environment over a
-- read-only allow-list base (spec semantics.md "Sandbox"): the DSL, the
-- primitives and safe parts of the standard library. Unknown globals raise.
--
-- Limits (with lstate.c, which owns the instruction budget, the wall clock
-- and the memory cap of a script slice):
-- * C functions whose work the count hook cannot see are charged to the
--   slice by wrappers here ("lstate".charge): string.rep by the bytes it
--   builds; table.move/sort/insert/remove/concat/unpack and utf8 by elements.
-- * Patterns (string.find/match/gmatch/gsub, also as s:find(...): the
--   string metatable's __index is the wrapped library). Lua's matcher
--   backtracks, so a pattern with k quantifiers can cost n^(k+1) steps on an
--   n-byte subject; there is no cheap way to interrupt it from outside. A
--   call from script code is therefore priced before it runs: an estimate of
--   its worst case (pattern_cost below) is charged at PATTERN_STEPS steps per
--   instruction. A call whose estimate exceeds what is left of the slice's
--   budget is refused, and the slice is spent (pcall cannot keep it going).
--   With the default budget (1,000,000), a condition or an action slice may
--   run patterns worth about 10^8 steps in all, i.e. well under a second.
--   Typical calls are far below: trimming with "^%s*(.-)%s*$" is estimated
--   at about 70 steps per byte (allowed up to ~1 MB), "(%w+)=(%w+)" at about
--   1,200 (~80 KB), a plain find at the needle's length per byte. Stacked
--   lazy or greedy items (".-.-x", "a*a*b") are refused past a few hundred
--   bytes: their real cost grows with the cube of the length.
-- * DSL values a script declared are copied when the file set is complete
--   (snapshot below): what runs is what was declared; later changes to the
--   tables a script holds change nothing. Options must be plain data.
-- * Actions run through a guard that turns whatever a script raised into a
--   string (or a copy of a primitive's upstream error), so no script
--   metamethod ever runs in the runtime's own code after the action.
local host = require "host"
local lstate = require "lstate"
local crypto = require "crypto"
local util = require "util"
local dsl = require "dsl"
local api = require "api"

local M = {}

-- the originals: this file's own method calls on strings must not go
-- through the priced versions below
local sfind, srep, sgsub = string.find, string.rep, string.gsub
local in_slice = lstate.active

local RUNTIME = "@[atsflow]"
local PATTERN_STEPS = 100 -- estimated matcher steps per budget instruction
local REP_BYTES = 64      -- bytes built by string.rep per budget instruction
local ELEMENTS = 8        -- table/utf8 elements handled per budget instruction

local SAFE_BASE = { "assert", "error", "ipairs", "next", "pairs", "pcall", "select",
    "tonumber", "tostring", "type", "xpcall", "rawequal", "rawlen", "rawget" }
local SAFE_STRING = { "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower",
    "match", "rep", "reverse", "sub", "upper", "pack", "packsize", "unpack" }
local CONDITIONS = { "qualified", "not_qualified", "cheating_detected", "cheating_not_detected" }

local function copy(src, keys)
    local t = {}
    for _, k in ipairs(keys) do t[k] = src[k] end
    return t
end

local function copy_all(src)
    local t = {}
    for k, v in pairs(src) do t[k] = v end
    return t
end

-- ------------------------------------------------------------ violations

-- Raises msg at the script's line (level counts from the caller), naming
-- the automation whose slice is running.
local function violation(msg, level)
    local who = lstate.info().who
    error(who and (msg .. " in " .. who) or msg, (level or 1) + 1)
end

-- Whether the wrapper that called charge() was called by script code. A
-- tail call hides its caller: counted as a script's (`return s:find(p)`).
-- C frames count as script too: pcall(string.find, ...) is a script's call.
local function called_by_script()
    local w = debug.getinfo(3, "t") -- 1 this, 2 charge, 3 the wrapper
    if w and w.istailcall then return true end
    local c = debug.getinfo(4, "S")
    return c ~= nil and c.source:sub(1, #RUNTIME) ~= RUNTIME
end

-- Charges C work (in budget instructions) to the running script slice;
-- refuses, at the script's line, when the slice cannot pay for it. Called
-- only by the wrappers below, right where the script called them.
local function charge(what, instructions)
    if instructions < 1 or not called_by_script() then return end
    local n = instructions < 2^62 and math.floor(instructions) or math.maxinteger
    if not lstate.charge(n) then
        violation(("%s: refused, it would cost about %.0f instructions and the slice's budget of %d is spent")
            :format(what, instructions, lstate.info().budget), 3)
    end
end

-- Wrappers end with `return through(fn, ...)`: both are tail calls, so an
-- error of the library function is raised again at the script's line, not
-- at the wrapper's.
local function rethrow(ok, ...)
    if ok then return ... end
    local e = ...
    if type(e) ~= "string" or e == "not enough memory" then error(e, 0) end
    if e:sub(1, #RUNTIME - 1) == RUNTIME:sub(2) then
        e = sgsub(e, "^[^:]*:%d+: ", "", 1)
    elseif sfind(e, "^[^%s:]+:%d+: ") then
        error(e, 0) -- a script's callback raised it: it has its line
    end
    error(e, 2)
end
local function through(fn, ...) return rethrow(pcall(fn, ...)) end

local function memory_text(i)
    if i.why == "time" then
        return ("time limit exceeded (%d ms) in %s"):format(i.wall_ms, i.who or "a script")
    end
    return ("memory cap exceeded (%d bytes) in %s"):format(i.mem_cap, i.who or "a script")
end

-- The text of an error value without trusting it: a message field is read
-- raw, and __tostring (script code) runs inside pcall, under the budget of
-- the slice that is still running.
function M.error_text(e)
    if type(e) == "string" then
        if e == "not enough memory" then return memory_text(lstate.info()) end
        return e
    end
    if type(e) == "table" then -- the runtime's own: complete as they are
        local m = rawget(e, "dsl_error") or (rawget(e, "upstream") == true and rawget(e, "message"))
        if type(m) == "string" then return m end
    end
    local text = type(e) == "table" and rawget(e, "message")
    if type(text) ~= "string" then
        if type(e) ~= "table" and type(e) ~= "userdata" then
            text = tostring(e)
        else
            local ok, s = pcall(tostring, e)
            text = ok and type(s) == "string" and s
                or ("an error object (%s) whose __tostring failed: %s"):format(type(e), type(s) == "string" and s or type(s))
        end
    end
    -- an error object carries no position: say whose it is
    local who = lstate.info().who
    return who and ("%s (error object raised in %s)"):format(text, who) or text
end

-- What an action may pass on to the run: a copy of an upstream error (its
-- class decides retries), else the text.
function M.error_value(e)
    if type(e) == "table" and rawget(e, "upstream") == true and type(rawget(e, "message")) == "string" then
        local extra = {}
        for k, v in next, e do
            local t = type(v)
            if type(k) == "string" and (t == "string" or t == "number" or t == "boolean") then extra[k] = v end
        end
        return require("upstream").error(extra.message, extra.retryable, extra)
    end
    return M.error_text(e)
end

-- Ends a script slice (back to runtime code, no limits). A slice stopped
-- by the memory cap left its garbage behind: collect it now, so the next
-- slice does not start at the cap.
function M.end_slice()
    local why = lstate.info().why
    host.slice("")
    if why == "memory" then collectgarbage("collect") end
end

-- ------------------------------------------------------------ patterns

-- A pattern as items { kind, q, cls, dot }, following lstrlib's matcher;
-- false when malformed (Lua raises its own error on those).
local function class_end(p, i)
    local c = p:byte(i)
    if c == 37 then -- %
        return i + 1 <= #p and i + 2 or nil
    elseif c == 91 then -- [
        local j = i + 1
        if p:byte(j) == 94 then j = j + 1 end
        repeat
            if j > #p then return nil end
            local cj = p:byte(j)
            j = j + 1
            if cj == 37 and j <= #p then j = j + 1 end
        until p:byte(j) == 93
        return j + 1
    end
    return i + 1
end

local function parse(p, anchor_ok)
    local P = { items = {}, anchored = false, end_anchor = false }
    local i = 1
    if anchor_ok and p:byte(1) == 94 then P.anchored, i = true, 2 end
    while i <= #p do
        local c = p:byte(i)
        if c == 40 or c == 41 then -- ( )
            i = i + 1
        elseif c == 36 and i == #p then -- $ at the end
            P.end_anchor, i = true, i + 1
        elseif c == 37 and p:byte(i + 1) == 98 then -- %bxy
            P.items[#P.items + 1] = { kind = "linear" }
            i = i + 4
        elseif c == 37 and p:byte(i + 1) == 102 then -- %f[set]
            local e = class_end(p, i + 2)
            if not e then return false end
            P.items[#P.items + 1] = { kind = "one" }
            i = e
        elseif c == 37 and p:byte(i + 1) and p:byte(i + 1) >= 48 and p:byte(i + 1) <= 57 then
            P.items[#P.items + 1] = { kind = "linear" } -- back reference
            i = i + 2
        else
            local e = class_end(p, i)
            if not e then return false end
            local q = p:sub(e, e)
            local item = { kind = "one", cls = p:sub(i, e - 1) }
            if q == "*" or q == "+" or q == "-" or q == "?" then
                item.q, e = q, e + 1
                item.dot = item.cls == "."
            end
            P.items[#P.items + 1] = item
            i = e
        end
    end
    return P
end

local parsed, nparsed = {}, 0
local function parsed_pattern(p, anchor_ok)
    local key = (anchor_ok and "a" or "g") .. p
    local P = parsed[key]
    if P == nil then
        if nparsed >= 256 then parsed, nparsed = {}, 0 end
        P = parse(p, anchor_ok)
        parsed[key], nparsed = P, nparsed + 1
    end
    return P
end

local RUN_PROBE = 32

-- Longest run of subject bytes a quantified class can expand over: probed
-- (is there a run longer than RUN_PROBE?) only when it matters.
local function expansion(item, s, init, n, refine)
    if item.dot or not refine or item.cls == "^" or item.cls == "$" then return n + 1 end
    local ok, found = pcall(sfind, s, srep(item.cls, RUN_PROBE + 1), init)
    if ok and not found then return RUN_PROBE + 1 end
    return n + 1
end

-- Worst-case steps of matching P at one position, from the last item back.
-- A quantifier multiplies the cost of what follows it (backtracking) unless
-- what follows can never fail (only optional items, and `.*`/`.-` before a
-- final `$`): then the first try succeeds and costs add up instead.
local function per_start(P, s, init, n, refine)
    local items = P.items
    local cost = 1
    local total = not P.end_anchor  -- the empty rest never fails without `$`
    local all_optional = true       -- every item from here on may match empty
    local absorbs = false           -- a `.*`/`.-` from here on takes the rest
    for k = #items, 1, -1 do
        local it = items[k]
        if it.kind == "linear" then
            cost = cost + n + 1
        elseif not it.q or it.q == "?" then
            cost = total and (cost + 2) or (it.q and 2 * cost + 1 or cost + 1)
        else
            local f = expansion(it, s, init, n, refine)
            cost = total and (cost + f) or (f * cost + f)
        end
        all_optional = all_optional and (it.q == "*" or it.q == "-" or it.q == "?")
        absorbs = absorbs or (it.dot and (it.q == "*" or it.q == "-"))
        total = all_optional and (not P.end_anchor or absorbs)
    end
    return cost, total
end

local function estimate(P, how, s, init, n, refine)
    local cost, total = per_start(P, s, init, n, refine)
    if P.anchored then return cost end
    if total then -- the first start succeeds; gsub and gmatch go on past it
        if how == "find" or how == "match" then return cost end
        return (n + 1) * (#P.items + 2) + cost
    end
    return (n + 1) * cost
end

-- Estimated worst-case matcher steps of one call.
local function pattern_cost(how, s, p, init, plain)
    local n = #s
    init = math.tointeger(init) or 1
    if init < 0 then init = math.max(n + init + 1, 1) elseif init == 0 then init = 1 end
    n = n - init + 1.0 -- floats: worst cases overflow integers
    if n <= 0 then return 0 end
    if plain or not sfind(p, "[%^%$%*%+%?%.%(%)%[%]%%%-]") then
        return (n + 1) * (#p + 1) -- memchr + memcmp
    end
    local P = parsed_pattern(p, how ~= "gmatch")
    if not P then return 0 end
    local crude = estimate(P, how, s, init, n, false)
    if crude <= PATTERN_STEPS * 100 then return crude end
    return estimate(P, how, s, init, n, true)
end

-- Whether the wrapper calling this was called by script code (as in
-- called_by_script; a tail call hides the caller: counted as a script's).
local function wrapper_called_by_script()
    local w = debug.getinfo(2, "t") -- 1 this, 2 the wrapper
    if w and w.istailcall then return true end
    local c = debug.getinfo(3, "S")
    return c ~= nil and sfind(c.source, RUNTIME, 1, true) ~= 1
end

-- Runtime code (an adapter building a URL inside a script's action) is not
-- priced: estimating a pattern's cost costs more than running it.
local function priced(name, fn, how)
    return function(s, p, init, plain, ...)
        if not in_slice() or not wrapper_called_by_script() then return fn(s, p, init, plain, ...) end
        if type(s) == "string" and type(p) == "string" then
            local steps = pattern_cost(how, s, p, how ~= "gsub" and init or 1, how == "find" and plain)
            if steps >= PATTERN_STEPS then
                charge(("string.%s on a %d-byte subject"):format(name, #s), steps / PATTERN_STEPS)
            end
        end
        return through(fn, s, p, init, plain, ...)
    end
end

local function safe_rep(s, n, sep)
    if type(n) == "number" and n > 0 and (type(s) == "string" or type(s) == "number") and in_slice() then
        local len = #tostring(s) + (type(sep) == "string" and #sep or 0)
        if len == 0 then return "" end -- lstrlib would loop n times doing nothing
        local i = n * len > (1 << 20) and lstate.info()
        -- past the memory cap: let the allocation fail, that is the clearer error
        if not (i and i.who and i.mem_cap > 0 and n * len > i.mem_cap - i.mem_used) then
            charge(("string.rep of %.0f bytes"):format(n * len), n * len / REP_BYTES)
        end
    end
    return through(string.rep, s, n, sep)
end

-- The string library as every string sees it (the metatable's __index), so
-- s:find(...) is priced like string.find(...); no string.dump.
local STRING_INDEX = copy_all(string)
STRING_INDEX.dump = nil
STRING_INDEX.find = priced("find", string.find, "find")
STRING_INDEX.match = priced("match", string.match, "match")
STRING_INDEX.gmatch = priced("gmatch", string.gmatch, "gmatch")
STRING_INDEX.gsub = priced("gsub", string.gsub, "gsub")
STRING_INDEX.rep = safe_rep

local function protect_string_metatable()
    local mt = debug.getmetatable("")
    if mt.__index ~= STRING_INDEX then mt.__index = STRING_INDEX end
    if mt.__metatable == nil then mt.__metatable = "the string metatable is read-only" end
end

-- ------------------------------------------------------------ library

local function elements(name, fn, count)
    return function(...)
        local n = count(...)
        if type(n) == "number" and n > ELEMENTS then
            charge(("%s over %.0f elements"):format(name, n), n / ELEMENTS)
        end
        return through(fn, ...)
    end
end

local function len_of(t) return type(t) == "table" and rawlen(t) or 0 end

local function safe_table()
    local t = copy_all(table)
    t.move = elements("table.move", table.move, function(_, f, e)
        return math.type(f) and math.type(e) and e - f + 1 end)
    t.sort = elements("table.sort", table.sort, function(x)
        local n = len_of(x)
        return n * math.max(1, math.log(n + 1, 2)) end)
    t.insert = elements("table.insert", table.insert, function(x, ...)
        return select("#", ...) > 1 and len_of(x) or 0 end)
    t.remove = elements("table.remove", table.remove, function(x) return len_of(x) end)
    t.concat = elements("table.concat", table.concat, function(x, _, i, j)
        return (math.type(j) and j or len_of(x)) - (math.type(i) and i or 1) + 1 end)
    t.unpack = elements("table.unpack", table.unpack, function(x, i, j)
        return (math.type(j) and j or len_of(x)) - (math.type(i) and i or 1) + 1 end)
    return t
end

local function safe_utf8()
    local u = copy_all(utf8)
    local function bytes(s) return type(s) == "string" and #s / 8 or 0 end
    u.len = elements("utf8.len", utf8.len, bytes)
    u.offset = elements("utf8.offset", utf8.offset, bytes)
    u.codepoint = elements("utf8.codepoint", utf8.codepoint, function(s, i, j)
        return type(s) == "string" and (math.type(j) and j or (math.type(i) and i or 1)) - (math.type(i) and i or 1) + 1 or 0 end)
    return u
end

-- A library table as scripts see it: unknown members raise.
local function library(name, t)
    return setmetatable(t, {
        __index = function(_, k)
            violation(("'%s.%s' is not available to scripts"):format(name, tostring(k)), 2)
        end,
        __metatable = "library tables are read-only",
    })
end

-- Threads of runs (a task's own coroutine): a script may see one through
-- coroutine.running() but may not resume or close it.
local task_threads = setmetatable({}, { __mode = "k" })

local function safe_coroutine()
    local co = copy_all(coroutine)
    -- coroutine.yield on an automation's own thread would suspend the run
    -- with nothing to wake it, so it raises instead
    co.yield = function(...)
        if host.in_task() then violation("coroutine.yield outside a coroutine the script created", 2) end
        return coroutine.yield(...)
    end
    co.running = function()
        local th, main = coroutine.running()
        if host.in_task() then task_threads[th] = true end
        return th, main
    end
    for _, name in ipairs({ "resume", "close" }) do
        local real = coroutine[name]
        co[name] = function(th, ...)
            if task_threads[th] then
                violation(("coroutine.%s: that is the run's own thread, not a coroutine the script created"):format(name), 2)
            end
            return real(th, ...)
        end
    end
    return co
end

-- Tables whose metatable a script set (it may change those again).
local script_mt = setmetatable({}, { __mode = "k" })

local function safe_setmetatable(t, mt)
    -- the library's own argument errors, raised at the script's line
    if type(t) ~= "table" then
        violation(("bad argument #1 to 'setmetatable' (table expected, got %s)"):format(type(t)), 2)
    end
    if mt ~= nil and type(mt) ~= "table" then
        violation("bad argument #2 to 'setmetatable' (nil or table expected)", 2)
    end
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
        violation("setmetatable: __gc metamethods are not allowed in scripts", 2)
    end
    if type(t) == "table" and debug.getmetatable(t) ~= nil and not script_mt[t] then
        violation("setmetatable: cannot change the metatable of a value the runtime shares", 2)
    end
    setmetatable(t, mt)
    script_mt[t] = true
    return t
end

-- getmetatable shows a script only the metatables it set (and the
-- __metatable field of protected ones).
local function safe_getmetatable(v)
    local mt = getmetatable(v)
    if type(v) == "table" and type(mt) == "table" and not script_mt[v] then return nil end
    return mt
end

-- ------------------------------------------------------------ DSL values

-- Each file gets its own built-in conditions (read-only); the runtime maps
-- them back by identity, so no file can change what another one sees.
local condition_name = setmetatable({}, { __mode = "k" })

local function file_condition(name)
    local c = setmetatable({ _kind = "condition" }, {
        __index = { name = name },
        __newindex = function() violation("built-in conditions are read-only", 2) end,
        __metatable = "built-in conditions are read-only",
    })
    condition_name[c] = name
    return c
end

-- Primitives' results are copies: a script never holds the runtime's own
-- tables (the catalog cache, a recorded step result).
local function detached(v, depth)
    if type(v) ~= "table" then return v end
    depth = depth or 0
    if depth > 32 then return nil end
    local out = {}
    for k, x in next, v do out[k] = detached(x, depth + 1) end
    return out
end

local function detach_all(fns)
    local out = {}
    for k, fn in pairs(fns) do
        out[k] = type(fn) ~= "function" and fn or function(...)
            local r = table.pack(fn(...))
            for i = 1, r.n do r[i] = detached(r[i]) end
            return table.unpack(r, 1, r.n)
        end
    end
    return out
end

-- The base one file sees (fresh tables per file, so no file can change
-- what another sees).
local function base_for(file, set, dsl_globals)
    local b = copy(_G, SAFE_BASE)
    b.setmetatable = safe_setmetatable
    b.getmetatable = safe_getmetatable
    b.string = library("string", copy(STRING_INDEX, SAFE_STRING))
    b.table = library("table", safe_table())
    b.math = library("math", copy_all(math))
    b.utf8 = library("utf8", safe_utf8())
    b.os = library("os", { time = os.time, date = os.date, clock = os.clock })
    b.coroutine = library("coroutine", safe_coroutine())
    b._VERSION = _VERSION
    for k, v in pairs(dsl_globals) do
        b[k] = dsl.is(v, "condition") and file_condition(v.name) or v
    end
    for k, v in pairs(api.script_globals(file)) do b[k] = v end
    b.ats = detach_all(b.ats)
    b.coderbyte = detach_all(b.coderbyte)
    b.print = function(...)
        local parts = {}
        for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
        host.log("info", table.concat(parts, "\t"), { "script", file })
    end
    return b
end

local function env_for(file, base)
    local env = {}
    -- text only, and never a chunk name of the runtime's own code (the
    -- budget hook lets those frames run)
    base.load = function(chunk, name, _, e)
        if type(chunk) ~= "string" then violation("load: only source text is allowed", 2) end
        charge(("load of a %d-byte chunk"):format(#chunk), #chunk / ELEMENTS) -- the parser is C
        return load(chunk, "=[load] " .. tostring(name or "chunk"), "t", e or env)
    end
    base._G = env
    return setmetatable(env, {
        __index = function(_, k)
            local v = base[k]
            if v == nil then
                violation(("unknown global '%s'%s"):format(tostring(k), util.suggest(tostring(k), util.keys(base))), 2)
            end
            return v
        end,
        __metatable = "script environments are protected",
    })
end

-- "file:line: message" from a Lua error message.
local function located(file, err)
    err = M.error_text(err)
    if err:match("^[^%s:]+:%d+:") then return err end
    return file .. ": " .. err
end

-- ------------------------------------------------------------ snapshot

-- Option values as plain data: strings, numbers, booleans, tables of them.
local function plain(v, what, depth)
    local t = type(v)
    if t == "string" or t == "number" or t == "boolean" then return v end
    if t ~= "table" then error(("%s holds a %s: options are strings, numbers, booleans and tables of them"):format(what, t), 0) end
    if debug.getmetatable(v) ~= nil then error(what .. " is a table with a metatable: options must be plain tables", 0) end
    if depth > 16 then error(what .. " is nested too deeply", 0) end
    local out = {}
    for k, x in next, v do out[plain(k, what, depth + 1)] = plain(x, what, depth + 1) end
    return out
end

local function list_of(v, what)
    if type(v) ~= "table" or debug.getmetatable(v) ~= nil then
        error(what .. " must be a plain list", 0)
    end
    local out = {}
    for i = 1, rawlen(v) do out[i] = rawget(v, i) end
    return out
end

local guards = setmetatable({}, { __mode = "k" })

-- An action function as the run calls it: whatever it raises reaches the
-- runtime as a string or a copied upstream error; the slice ends with it.
local function guard(fn)
    if guards[fn] then return guards[fn] end
    local g = function(view)
        local ok, err = pcall(fn, view)
        if ok then
            M.end_slice()
            return
        end
        local e = M.error_value(err)
        M.end_slice()
        error(e, 0)
    end
    guards[fn] = g
    return g
end

local function snap_action(act)
    if type(act) == "function" then return guard(act) end
    if type(act) ~= "table" or rawget(act, "_kind") ~= "action" then error("'action' was changed after it was declared", 0) end
    return { _kind = "action", type = rawget(act, "type"), opts = plain(rawget(act, "opts") or {}, "action options", 0),
             file = rawget(act, "file"), line = rawget(act, "line") }
end

local CANON = {}
for _, name in ipairs(CONDITIONS) do CANON[name] = { _kind = "condition", name = name } end

local function snap_condition(c)
    if type(c) == "function" then return c end
    local name = condition_name[c]
    if not name and type(c) == "table" and rawget(c, "_kind") == "condition" then name = rawget(c, "name") end
    if not CANON[name] then error("'conditions' holds something that is not a condition", 0) end
    return CANON[name]
end

-- The automation as the runtime keeps it, read raw from what the DSL built.
local function snapshot(a)
    local s = { _kind = "automation", file = rawget(a, "file"), line = rawget(a, "line"),
                low_level = rawget(a, "low_level") }
    for _, k in ipairs({ "name", "match", "enabled" }) do s[k] = rawget(a, k) end
    if type(s.name) ~= "string" or s.name == "" then error("'name' was changed after it was declared", 0) end
    if s.match ~= "any" and s.match ~= "all" then error("'match' was changed after it was declared", 0) end
    if type(s.enabled) ~= "boolean" then error("'enabled' was changed after it was declared", 0) end
    local t = rawget(a, "trigger")
    if type(t) ~= "table" or rawget(t, "_kind") ~= "trigger" or type(rawget(t, "event")) ~= "string" then
        error("'trigger' was changed after it was declared", 0)
    end
    s.trigger = { _kind = "trigger", type = rawget(t, "type"), event = rawget(t, "event"),
                  opts = plain(rawget(t, "opts") or {}, "trigger options", 0),
                  file = rawget(t, "file"), line = rawget(t, "line") }
    s.conditions = list_of(rawget(a, "conditions") or {}, "'conditions'")
    for i, c in ipairs(s.conditions) do s.conditions[i] = snap_condition(c) end
    local act = rawget(a, "action")
    if type(act) == "function" or (type(act) == "table" and rawget(act, "_kind") == "action") then
        s.action = snap_action(act)
    else
        s.action = list_of(act, "'action'")
        for i, x in ipairs(s.action) do s.action[i] = snap_action(x) end
    end
    return s
end

local function snapshot_set(set)
    local list, by_name = {}, {}
    for _, a in ipairs(set.list) do
        local ok, s = pcall(snapshot, a)
        if not ok then
            set.errors[#set.errors + 1] = ("%s:%s: automation '%s': %s"):format(tostring(rawget(a, "file")),
                tostring(rawget(a, "line")), tostring(rawget(a, "name")), M.error_text(s))
        elseif by_name[s.name] then
            set.errors[#set.errors + 1] = ("%s:%s: automation name '%s' is already used"):format(s.file, s.line, s.name)
        else
            list[#list + 1], by_name[s.name] = s, s
        end
    end
    set.list, set.by_name = list, by_name
end

-- ------------------------------------------------------------ loading

function M.files(dir)
    local names, err = host.list_dir(dir)
    if not names then return nil, err end
    local out = {}
    for _, n in ipairs(names) do
        if n:match("%.lua$") then out[#out + 1] = dir .. "/" .. n end
    end
    return out
end

-- Every global one script file sees (tests/lua/types_test.lua holds the
-- LuaLS definitions in types/ to it); nothing is loaded.
function M.surface(file)
    local set = dsl.new_set()
    local base = base_for(file, set, dsl.globals(set))
    env_for(file, base) -- adds load and _G
    return base
end

function M.load(dir, files)
    protect_string_metatable()
    local set = dsl.new_set()
    local dsl_globals = dsl.globals(set)
    local list, err = files, nil
    if not list then list, err = M.files(dir) end
    if not list then
        set.errors[1] = ("%s: cannot read the scripts folder (%s)"):format(dir, err)
        list = {}
    end
    local digest = {}
    for _, path in ipairs(list) do
        local text, rerr = host.read_file(path)
        if not text then
            set.errors[#set.errors + 1] = rerr
        else
            digest[#digest + 1] = path .. "\0" .. text
            local env = env_for(path, base_for(path, set, dsl_globals))
            local chunk, lerr = load(text, "@" .. path, "t", env)
            if not chunk then
                set.errors[#set.errors + 1] = located(path, lerr)
            else
                -- a file's top level may declare many automations: 100 budgets
                host.slice("loading " .. path, 100)
                local ok, rerr2 = pcall(chunk)
                if not ok then set.errors[#set.errors + 1] = located(path, rerr2) end
                M.end_slice()
            end
        end
    end
    -- on the snapshot: plain data, no script metamethod runs outside a slice
    snapshot_set(set)
    dsl.check_identical(set)
    set.files = list
    set.version = crypto.hex(crypto.sha256(table.concat(digest, "\0"))):sub(1, 16)
    return set
end

return M
