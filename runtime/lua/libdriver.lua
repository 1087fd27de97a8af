-- libdriver: the Lua side of libatsflow (runtime/lib.c, include/atsflow.h).
-- It runs in a state of its own, beside the engine's, as the test kit's
-- world does (testkit.lua): lib.c spawns M.call(id, op, ...) as a task for
-- each library call and waits until the task reports back through
-- M._done(id, ok, a, b), a C function lib.c installs. ok false: a is the
-- error message.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"
local crypto = require "crypto"
local config = require "config"

local M = {}

-- The instance: set by ops.open.
local W = {
    url = nil, dir = nil, scripts = nil, -- private folder and its scripts folder
    names = {},                          -- private script path -> the name to show in errors
    pending = {},                        -- scripts added by the call in progress
    seq = 0, sandbox = false, token = nil, conf = nil, origin = nil,
}

local function fail(msg) error(msg, 0) end

-- ------------------------------------------------------------ JSON

-- lua-cjson 2.1.0 encodes an empty table as {}: lists are marked so that
-- an empty one goes out as [].
local ARRAY = {}
local function array(t) return setmetatable(t or {}, ARRAY) end

local function encode(v)
    if type(v) ~= "table" then return cjson.encode(v) end
    local parts = {}
    if getmetatable(v) == ARRAY or #v > 0 then
        for i = 1, #v do parts[i] = encode(v[i]) end
        return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for i, k in ipairs(keys) do
        local x = v[k]
        if x == nil then x = v[tonumber(k)] end
        parts[i] = cjson.encode(k) .. ":" .. encode(x)
    end
    return "{" .. table.concat(parts, ",") .. "}"
end

local function decode(s)
    if type(s) ~= "string" then return s end
    local v = json.decode(s)
    if v == nil then return s end
    return v
end

-- ------------------------------------------------------------ files

local function abs(path, cwd)
    if path == ":memory:" or path:sub(1, 1) == "/" then return path end
    return cwd .. "/" .. path
end

local function write(path, text)
    local f, err = io.open(path, "wb")
    if not f then fail("cannot write " .. path .. ": " .. tostring(err)) end
    f:write(text)
    f:close()
end

local function plain(s) return (s:gsub("%p", "%%%0")) end

-- Error text with the private copies named as the caller knows them.
local function rewrite(msg)
    msg = tostring(msg)
    for path, name in pairs(W.names) do msg = msg:gsub(plain(path), (name:gsub("%%", "%%%%"))) end
    if W.conf then msg = msg:gsub(plain(W.conf), (W.origin:gsub("%%", "%%%%"))) end
    return msg
end

-- The same through every string of a result (automation names of on()
-- handlers and load errors carry the script's path).
local function rewrite_all(v)
    if type(v) == "string" then return next(W.names) and rewrite(v) or v end
    if type(v) ~= "table" then return v end
    for k, x in pairs(v) do v[k] = rewrite_all(x) end
    return v
end

local function trimmed(s) return (s:gsub("%s+$", "")) end

local function lua_files(dir)
    local names, err = host.list_dir(dir)
    if not names then return nil, err end
    local out = {}
    for _, n in ipairs(names) do
        if n:match("%.lua$") then out[#out + 1] = n end
    end
    return out
end

-- Copies one script into the private folder under a name that keeps the
-- load order: the config's first ("a_"), then added ones in call order.
local function add_copy(prefix, shown, text)
    local base = shown:match("[^/]+$")
    if not base:match("%.lua$") then base = base .. ".lua" end
    local path
    if prefix == "a" then
        path = ("%s/a_%s"):format(W.scripts, base)
    else
        W.seq = W.seq + 1
        path = ("%s/b%04d_%s"):format(W.scripts, W.seq, base)
    end
    write(path, text)
    W.names[path] = shown
    W.pending[#W.pending + 1] = path
end

local function copy_file(prefix, path)
    local text, err = host.read_file(path)
    if not text then fail("cannot read script " .. tostring(err)) end
    add_copy(prefix, path, text)
end

local function copy_folder(prefix, dir)
    local names, err = lua_files(dir)
    if not names then fail("cannot read the scripts folder " .. tostring(err)) end
    for _, n in ipairs(names) do copy_file(prefix, dir .. "/" .. n) end
    return #names
end

-- ------------------------------------------------------------ HTTP

local function http(method, path, body, headers)
    local res, err = host.http({ method = method, url = W.url .. path, body = body, headers = headers or {} })
    if not res or res.status == 0 then
        fail(("%s %s failed: %s"):format(method, path, tostring(err or (res and res.error))))
    end
    return res
end

-- ------------------------------------------------------------ operations

local ops = {}

-- o = { config_path?, config_text?, base_dir, cwd, dir, database?, listen?,
--       no_config_scripts }
function ops.open(o)
    local text, origin
    if o.config_path then
        local err
        text, err = host.read_file(o.config_path)
        if not text then fail(("%s: cannot read the config file (%s)"):format(o.config_path, tostring(err))) end
        origin = o.config_path
    else
        text = o.config_text
        origin = abs(o.base_dir or o.cwd, o.cwd) .. "/(config text)"
    end
    -- validate as given, so that errors name the caller's file and relative
    -- paths resolve where the caller meant
    local cfg, err = config.parse(origin, text)
    if not cfg then fail(err) end
    W.dir = o.dir
    W.scripts = o.dir .. "/scripts"
    W.origin = origin
    W.conf = o.dir .. "/atsflow.conf.lua"
    W.sandbox = cfg.ats.sandbox ~= nil or (cfg.coderbyte ~= nil and cfg.coderbyte.sandbox == true)
    W.token = cfg.admin_token
    if not o.no_config_scripts then copy_folder("a", abs(cfg.scripts, o.cwd)) end
    W.pending = {}
    -- the config as given, then the instance's own settings (the last
    -- assignment of a key wins)
    local over = { ("scripts = %q"):format(W.scripts),
        ("database = %q"):format(abs(o.database or (o.dir .. "/journal.db"), o.cwd)),
        ("listen = %q"):format(o.listen or "127.0.0.1:0") }
    if not W.token then
        W.token = crypto.hex(crypto.random(16))
        over[#over + 1] = ("admin_token = %q"):format(W.token)
    end
    local tail = "\n-- libatsflow: the instance's own settings\n" .. table.concat(over, "\n") .. "\n"
    local combined = text .. tail
    if not load(combined, "=config", "t", {}) then
        -- e.g. a config that ends with `return`: run it as a function
        combined = "(function(...) " .. text .. "\nend)(...)" .. tail
    end
    write(W.conf, combined)
    local url, oerr = host.engine_open(W.conf)
    if not url then fail(rewrite(oerr)) end
    W.url = url
    host.engine_spawn("recover")
    host.idle_wait()
    return url
end

function ops.add_script(path)
    W.pending = {}
    local names = host.list_dir(path)
    if names then copy_folder("b", path) else copy_file("b", path) end
    return #W.pending
end

function ops.add_source(name, text)
    W.pending = {}
    add_copy("b", name, text)
    return 1
end

-- The reload failed: the scripts this call added go away again.
function ops.rollback(err)
    local msg = rewrite(err)
    for _, p in ipairs(W.pending) do
        os.remove(p)
        W.names[p] = nil
    end
    W.pending = {}
    return msg
end

function ops.commit_scripts()
    W.pending = {}
    return 0
end

function ops.clear_scripts()
    local names = lua_files(W.scripts) or {}
    W.pending = {}
    for _, n in ipairs(names) do
        os.remove(W.scripts .. "/" .. n)
        W.names[W.scripts .. "/" .. n] = nil
    end
    return #names
end

function ops.rewrite(err) return rewrite(err) end

function ops.webhook(source, headers, body)
    local res = http("POST", "/webhooks/" .. source, body, headers)
    return res.status, res.body
end

function ops.emit(body)
    local res = http("POST", "/events", body,
        { authorization = "Bearer " .. W.token, ["content-type"] = "application/json" })
    return res.status, res.body
end

local POSTS = { seed = true, reset = true, move = true, complete = true, scorecard = true, interview = true }

function ops.sandbox(cmd, args)
    if not W.sandbox then fail("the config has no sandbox (ats = { sandbox = {} })") end
    local res
    if POSTS[cmd] then
        res = http("POST", "/sandbox/ctl/" .. cmd, args or "{}", { ["content-type"] = "application/json" })
    elseif cmd == "show" or cmd == "requests" then
        local a = args and json.decode(args) or {}
        local q = type(a) == "table" and a.email and ("?email=" .. require("util").urlencode(a.email)) or ""
        res = http("GET", "/sandbox/ctl/" .. cmd .. q)
    else
        fail(("unknown sandbox command '%s' (seed, reset, move, complete, scorecard, interview, show)"):format(
            tostring(cmd)))
    end
    if res.status >= 300 then fail(("sandbox %s answered %d: %s"):format(cmd, res.status, trimmed(res.body))) end
    return trimmed(res.body)
end

local function reversed(rows)
    local out = array()
    for i = #rows, 1, -1 do out[#out + 1] = rows[i] end
    return out
end

local ALL = 1000000000

function ops.events(status)
    local out = reversed(host.journal("events_list", status, 0, ALL))
    for _, e in ipairs(out) do
        local row = not tostring(e.id):match("^delivery:") and host.journal("event_get", e.id)[1]
        if row then
            e.event = decode(row.body)
            e.decisions = decode(row.decisions)
            e.script_version = row.script_version
        end
    end
    return encode(rewrite_all(out))
end

local function steps_of(run_id)
    local out = array()
    for _, s in ipairs(host.journal("steps_of_run", run_id)) do
        s.request = decode(s.request)
        s.response = decode(s.response)
        out[#out + 1] = s
    end
    return out
end

function ops.runs(status)
    local out = reversed(host.journal("runs_list", status, nil, ALL))
    for _, r in ipairs(out) do r.steps = steps_of(r.id) end
    return encode(rewrite_all(out))
end

function ops.requests()
    if W.sandbox then return trimmed(http("GET", "/sandbox/ctl/requests").body) end
    local out = array()
    for _, r in ipairs(reversed(host.journal("runs_list", nil, nil, ALL))) do
        for _, s in ipairs(steps_of(r.id)) do
            local http_list = type(s.request) == "table" and s.request.http or {}
            for _, x in ipairs(http_list) do
                out[#out + 1] = { run_id = r.id, step = s.seq, method = x.method, url = x.url,
                                  status = x.status, request = x.request, error = x.error }
            end
        end
    end
    return encode(out)
end

-- ------------------------------------------------------------ entry

-- Task: one library call. Reports through M._done, set by lib.c.
function M.call(id, op, ...)
    local f = ops[op]
    local ok, a, b
    if not f then
        ok, a = false, "unknown operation " .. tostring(op)
    else
        ok, a, b = xpcall(f, function(e)
            if type(e) == "string" then return e end
            if type(e) == "table" and e.message then return tostring(e.message) end
            return tostring(e)
        end, ...)
    end
    M._done(id, ok, a, b)
end

return M
