-- Unit tests of the retry machinery (spec semantics.md, "Actions" and
-- "Durability"): the backoff schedule of runs.lua (full jitter per attempt,
-- the cap, Retry-After as a floor), the classification of upstream failures
-- (upstream.lua, runs.classify), the retry limits in the config, and the
-- dedupe window (the dedupe_purge journal operation and the engine's
-- background task that runs it).
--
-- Run: ./atsflow test tests/lua/runs_unit_test.lua

local host = require "host"
local runs = require "runs"
local upstream = require "upstream"
local config = require "config"

local SAMPLES = 4000
local DAY = 86400000

local function S(base, cap) return { cfg = { limits = { retry_base = base, retry_cap = cap } } } end

-- SAMPLES delays for one attempt, with a fixed seed (the draws repeat).
local function draws(s, attempt, err)
    math.randomseed(20261128, attempt)
    local out = {}
    for i = 1, SAMPLES do out[i] = runs.backoff_ms(s, attempt, err) end
    return out
end

local function stats(xs)
    local lo, hi, sum = math.huge, -math.huge, 0
    for _, x in ipairs(xs) do
        lo, hi, sum = math.min(lo, x), math.max(hi, x), sum + x
    end
    return lo, hi, sum / #xs
end

---------------------------------------------------------------- backoff

test("attempt n waits a uniform time in [0, base * 2^(n-1)] (full jitter)", function()
    local s = S(100, 2000)
    for attempt, ceiling in ipairs({ 100, 200, 400, 800, 1600 }) do
        local xs = draws(s, attempt)
        local lo, hi, mean = stats(xs)
        ok(lo >= 0 and hi <= ceiling, ("attempt %d: [%d, %d] outside [0, %d]"):format(attempt, lo, hi, ceiling))
        -- jitter covers the whole range, not just the top (that would be "equal jitter")
        ok(lo <= ceiling * 0.02, ("attempt %d: smallest delay %d"):format(attempt, lo))
        ok(hi >= ceiling * 0.98, ("attempt %d: largest delay %d"):format(attempt, hi))
        ok(math.abs(mean - ceiling / 2) <= ceiling * 0.05,
            ("attempt %d: mean %.1f, want about %.1f"):format(attempt, mean, ceiling / 2))
        for _, x in ipairs(xs) do eq(math.type(x), "integer", "delays are whole milliseconds") end
    end
end)

test("the ceiling stops growing at retry_cap", function()
    local s = S(100, 2000)
    for _, attempt in ipairs({ 6, 7, 10, 20, 31, 64, 1000 }) do
        local lo, hi = stats(draws(s, attempt))
        ok(hi <= 2000, ("attempt %d waited %d > cap"):format(attempt, hi))
        ok(hi >= 1900 and lo <= 100, ("attempt %d: [%d, %d] should span [0, 2000]"):format(attempt, lo, hi))
    end
    -- the defaults: 1 s doubling, capped at 5 minutes
    local d = S(nil, nil)
    local _, hi1 = stats(draws(d, 1))
    local _, hi40 = stats(draws(d, 40))
    ok(hi1 <= 1000 and hi1 > 900, "default base is 1 s, got max " .. hi1)
    ok(hi40 <= 300000 and hi40 > 290000, "default cap is 5 min, got max " .. hi40)
end)

test("Retry-After is a floor: never earlier, even above the cap", function()
    local s = S(100, 2000)
    -- longer than any jitter and than the cap: exactly the Retry-After
    for _, attempt in ipairs({ 1, 5, 30 }) do
        local lo, hi = stats(draws(s, attempt, { upstream = true, retryable = true, retry_after_ms = 5000 }))
        eq({ lo, hi }, { 5000, 5000 }, "attempt " .. attempt)
    end
    -- shorter than the jitter range: at least the Retry-After, jitter above it
    local xs = draws(s, 5, { upstream = true, retryable = true, retry_after_ms = 700 })
    local lo, hi = stats(xs)
    eq(lo, 700)
    ok(hi > 1500 and hi <= 1600, "jitter still applies above the floor, max " .. hi)
    local at_floor = 0
    for _, x in ipairs(xs) do if x == 700 then at_floor = at_floor + 1 end end
    ok(at_floor > SAMPLES * 0.35 and at_floor < SAMPLES * 0.53,
        ("about 7/16 of the draws fall below 700 and wait exactly 700: %d of %d"):format(at_floor, SAMPLES))
    -- an error without Retry-After (or not an upstream error) gets plain jitter
    local _, h2 = stats(draws(s, 1, { upstream = true, retryable = true }))
    ok(h2 <= 100)
end)

test("upstream Retry-After headers become retry_after_ms on the error", function()
    local now = 1764324000000
    local ctx = upstream.ctx("fake", { limits = {} }, {}, {
        no_bucket = true,
        now = function() return now end,
        sleep = function() end,
        send = function(wire)
            local status = tonumber(wire.url:match("/(%d+)$"))
            local h = {}
            if status == 429 or status == 503 then h["retry-after"] = "3" end
            return { status = status, headers = h, body = '{"message":"no"}' }
        end,
    })
    local function fail_of(status)
        local res = ctx.http({ method = "GET", url = "http://upstream.test/" .. status })
        local okc, e = pcall(ctx.expect, res, { 200 }, "probe")
        ok(not okc, "status " .. status .. " accepted")
        return e
    end
    local e = fail_of(429)
    eq({ e.retryable, e.status, e.retry_after_ms }, { true, 429, 3000 })
    eq(fail_of(503).retry_after_ms, 3000)
    eq(fail_of(500).retry_after_ms, nil)
    -- the ctx also blocks its token bucket until then (for every run on this upstream)
    ok(ctx.bucket.blocked_until >= now + 3000, "bucket blocked until the Retry-After")
    -- and the run's next attempt waits at least that long
    local lo = stats(draws(S(100, 2000), 1, e))
    eq(lo, 3000)
end)

test("a resend libcurl wanted to make on its own goes out once more, fresh, with a token", function()
    local sent = {}
    local ctx = upstream.ctx("fake", { limits = { rate = 5, burst = 10 } }, {}, {
        sleep = function() end,
        send = function(wire)
            sent[#sent + 1] = wire.fresh or false
            if not wire.fresh then return { status = 0, error = "stale", resend_refused = true } end
            return { status = 200, headers = {}, body = "{}" }
        end,
    })
    local res = ctx.http({ method = "GET", url = "http://upstream.test/x" })
    eq(res.status, 200)
    eq(sent, { false, true })
    ok(ctx.bucket.tokens < 8.5, "both sends took a token, left " .. ctx.bucket.tokens)
    -- a fresh connection cannot be reused stale: a second refusal is an ordinary failure
    sent = {}
    ctx = upstream.ctx("fake", { limits = {} }, {}, {
        sleep = function() end,
        send = function(wire)
            sent[#sent + 1] = wire.fresh or false
            return { status = 0, error = "stale", resend_refused = true }
        end,
    })
    local okc, e = pcall(ctx.http, { method = "GET", url = "http://upstream.test/y" })
    ok(not okc and e.retryable, "a retryable failure")
    eq(sent, { false, true })
end)

---------------------------------------------------------------- classification

local RETRYABLE = { 0, 408, 429, 500, 502, 503, 504, 599 }
local PERMANENT = { 400, 401, 403, 404, 409, 410, 422 }

-- ------------------------------------------------------------- token bucket

local function ok_send() return { status = 200, headers = {}, body = "{}" } end

test("every ctx of one upstream shares its bucket, as every script version does", function()
    local a = upstream.ctx("shared-bucket", { limits = { rate = 1, burst = 3 } }, {}, { send = ok_send })
    local b = upstream.ctx("shared-bucket", { limits = { rate = 99, burst = 99 } }, {}, { send = ok_send })
    eq({ b.bucket.rate, b.bucket.burst }, { 1, 3 }, "the bucket keeps what the first made of it")
    a.http({ url = "http://upstream.test/1" })
    a.http({ url = "http://upstream.test/2" })
    ok(b.bucket.tokens < 1.5, "tokens a took are gone for b too: " .. b.bucket.tokens)
    a.bucket.blocked_until = 12345
    eq(b.bucket.blocked_until, 12345)
    local other = upstream.ctx("another-bucket", { limits = { rate = 1, burst = 3 } }, {}, { send = ok_send })
    eq(other.bucket.tokens, 3, "another upstream has its own")
end)

test("a test world starts with fresh buckets; values held from before stay valid", function()
    local before = host.bucket("world-iso", 1, 2)
    before.blocked_until = 999
    world()
    world() -- opening a world closes the one before, whose buckets then start afresh
    local after = host.bucket("world-iso", 5, 6)
    eq({ after.rate, after.burst, after.tokens, after.blocked_until }, { 5, 6, 6, 0 })
    eq(before.rate, 5, "the same bucket, started afresh")
end)

test("the bucket follows the limit per window the upstream advertises, even below the default", function()
    local limit = "30"
    local adapter = { limits = { rate = 5, burst = 10, window = 30 },
                      rate_headers = function() return { limit = limit } end }
    local ctx = upstream.ctx("advertised-limit", adapter, {}, { send = ok_send })
    ctx.http({ url = "http://upstream.test/1" })
    eq({ ctx.bucket.rate, ctx.bucket.burst }, { 1, 10 }, "30 per 30 s: 1/s, the documented burst")
    limit = "6000"
    ctx.http({ url = "http://upstream.test/2" })
    eq({ ctx.bucket.rate, ctx.bucket.burst }, { 200, 200 })
    limit = "4"
    ctx.http({ url = "http://upstream.test/3" })
    eq(ctx.bucket.burst, 4, "never a burst above the limit itself")
end)

test("status classes: transport errors, 408, 429 and 5xx are retryable; other 4xx are permanent", function()
    for _, st in ipairs(RETRYABLE) do eq(upstream.retryable_status(st), true, "status " .. st) end
    for _, st in ipairs(PERMANENT) do eq(upstream.retryable_status(st), false, "status " .. st) end
end)

test("classified errors from a ctx: what the run executor retries or fails at once", function()
    local ctx = upstream.ctx("fake", { limits = {} }, {}, {
        no_bucket = true,
        now = function() return 0 end,
        sleep = function() end,
        send = function(wire)
            if wire.url:find("/timeout$") then return { status = 0, error = "Timeout was reached", timed_out = true } end
            if wire.url:find("/refused$") then return { status = 0, error = "Connection refused" } end
            return { status = tonumber(wire.url:match("/(%d+)$")), headers = {}, body = '{"message":"upstream says no"}' }
        end,
    })
    local function outcome(path)
        local okc, e = pcall(function()
            local res = ctx.http({ method = "POST", url = "http://upstream.test/" .. path })
            return ctx.expect(res, { 200, 201 }, "probe")
        end)
        ok(not okc, path .. " did not fail")
        return runs.classify(e)
    end
    for _, path in ipairs({ "timeout", "refused" }) do
        local retryable, msg = outcome(path)
        eq(retryable, true, path)
        ok(msg:find("probe") == nil and msg:find("fake: POST", 1, true), msg)
    end
    for _, st in ipairs(RETRYABLE) do
        if st > 0 then eq(outcome(tostring(st)), true, "status " .. st) end
    end
    for _, st in ipairs(PERMANENT) do
        local retryable, msg = outcome(tostring(st))
        eq(retryable, false, "status " .. st)
        -- the run fails with the upstream's own message
        ok(msg:find("HTTP " .. st, 1, true) and msg:find("upstream says no", 1, true), msg)
    end
end)

test("errors that are not upstream errors (script bugs) are permanent", function()
    eq({ runs.classify("attempt to index a nil value") }, { false, "attempt to index a nil value" })
    eq(runs.classify({ message = "looks upstream but is not marked" }), false)
    eq(runs.classify(upstream.error("a retryable one", true)), true)
    eq(runs.classify(upstream.error("a permanent one", false)), false)
end)

---------------------------------------------------------------- config

local function parse(limits)
    return config.parse("/tmp/atsflow.conf.lua", 'ats = { sandbox = {} }\n' .. (limits or ""))
end

test("retry_base and retry_cap are durations in the limits table", function()
    local c = assert(parse())
    eq({ c.limits.retry_base, c.limits.retry_cap, c.limits.action_attempts, c.limits.dedupe_window },
        { 1000, 300000, 10, 14 * DAY })
    c = assert(parse('limits = { retry_base = "100ms", retry_cap = "2s", action_attempts = 20 }'))
    eq({ c.limits.retry_base, c.limits.retry_cap, c.limits.action_attempts }, { 100, 2000, 20 })
    local none, err = parse('limits = { retry_base = "fast" }')
    eq(none, nil)
    ok(err:find("limits.retry_base", 1, true), err)
    local _, err2 = parse('limits = { retry_bass = "1s" }')
    ok(err2:find("retry_base", 1, true), "suggests the closest key: " .. err2)
end)

---------------------------------------------------------------- dedupe window

local function ev(n)
    return { type = "applicant.moved_to_stage", source = "sandbox", candidate = { id = "c" .. n },
             application = { id = "a" .. n }, job = { id = "101", name = "Backend Engineer" },
             stage = { id = "1012", name = "Technical Screen" } }
end

local function deliveries_of(key)
    local n = 0
    for _, d in ipairs(host.journal("deliveries_list", nil, 0, 100000)) do
        if d.delivery_key == key then n = n + 1 end
    end
    return n
end

test("dedupe_purge forgets delivery ids older than the cutoff, and only those", function()
    local w = world()
    host.journal("dedupe_add", "unit", "old", 1000)
    host.journal("dedupe_add", "unit", "edge", 2000)
    host.journal("dedupe_add", "unit", "new", 3000)
    host.journal("dedupe_purge", 2000)
    -- a purged id can be added again (changes = 1); a remembered one cannot
    eq(host.journal("dedupe_add", "unit", "old", 4000).changes, 1, "old was purged")
    eq(host.journal("dedupe_add", "unit", "edge", 4000).changes, 0, "seen exactly at the cutoff: kept")
    eq(host.journal("dedupe_add", "unit", "new", 4000).changes, 0, "new is kept")
    ok(w)
end)

test("a delivery id is a duplicate for dedupe_window, then forgotten by the background purge", function()
    local w = world()
    eq(w.emit(ev(1)).status, 202)
    local again = w.emit(ev(1))
    eq({ again.status, again.body }, { 200, "duplicate\n" })
    -- the same body is remembered all through the window (14 days by default)
    w.advance("14d")
    host.engine_spawn("background") -- the serve loop's periodic task: purges now, then sleeps
    w.settle()
    eq(w.emit(ev(1)).body, "duplicate\n", "still inside the window")
    local second = w.emit(ev(2))
    eq(second.status, 202)
    -- past the window: the next purge forgets the first id, not the second
    w.advance("1s")
    host.journal("dedupe_purge", host.now() - 14 * DAY) -- what each background round runs
    eq(w.emit(ev(1)).status, 202, "accepted again after the window")
    eq(w.emit(ev(2)).body, "duplicate\n", "the younger id is still remembered")
end)

test("the background task purges on its own when it starts", function()
    local w = world()
    eq(w.emit(ev(3)).status, 202)
    w.advance("15d")
    host.engine_spawn("background")
    w.settle()
    eq(w.emit(ev(3)).status, 202, "the background round forgot the 15-day-old id")
    eq(w.emit(ev(3)).body, "duplicate\n")
end)
