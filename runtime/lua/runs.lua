-- runs: executes action runs. A run is a task; each primitive call in it is
-- a step recorded in the journal before the run moves on, so a resumed run
-- replays recorded results and only performs what never completed. Runs of
-- one candidate keep event order; others run concurrently up to a bound.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"
local upstream = require "upstream"

local M = {}

M.current = setmetatable({}, { __mode = "k" }) -- thread -> run context

local function log(level, msg, kv) host.log(level, msg, kv or {}) end

-- The queues live in C (runtime/runq.c), shared by every script version: a
-- reload must not let the new version start a candidate's run while an
-- older version still runs or holds an earlier one. runq starts a run by
-- spawning run_task in the version that queued it.
local function limit(S) return S.cfg.limits.concurrency end

local function depth()
    host.metric("set", "atsflow_queue_depth", "", (host.runq_depth()))
end

function M.enqueue(S, run_id, key)
    if not key then
        local r = host.journal("run_get", run_id)[1]
        key = r and r.queue_key or tostring(run_id)
    end
    host.runq_add(key, run_id, limit(S))
    depth()
end

function M.schedule_event_runs(S, events)
    for _, ev in ipairs(events) do
        for _, r in ipairs(host.journal("runs_of_event", ev.id)) do
            if r.status == "pending" then M.enqueue(S, r.id, r.queue_key) end
        end
    end
end

local function finished(S, key, id)
    host.runq_done(key, id, limit(S))
    depth()
end

-- ------------------------------------------------------------- steps

-- Runs fn as step `kind` of the current run. maybe_sent tells fn that an
-- earlier attempt may have performed it already (close the window first).
function M.step(kind, request, fn)
    local run = M.current[coroutine.running()]
    if not run then error(kind .. ": primitives that write can only be used in an action", 2) end
    run.seq = run.seq + 1
    local seq = run.seq
    local rec = host.journal("step_get", run.id, seq)[1]
    if rec and rec.status == "ok" then
        return json.decode(rec.response) or {}
    end
    local exchanges = {}
    upstream.recorders[coroutine.running()] = exchanges
    local ok, res = pcall(fn, run.attempts > 1 or rec ~= nil, run.id .. ":" .. seq)
    upstream.recorders[coroutine.running()] = nil
    local detail = { request = request, http = exchanges }
    if not ok then
        detail.error = type(res) == "table" and res.message or tostring(res)
        host.journal("step_put", run.id, seq, kind, run.mask(cjson.encode(detail)), nil, "failed", host.now())
        error(res, 0)
    end
    detail.result = res
    host.journal("step_put", run.id, seq, kind, run.mask(cjson.encode(detail)),
        cjson.encode(res == nil and cjson.null or res), "ok", host.now())
    if not host.commit() then error(upstream.error("journal commit failed", true), 0) end
    return res
end

-- ------------------------------------------------------------- execution

local function backoff_ms(S, attempts, err)
    local base = S.cfg.limits.retry_base or 1000
    local cap = S.cfg.limits.retry_cap or 300000
    local ceiling = math.min(cap, base * 2 ^ math.min(attempts - 1, 30))
    local d = math.random(0, math.floor(ceiling)) -- full jitter
    if type(err) == "table" and err.retry_after_ms then d = math.max(d, err.retry_after_ms) end
    return math.floor(d)
end
M.backoff_ms = backoff_ms

local function classify(err)
    if type(err) == "table" and err.upstream then
        return err.retryable, err.message
    end
    return false, tostring(err) -- a script bug: retrying will not help
end
M.classify = classify

local function run_action(S, a, run, ev)
    local actions = require("dsl").action_list(a.action)
    local view = require("match").frozen(ev)
    for _, act in ipairs(actions) do
        host.slice(a.name .. " (" .. a.file .. ":" .. a.line .. ")")
        if type(act) == "function" then
            act(view)
        else
            require("actions")[act.type](S, ev, act.opts, a)
        end
    end
end

local function settle(S, r, status, attempts, next_at, err)
    host.journal("run_update", status, attempts, next_at, err, S.version, host.now(), r.id)
    host.commit()
    host.metric("add", "atsflow_runs_total", ('status="%s"'):format(status))
end

function M.execute(S, id)
    local r = host.journal("run_get", id)[1]
    if not r or r.status == "succeeded" or r.status == "dead" then
        return finished(S, r and r.queue_key or tostring(id), id)
    end
    if r.next_at and r.next_at > host.now() then
        host.sleep(r.next_at - host.now()) -- a retry scheduled before a restart
    end
    local a = S.set.by_name[r.automation]
    local evrow = host.journal("event_get", r.event_id)[1]
    local attempts = r.attempts + 1
    -- the attempt is durable before anything is sent: a crash after this
    -- point makes the next attempt check before repeating a step
    host.journal("run_update", "running", attempts, nil, r.last_error, S.version, host.now(), id)
    if not host.commit() then return finished(S, r.queue_key, id) end
    local started = host.mono()
    local ok, err
    if not a or not evrow then
        ok, err = false, not a and ("automation '" .. r.automation .. "' is no longer loaded") or "event missing"
    else
        local run = { id = id, seq = 0, attempts = attempts, automation = a.name, event_id = r.event_id,
                      mask = require("engine").mask }
        M.current[coroutine.running()] = run
        ok, err = pcall(run_action, S, a, run, json.decode(evrow.body))
        M.current[coroutine.running()] = nil
    end
    host.metric("observe", "atsflow_action_seconds", "", (host.mono() - started) / 1000)
    if ok then
        settle(S, r, "succeeded", attempts, nil, nil)
        log("info", "run succeeded", { "run", id, "automation", r.automation, "event", r.event_id,
            "attempt", attempts, "version", S.version })
        return finished(S, r.queue_key, id)
    end
    local retryable, msg = classify(err)
    msg = require("engine").mask(msg)
    host.metric("add", "atsflow_script_errors_total", ('automation="%s"'):format(r.automation), retryable and 0 or 1)
    if retryable and attempts < S.cfg.limits.action_attempts then
        local delay = backoff_ms(S, attempts, err)
        settle(S, r, "retrying", attempts, host.now() + delay, msg)
        log("warn", "run will be retried", { "run", id, "automation", r.automation, "event", r.event_id,
            "attempt", attempts, "in_ms", delay, "error", msg })
        -- the candidate's queue stays held (order), the concurrency slot does not
        host.runq_slot(-1, limit(S))
        host.sleep(delay)
        host.runq_slot(1, limit(S))
        return M.execute(S, id)
    end
    settle(S, r, "dead", attempts, nil, msg)
    log("error", "run is dead", { "run", id, "automation", r.automation, "event", r.event_id, "error", msg })
    return finished(S, r.queue_key, id)
end

return M
