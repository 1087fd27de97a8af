-- scriptenv: loads the automation files, each in its own environment over a
-- read-only allow-list base (spec semantics.md "Sandbox"): the DSL, the
-- primitives and safe parts of the standard library. Unknown globals raise.
local host = require "host"
local crypto = require "crypto"
local util = require "util"
local dsl = require "dsl"
local api = require "api"

local M = {}

local SAFE_BASE = { "assert", "error", "ipairs", "next", "pairs", "pcall", "select",
    "tonumber", "tostring", "type", "xpcall", "rawequal", "rawlen", "rawget",
    "getmetatable", "setmetatable" }
local SAFE_STRING = { "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower",
    "match", "rep", "reverse", "sub", "upper", "pack", "packsize", "unpack" }

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

-- Scripts' coroutines: coroutine.yield on an automation's own thread would
-- suspend the run with nothing to wake it, so it raises instead.
local function safe_coroutine()
    local co = copy_all(coroutine)
    co.yield = function(...)
        if host.in_task() then
            error("coroutine.yield outside a coroutine the script created", 2)
        end
        return coroutine.yield(...)
    end
    return co
end

local function protect_string_metatable()
    local mt = debug.getmetatable("")
    if mt and mt.__metatable == nil then mt.__metatable = "the string metatable is read-only" end
end

-- The base one file sees (fresh tables per file, so no file can change
-- what another sees).
local function base_for(file, set, dsl_globals)
    local b = copy(_G, SAFE_BASE)
    b.string = copy(string, SAFE_STRING)
    b.table = copy_all(table)
    b.math = copy_all(math)
    b.utf8 = copy_all(utf8)
    b.os = { time = os.time, date = os.date, clock = os.clock }
    b.coroutine = safe_coroutine()
    b._VERSION = _VERSION
    for k, v in pairs(dsl_globals) do b[k] = v end
    for k, v in pairs(api.script_globals(file)) do b[k] = v end
    b.print = function(...)
        local parts = {}
        for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
        host.log("info", table.concat(parts, "\t"), { "script", file })
    end
    return b
end

local function env_for(file, base)
    local env = {}
    base.load = function(chunk, name, _, e)
        if type(chunk) ~= "string" then error("load: only source text is allowed", 2) end
        return load(chunk, name, "t", e or env)
    end
    base._G = env
    return setmetatable(env, {
        __index = function(_, k)
            local v = base[k]
            if v == nil then
                error(("unknown global '%s'%s"):format(tostring(k), util.suggest(tostring(k), util.keys(base))), 2)
            end
            return v
        end,
        __metatable = "script environments are protected",
    })
end

-- "file:line: message" from a Lua error message.
local function located(file, err)
    err = type(err) == "table" and (err.dsl_error or tostring(err.message)) or tostring(err)
    if err:match("^[^%s:]+:%d+:") then return err end
    return file .. ": " .. err
end

function M.files(dir)
    local names, err = host.list_dir(dir)
    if not names then return nil, err end
    local out = {}
    for _, n in ipairs(names) do
        if n:match("%.lua$") then out[#out + 1] = dir .. "/" .. n end
    end
    return out
end

function M.load(dir, files)
    protect_string_metatable()
    local set = dsl.new_set()
    local dsl_globals = dsl.globals(set)
    local list, err = files or M.files(dir)
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
                host.slice("loading " .. path)
                local ok, rerr2 = pcall(chunk)
                if not ok then set.errors[#set.errors + 1] = located(path, rerr2) end
            end
        end
    end
    dsl.check_identical(set)
    set.files = list
    set.version = crypto.hex(crypto.sha256(table.concat(digest, "\0"))):sub(1, 16)
    return set
end

return M
