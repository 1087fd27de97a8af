-- The LuaLS definitions in types/ against what the runtime really offers:
-- the globals of a script's sandbox (scriptenv.surface), the globals of a
-- test file (this file's own environment) and a world's methods. Standard
-- Lua names are the ones this state's _G holds; LuaLS ships those.

local host = require "host"

-- ---------------------------------------------------------------- parsing

-- { globals = set, fields = { ns = set }, classes = { name = set },
--   funcs = { name = { params, doc, where } }, values = set } from ---@meta
-- files; values are globals declared with ---@type (not namespaces).
local function parse(text, file, defs)
    defs = defs or { globals = {}, fields = {}, classes = {}, funcs = {}, alias = {}, values = {} }
    local doc, class, n = {}, nil, 0
    for line in (text .. "\n"):gmatch("(.-)\r?\n") do
        n = n + 1
        if line:find("^%-%-%-") then
            doc[#doc + 1] = line
            local c = line:match("^%-%-%-@class%s+([%w_.]+)")
            if c then class = c; defs.classes[c] = defs.classes[c] or {} end
            local f = line:match("^%-%-%-@field%s+([%w_]+)")
            if f and class then defs.classes[class][f] = true end
        else
            local loc = line:match("^local%s+([%w_]+)%s*=%s*{}")
            if loc and class then defs.alias[loc] = class end
            local name, params = line:match("^function%s+([%w_.]+)%s*%(([^)]*)%)")
            local assigned = line:match("^([%w_.]+)%s*=")
            local full = name or assigned
            if full then
                local ns, field = full:match("^([%w_]+)%.([%w_]+)$")
                if ns and defs.alias[ns] then
                    defs.classes[defs.alias[ns]][field] = true
                    full = defs.alias[ns] .. "." .. field
                elseif ns then
                    defs.fields[ns] = defs.fields[ns] or {}
                    defs.fields[ns][field] = true
                else
                    defs.globals[full] = true
                    for _, d in ipairs(doc) do
                        if d:find("^%-%-%-@type") then defs.values[full] = true end
                    end
                end
            end
            if name then
                local list, documented = {}, {}
                for p in params:gmatch("[^,%s]+") do list[#list + 1] = p end
                for _, d in ipairs(doc) do
                    local p = d:match("^%-%-%-@param%s+([%w_.]+)")
                    if p then documented[#documented + 1] = p end
                end
                defs.funcs[full] = { params = list, doc = documented, where = file .. ":" .. n }
            end
            doc, class = {}, nil
        end
    end
    return defs
end

local function parse_files(names)
    local defs
    for _, name in ipairs(names) do
        local path = "types/" .. name
        defs = parse(assert(host.read_file(path)), path, defs)
    end
    return defs
end

-- ---------------------------------------------------------------- checks

local function sorted_keys(t)
    local out = {}
    for k in pairs(t) do out[#out + 1] = k end
    table.sort(out)
    return out
end

-- Every documented function has a ---@param per parameter, and no other;
-- where the runtime's function has a fixed arity, the definition has it too.
local function check_function(defs, name, value, defined, problems)
    local f = defs.funcs[name]
    if not f then
        if defined and type(value) == "function" then
            problems[#problems + 1] = name .. ": defined, but not as a function"
        end
        return
    end
    local want, got = table.concat(f.params, ", "), table.concat(f.doc, ", ")
    if want ~= got then
        problems[#problems + 1] = ("%s (%s): parameters (%s) but ---@param for (%s)"):format(name, f.where, want, got)
    end
    if type(value) == "function" then
        local info = debug.getinfo(value, "uS")
        if info.what == "Lua" and not info.isvararg and info.nparams ~= #f.params then
            problems[#problems + 1] = ("%s (%s): takes %d parameters, defined with %d"):format(name, f.where,
                info.nparams, #f.params)
        end
    end
end

-- values: name -> value as the runtime offers them; std(name): LuaLS knows
-- it already; opaque[name]: a library with its own documentation.
local function check(values, defs, std, opaque)
    local problems = {}
    for _, k in ipairs(sorted_keys(values)) do
        local v = values[k]
        if not std(k) then
            if not defs.globals[k] then problems[#problems + 1] = "no definition for global '" .. k .. "'" end
            check_function(defs, k, v, defs.globals[k], problems)
            -- a namespace (not a value such as a built-in condition)
            if type(v) == "table" and defs.globals[k] and not defs.values[k] and not (opaque and opaque[k]) then
                local fields = defs.fields[k] or {}
                for _, f in ipairs(sorted_keys(v)) do
                    if not fields[f] then problems[#problems + 1] = ("no definition for '%s.%s'"):format(k, f) end
                    check_function(defs, k .. "." .. f, v[f], fields[f], problems)
                end
                for _, f in ipairs(sorted_keys(fields)) do
                    if v[f] == nil then problems[#problems + 1] = ("'%s.%s' is defined but does not exist"):format(k, f) end
                end
            end
        end
    end
    for _, k in ipairs(sorted_keys(defs.globals)) do
        if values[k] == nil then problems[#problems + 1] = "'" .. k .. "' is defined but does not exist" end
    end
    return problems
end

local function check_class(obj, defs, class)
    local problems, fields = {}, defs.classes[class] or {}
    for _, k in ipairs(sorted_keys(obj)) do
        if not fields[k] then problems[#problems + 1] = ("no definition for %s.%s"):format(class, k) end
        check_function(defs, class .. "." .. k, obj[k], fields[k], problems)
    end
    for _, k in ipairs(sorted_keys(fields)) do
        if obj[k] == nil then problems[#problems + 1] = ("%s.%s is defined but does not exist"):format(class, k) end
    end
    return problems
end

local function standard(k) return rawget(_G, k) ~= nil end

-- ---------------------------------------------------------------- the real surface

local SCRIPT_TYPES = { "dsl.lua", "primitives.lua", "event.lua" }

test("types/ define every global of a script's sandbox and every primitive, with a ---@param per parameter", function()
    local surface = require("scriptenv").surface("scripts/example.lua")
    local problems = check(surface, parse_files(SCRIPT_TYPES), standard)
    eq(problems, {})
end)

test("types/testkit.lua defines every global of a test file", function()
    local mine = {}
    for k, v in pairs(_ENV) do mine[k] = v end -- this file defines no globals of its own
    -- lua-cjson: json.encode/decode are defined, the rest is cjson's manual
    local problems = check(mine, parse_files({ "testkit.lua" }), standard, { json = true })
    eq(problems, {})
end)

test("types/testkit.lua defines every method and field of a world", function()
    local w = world {}
    eq(check_class(w, parse_files({ "testkit.lua" }), "atsflow.World"), {})
end)

test("every function in types/ has a ---@param per parameter (config.lua too)", function()
    local names = host.list_dir("types")
    local problems, parsed, lines = {}, 0, 0
    for _, name in ipairs(names) do
        local defs = parse_files({ name })
        for _, fname in ipairs(sorted_keys(defs.funcs)) do
            parsed = parsed + 1
            check_function(defs, fname, nil, true, problems)
        end
        for _ in ("\n" .. host.read_file("types/" .. name)):gmatch("\nfunction ") do lines = lines + 1 end
    end
    eq(problems, {})
    eq(parsed, lines, "the parser sees every function definition")
end)

-- ---------------------------------------------------------------- the checks can fail

local SYNTHETIC = [[
---@meta
ats = {}

---Moves it.
---@param event table
---@param opts table
function ats.move_to_stage(event, opts) end

---Tags it.
---@param event table
function ats.add_tag(event, tag) end

---@class atsflow.Thing
---@field url string
local Thing = {}

---@param n integer
function Thing.go(n) end
]]

test("a primitive added without a definition is reported", function()
    local defs = parse(SYNTHETIC, "synthetic")
    local surface = {
        ats = { move_to_stage = function(event, opts) end, add_tag = function(event, tag) end,
                archive = function(event) end },
        print = print, -- standard: LuaLS knows it
        kv = { get = function(key) end },
    }
    local problems = check(surface, defs, standard)
    eq(problems, {
        "ats.add_tag (synthetic:11): parameters (event, tag) but ---@param for (event)",
        "no definition for 'ats.archive'",
        "no definition for global 'kv'",
    })
end)

test("a definition of something the runtime does not have, or with the wrong arity, is reported", function()
    local defs = parse(SYNTHETIC, "synthetic")
    local problems = check({ ats = { move_to_stage = function(event) end } }, defs, standard)
    eq(problems, {
        "ats.move_to_stage (synthetic:7): takes 1 parameters, defined with 2",
        "'ats.add_tag' is defined but does not exist",
    })
    eq(check_class({ url = "x", go = function(n) end, stop = function() end }, defs, "atsflow.Thing"),
        { "no definition for atsflow.Thing.stop" })
    eq(check_class({ go = function(n, m) end }, defs, "atsflow.Thing"), {
        "atsflow.Thing.go (synthetic:18): takes 2 parameters, defined with 1",
        "atsflow.Thing.url is defined but does not exist",
    })
end)
