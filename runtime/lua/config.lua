-- config: evaluates the config file in a sandbox that offers only env() and
-- file(), then checks every key against the schema below. Errors name the
-- file, the key and the closest valid key.
local util = require "util"

local M = {}

local top = {
    listen = "string", database = "string", scripts = "string", admin_token = "string",
    log_format = "string", log_level = "string", ats = "table", coderbyte = "table",
    limits = "table",
}

local limits = {
    max_body = "1MB", script_budget = 1000000, script_memory = "64MB",
    action_attempts = 10, dedupe_window = "14d", max_connections = 1024,
    concurrency = 64, catalog_refresh = "10m", drain_timeout = "10s",
    read_timeout = "30s", -- a request must arrive whole within this (httpd.c)
    retry_base = "1s", retry_cap = "5m", -- backoff of retried runs (runs.lua)
}

local coderbyte_keys = {
    api_key = true, organization_id = true, base_url = true, sandbox = true,
    likely_counts_as_cheating = true, report_wait = true,
}

local function fail(path, msg)
    error({ config_error = path .. ": " .. msg }, 0)
end

local function check_keys(path, where, t, allowed)
    for k in pairs(t) do
        if type(k) ~= "string" or allowed[k] == nil then
            fail(path, ("unknown key '%s' in %s%s"):format(tostring(k), where,
                util.suggest(tostring(k), util.keys(allowed))))
        end
    end
end

-- The sandbox the config file runs in: env(), file(), and assignments.
local function config_env(path, values)
    local env = {}
    function env.env(name, default)
        if type(name) ~= "string" then fail(path, "env(NAME): NAME must be a string") end
        local v = os.getenv(name)
        if v == nil or v == "" then return default end
        return v
    end
    function env.file(p)
        if type(p) ~= "string" then fail(path, "file(PATH): PATH must be a string") end
        local f, err = io.open(p, "rb")
        if not f then fail(path, "file(" .. p .. "): " .. err) end
        local data = f:read("a")
        f:close()
        return util.trim(data)
    end
    return setmetatable(env, {
        __newindex = function(_, k, v)
            if top[k] == nil then
                fail(path, ("unknown setting '%s'%s"):format(k, util.suggest(k, util.keys(top))))
            end
            values[k] = v
        end,
        __index = function(_, k)
            if values[k] ~= nil then return values[k] end
            fail(path, ("unknown name '%s' (only env() and file() are available)"):format(k))
        end,
    })
end

local function check_types(path, cfg)
    for k, v in pairs(cfg) do
        if type(v) ~= top[k] then
            fail(path, ("'%s' must be a %s, not a %s"):format(k, top[k], type(v)))
        end
    end
end

local function check_limits(path, cfg)
    local l = cfg.limits or {}
    check_keys(path, "limits", l, limits)
    local out = {}
    for k, default in pairs(limits) do out[k] = l[k] == nil and default or l[k] end
    for _, k in ipairs({ "max_body", "script_memory" }) do
        local b = util.size_bytes(out[k])
        if not b then fail(path, ("limits.%s: '%s' is not a size like \"64KB\" or \"1MB\""):format(k, tostring(out[k]))) end
        out[k] = b
    end
    for _, k in ipairs({ "dedupe_window", "catalog_refresh", "drain_timeout", "retry_base", "retry_cap", "read_timeout" }) do
        local ms = util.duration_ms(out[k])
        if not ms then fail(path, ("limits.%s: '%s' is not a duration like \"30s\" or \"14d\""):format(k, tostring(out[k]))) end
        out[k] = ms
    end
    for _, k in ipairs({ "script_budget", "action_attempts", "max_connections", "concurrency" }) do
        if math.type(out[k]) ~= "integer" or out[k] < 1 then
            fail(path, ("limits.%s must be a positive integer"):format(k))
        end
    end
    cfg.limits = out
end

-- Checks each ATS block against its adapter's declared keys.
local function check_ats(path, cfg)
    cfg.ats = cfg.ats or {}
    for name, block in pairs(cfg.ats) do
        local ok, adapter = pcall(require, "adapters." .. tostring(name))
        if not ok or type(adapter) ~= "table" or adapter.kind ~= "ats" then
            fail(path, ("unknown ATS '%s' in ats%s"):format(tostring(name),
                util.suggest(tostring(name), { "greenhouse", "lever", "ashby", "workable", "sandbox" })))
        end
        if type(block) ~= "table" then fail(path, "ats." .. name .. " must be a table") end
        local allowed = { duplicate_candidates = true }
        for _, k in ipairs(adapter.config.required or {}) do allowed[k] = true end
        for _, k in ipairs(adapter.config.optional or {}) do allowed[k] = true end
        check_keys(path, "ats." .. name, block, allowed)
        for _, k in ipairs(adapter.config.required or {}) do
            if block[k] == nil then
                fail(path, ("ats.%s.%s is required (set it, e.g. from env())"):format(name, k))
            end
        end
        local dup = block.duplicate_candidates
        if dup ~= nil and dup ~= "all" and dup ~= "first" and dup ~= "none" then
            fail(path, ("ats.%s.duplicate_candidates must be \"all\", \"first\" or \"none\""):format(name))
        end
    end
end

local function check_coderbyte(path, cfg)
    local cb = cfg.coderbyte
    if cb == nil then
        if cfg.ats.sandbox then cfg.coderbyte = { sandbox = true } end
        return
    end
    check_keys(path, "coderbyte", cb, coderbyte_keys)
    if cb.sandbox then return end
    for _, k in ipairs({ "api_key", "organization_id" }) do
        if cb[k] == nil then fail(path, "coderbyte." .. k .. " is required (or coderbyte = { sandbox = true })") end
    end
    if cb.report_wait and not util.duration_ms(cb.report_wait) then
        fail(path, "coderbyte.report_wait: not a duration like \"30m\"")
    end
end

local function apply_defaults(path, cfg)
    cfg.listen = cfg.listen or "127.0.0.1:8080"
    cfg.database = cfg.database or "var/atsflow.db"
    cfg.scripts = cfg.scripts or "scripts"
    cfg.log_format = cfg.log_format or "logfmt"
    cfg.log_level = cfg.log_level or "info"
    if cfg.log_format ~= "logfmt" and cfg.log_format ~= "json" then
        fail(path, "log_format must be \"logfmt\" or \"json\"")
    end
    if not ({ debug = 1, info = 1, warn = 1, error = 1 })[cfg.log_level] then
        fail(path, "log_level must be one of debug, info, warn, error")
    end
    if not cfg.listen:match("^[^:]+:%d+$") then
        fail(path, "listen must look like \"127.0.0.1:8080\"")
    end
    local dir = path:match("^(.*)/[^/]*$") or "."
    local function rel(p) return p:sub(1, 1) == "/" and p or (dir .. "/" .. p) end
    cfg.scripts = rel(cfg.scripts)
    if cfg.database ~= ":memory:" then cfg.database = rel(cfg.database) end
    cfg.dir = dir
end

-- Loads and checks a config from its text; returns the config or nil, message.
function M.parse(path, text)
    local values = {}
    local ok, err = pcall(function()
        local chunk, lerr = load(text, "@" .. path, "t", config_env(path, values))
        if not chunk then fail(path, lerr:gsub("^" .. path:gsub("%p", "%%%0") .. ":", "")) end
        chunk()
        check_types(path, values)
        apply_defaults(path, values)
        check_limits(path, values)
        check_ats(path, values)
        check_coderbyte(path, values)
        if next(values.ats) == nil then
            fail(path, "no ATS configured: add an ats = { … } block (ats = { sandbox = {} } for the built-in simulation)")
        end
    end)
    if ok then return values end
    if type(err) == "table" and err.config_error then return nil, err.config_error end
    return nil, tostring(err)
end

function M.load(path)
    local f, err = io.open(path, "rb")
    if not f then
        return nil, ("%s: cannot read the config file (%s); pass -c FILE"):format(path, err)
    end
    local text = f:read("a")
    f:close()
    return M.parse(path, text)
end

-- Secret values of a config, for masking.
function M.secrets(cfg)
    local out = {}
    if cfg.admin_token then out[#out + 1] = cfg.admin_token end
    for name, block in pairs(cfg.ats or {}) do
        local ok, adapter = pcall(require, "adapters." .. name)
        for _, k in ipairs(ok and adapter.config.secrets or {}) do
            if type(block[k]) == "string" and #block[k] > 0 then out[#out + 1] = block[k] end
        end
    end
    local cb = cfg.coderbyte or {}
    if type(cb.api_key) == "string" and #cb.api_key > 0 then out[#out + 1] = cb.api_key end
    return out
end

-- Replaces every secret value in s by ***. Masking runs for every step
-- recorded: a plain search first, the escaped pattern made once per list.
local sfind, sgsub = string.find, string.gsub
local escaped = setmetatable({}, { __mode = "k" })
function M.mask(s, secrets)
    s = tostring(s)
    local pats = escaped[secrets]
    if not pats then
        pats = {}
        for i, v in ipairs(secrets) do pats[i] = sgsub(v, "%p", "%%%0") end
        escaped[secrets] = pats
    end
    for i, v in ipairs(secrets) do
        if #v >= 4 and sfind(s, v, 1, true) then s = sgsub(s, pats[i], "***") end
    end
    return s
end

return M
