-- upstream: the ctx an adapter runs on (adapters/README.md): request
-- building, the shared token bucket, rate-limit headers, Retry-After, and
-- the classification of upstream failures into retryable and permanent.
local host = require "host"
local util = require "util"
local cjson = require "cjson"
local json = require "cjson.safe"
local crypto = require "crypto"
local jwt = require "jwt"

local M = {}

-- A classified error: raised with error(e, 0), caught by the run executor.
function M.error(message, retryable, extra)
    local e = { upstream = true, message = message, retryable = retryable and true or false }
    for k, v in pairs(extra or {}) do e[k] = v end
    return setmetatable(e, { __tostring = function(x) return x.message end })
end

function M.retryable_status(status)
    return status == 0 or status == 408 or status == 429 or status >= 500
end

local function retry_after_ms(headers, now)
    local v = headers and headers["retry-after"]
    if not v then return nil end
    local secs = tonumber(v)
    if secs then return math.floor(secs * 1000) end
    return nil -- HTTP-date form: treated as absent (the bucket still backs off)
end

local function upstream_message(res)
    local body = res.json
    if type(body) == "table" then
        local m = body.message or body.error or body.errors
        if type(m) == "table" then m = json.encode(m) end
        if m then return tostring(m):sub(1, 300) end
    end
    return (res.body or ""):sub(1, 200)
end

-- Token bucket shared by every run that uses one configured upstream, in
-- every script version: the host keeps it (a reload keeps what it learned).
local function new_bucket(name, limits)
    return host.bucket(name, limits.rate or 10, limits.burst or 10)
end

local function own_bucket(limits)
    return { rate = limits.rate or 10, burst = limits.burst or 10,
             tokens = limits.burst or 10, at = host.mono(), blocked_until = 0 }
end

local function take(bucket, now_wall)
    while true do
        local now = host.mono()
        bucket.tokens = math.min(bucket.burst, bucket.tokens + (now - bucket.at) * bucket.rate / 1000)
        bucket.at = now
        local wait = 0
        if bucket.blocked_until > now_wall() then wait = bucket.blocked_until - now_wall() end
        if wait == 0 and bucket.tokens >= 1 then
            bucket.tokens = bucket.tokens - 1
            return
        end
        if wait == 0 then wait = math.ceil((1 - bucket.tokens) * 1000 / bucket.rate) end
        host.sleep(wait)
    end
end

local function encode_body(req, headers)
    if req.json ~= nil then
        headers["content-type"] = headers["content-type"] or "application/json"
        return cjson.encode(req.json)
    elseif req.form ~= nil then
        headers["content-type"] = "application/x-www-form-urlencoded"
        return util.query(req.form)
    end
    return req.body
end

-- Builds the request exactly as it goes on the wire (also what tests see).
function M.build(req)
    local headers = {}
    for k, v in pairs(req.headers or {}) do headers[k:lower()] = v end
    local auth = req.auth
    if auth and auth.basic then
        headers.authorization = "Basic " .. crypto.base64_encode(
            tostring(auth.basic[1]) .. ":" .. tostring(auth.basic[2] or ""))
    elseif auth and auth.bearer then
        headers.authorization = "Bearer " .. tostring(auth.bearer)
    end
    local body = encode_body(req, headers)
    local url = req.url
    local q = util.query(req.query)
    if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
    return { method = req.method or "GET", url = url, headers = headers, body = body,
             json = req.json, timeout_ms = req.timeout_ms }
end

-- Where the current step keeps the exchanges it made (for `atsflow show`).
M.recorders = setmetatable({}, { __mode = "k" })

local function record(wire, res)
    local rec = M.recorders[coroutine.running()]
    if rec then
        rec[#rec + 1] = { method = wire.method, url = wire.url, status = res.status,
                          request = wire.json, error = res.error, timed_out = res.timed_out or nil }
    end
end

-- The ctx for one configured adapter. opts.send(wire) performs a request
-- (the real HTTP client, or a test responder); opts.now/opts.sleep the clock.
function M.ctx(name, adapter, cfg, opts)
    opts = opts or {}
    local ctx = { name = name, cfg = cfg, cache = {}, json = json, crypto = crypto, jwt = jwt,
                  id = util.id, urlencode = util.urlencode }
    -- a ctx that never takes a token (test doubles) keeps a bucket of its own
    local limits = adapter.limits or {}
    local bucket = opts.no_bucket and own_bucket(limits) or new_bucket(name, limits)
    ctx.now = opts.now or host.now
    ctx.sleep = opts.sleep or host.sleep
    ctx.bucket = bucket
    ctx.log = {}
    for _, lv in ipairs({ "info", "warn", "error" }) do
        ctx.log[lv] = function(fmt, ...)
            host.log(lv, string.format(fmt, ...), { "adapter", name })
        end
    end
    local send = opts.send or function(wire)
        local res, err = host.http(wire)
        if not res then return { status = 0, error = err, headers = {}, body = "" } end
        return res
    end
    function ctx.http(req)
        if not opts.send and not host.in_task() then
            -- e.g. the ping check's throwaway coroutine: fail before taking a token
            error(M.error(name .. ": I/O is only possible inside a task", false), 0)
        end
        local wire = M.build(req)
        local res
        repeat
            if not opts.no_bucket and not ctx.send_override then take(bucket, ctx.now) end
            res = (ctx.send_override or send)(wire)
            -- httpc refused libcurl's own resend after a reused connection died
            -- unanswered (the upstream may have read the first copy): resend
            -- here, with a token, once, on a fresh connection (cannot go stale)
            local again = res.resend_refused and not wire.fresh
            if again then
                wire.fresh = true
                M.observe(name, 0)
            end
        until not again
        res.headers = res.headers or {}
        if res.body and res.body ~= "" then res.json = json.decode(res.body) end
        record(wire, res)
        M.observe(name, res.status)
        local ra = retry_after_ms(res.headers)
        if ra then bucket.blocked_until = math.max(bucket.blocked_until, ctx.now() + ra) end
        if adapter.rate_headers then
            local ok, rh = pcall(adapter.rate_headers, res)
            if ok and rh and rh.remaining == 0 and rh.reset_ms then
                bucket.blocked_until = math.max(bucket.blocked_until, rh.reset_ms)
            end
            -- the limit differs per account: the bucket follows what the
            -- upstream says its window allows (spec semantics.md)
            local window = adapter.limits and adapter.limits.window
            -- (the rate, even below the adapter's default; the burst stays
            -- the documented one, never above the limit itself)
            if ok and rh and tonumber(rh.limit) and window then
                local limit = tonumber(rh.limit)
                bucket.rate = math.max(0.1, limit / window)
                bucket.burst = math.max(1, math.min(limit,
                    math.max(adapter.limits.burst or 1, math.ceil(bucket.rate))))
            end
        end
        if res.status == 0 then
            error(M.error(("%s: %s %s failed: %s"):format(name, wire.method, wire.url,
                res.error or "connection error"), true, { timed_out = res.timed_out }), 0)
        end
        return res
    end
    function ctx.expect(res, ok_statuses, what)
        for _, s in ipairs(ok_statuses) do if res.status == s then return res end end
        local retryable = M.retryable_status(res.status)
        error(M.error(("%s: %s: HTTP %d: %s"):format(name, what, res.status, upstream_message(res)),
            retryable, { status = res.status, retry_after_ms = retry_after_ms(res.headers) }), 0)
    end
    function ctx.fail(msg, retryable)
        error(M.error(name .. ": " .. msg, retryable), 0)
    end
    return ctx
end

function M.observe(name, status)
    host.metric("add", "atsflow_upstream_requests_total",
        ('upstream="%s",status="%s"'):format(name, tostring(status)))
end

return M
