-- engine: one script version of the runtime. Loads the config, the adapters
-- and the scripts (sandboxed); answers webhook intake; turns deliveries into
-- canonical events; matches them; and runs actions (see runs.lua). The C host
-- calls the functions of the returned table.
local host = require "host"
local util = require "util"
local cjson = require "cjson"
local json = require "cjson.safe"
local crypto = require "crypto"
local config = require "config"
local upstream = require "upstream"
local scriptenv = require "scriptenv"
local catalog = require "catalog"

local M = {}
local S = { adapters = {}, automations = {}, fired = {} } -- this version's state
M.S = S

local function log(level, msg, kv) host.log(level, msg, kv or {}) end

local function metric(name, labels, v) host.metric("add", name, labels or "", v or 1) end

local function describe_metrics()
    host.describe("atsflow_webhooks_total", "counter", "Webhook deliveries by source and outcome (accepted, duplicate, rejected) and reason.")
    host.describe("atsflow_events_total", "counter", "Canonical events by type and status.")
    host.describe("atsflow_runs_total", "counter", "Action runs that reached a status.")
    host.describe("atsflow_runs", "gauge", "Action runs in the journal by current status (dead runs need attention).")
    host.describe("atsflow_action_seconds", "histogram", "Action run latency from start to end.")
    host.describe("atsflow_upstream_requests_total", "counter", "Upstream HTTP calls by upstream and status (0 = transport error).")
    host.describe("atsflow_queue_depth", "gauge", "Runs waiting to start.")
    host.describe("atsflow_reloads_total", "counter", "Script reloads by result.")
    host.describe("atsflow_script_errors_total", "counter", "Errors raised by scripts (conditions and actions).")
end

-- ---------------------------------------------------------------- config

local function sandbox_secrets(cfg)
    local function kept(key, make)
        local row = host.journal("meta_get", key)[1]
        if row and row.value then return row.value end
        local v = make()
        host.journal("meta_set", key, v)
        return v
    end
    if cfg.ats.sandbox then
        local secret = cfg.ats.sandbox.webhook_secret
        if secret then
            -- the simulator signs with it; a configured secret is never
            -- journaled (one an older version stored is scrubbed)
            host.sandbox_secret(secret)
            if (host.journal("meta_get", "sandbox_webhook_secret")[1] or {}).value == secret then
                host.journal("meta_set", "sandbox_webhook_secret", nil)
            end
        else
            host.sandbox_secret(nil)
            secret = kept("sandbox_webhook_secret", require("stdwebhooks").new_secret)
        end
        cfg.ats.sandbox.webhook_secret = secret
    end
    if cfg.coderbyte and cfg.coderbyte.sandbox then
        cfg.coderbyte = {
            api_key = kept("sandbox_coderbyte_key", function() return crypto.hex(crypto.random(16)) end),
            organization_id = "sandbox", sandbox = true,
            likely_counts_as_cheating = cfg.coderbyte.likely_counts_as_cheating,
            report_wait = cfg.coderbyte.report_wait,
        }
    end
end

local function base_url_for(name, cfg)
    -- the daemon serves the simulators itself; CLI commands reach the daemon
    local self = host.self_url() or ("http://" .. S.cfg.listen:gsub("^0%.0%.0%.0:", "127.0.0.1:"))
    if name == "sandbox" then return self .. "/sandbox/ats" end
    if name == "coderbyte" and cfg.sandbox then return self .. "/sandbox/coderbyte" end
    return cfg.base_url
end

local function make_adapter(name, modname, cfg)
    local mod = require(modname)
    local c = util.deepcopy(cfg)
    c.base_url = base_url_for(name, c)
    for k, v in pairs(mod.config and mod.config.defaults or {}) do
        if c[k] == nil then c[k] = v end
    end
    c.sandbox = nil
    local ctx = upstream.ctx(name, mod, c, M.ctx_opts)
    return { name = name, mod = mod, ctx = ctx, cfg = c }
end

-- Loads the config (and the journal-kept sandbox secrets) and the adapters.
function M.init(path, opts)
    opts = opts or {}
    local cfg, err = config.load(path)
    if not cfg then return nil, err end
    for k, v in pairs(opts.override or {}) do cfg[k] = v end
    S.cfg = cfg
    S.secrets = config.secrets(cfg)
    return {
        listen = cfg.listen, database = cfg.database, scripts = cfg.scripts,
        log_format = cfg.log_format, log_level = cfg.log_level,
        max_body = cfg.limits.max_body, max_connections = cfg.limits.max_connections,
        script_memory = cfg.limits.script_memory, script_budget = cfg.limits.script_budget,
        admin_token = cfg.admin_token, drain_timeout = cfg.limits.drain_timeout,
        read_timeout = cfg.limits.read_timeout,
        sandbox = cfg.ats.sandbox ~= nil or (cfg.coderbyte and cfg.coderbyte.sandbox) or false,
    }
end

-- Second phase, off the loop: compiles the scripts and checks their names
-- against `catalogs` (the journal's catalog rows by source, read on the loop
-- when the build began). It may run on a worker thread, so it touches
-- nothing shared: host functions that reach the journal, metrics or tasks
-- raise here (l_host.c).
function M.compile(catalogs, opts)
    opts = opts or {}
    S.ats_names = util.keys(S.cfg.ats)
    local set = scriptenv.load(S.cfg.scripts, opts.files)
    catalog.validate(set, S, catalog.reader(catalogs or {}))
    S.compiled = set
    -- the compile's garbage is collected here, not in the loop's next steps
    collectgarbage()
end

-- Third phase, on the loop once the journal is open: secrets, adapters, and
-- the compiled set (compiled and checked here when compile did not run).
function M.start(opts)
    opts = opts or {}
    local cfg = S.cfg
    sandbox_secrets(cfg)
    S.secrets = config.secrets(cfg)
    for name, block in pairs(cfg.ats) do
        S.adapters[name] = make_adapter(name, "adapters." .. name, block)
    end
    if cfg.coderbyte then
        S.adapters.coderbyte = make_adapter("coderbyte", "adapters.coderbyte", cfg.coderbyte)
        -- scope: the adapter asks before fetching report data (names the
        -- assessment from the catalog first, a catalog read at most)
        S.adapters.coderbyte.ctx.wanted = function(ev)
            catalog.name_event(ev, S)
            return require("match").refers(S, ev)
        end
    end
    S.ats_names = util.keys(cfg.ats)
    describe_metrics()
    local set = S.compiled
    if not set then
        set = scriptenv.load(cfg.scripts, opts.files)
        catalog.validate(set, S)
    end
    S.compiled = nil
    S.set = set
    S.version = set.version
    if #set.errors > 0 then return nil, set.errors, set.warnings end
    return set.version, set.warnings
end

function M.adapter(name) return S.adapters[name] end
function M.secrets() return S.secrets end
function M.mask(s) return config.mask(s, S.secrets or {}) end

-- ---------------------------------------------------------------- intake

local KEEP_HEADERS_OUT = { authorization = true, cookie = true, ["proxy-authorization"] = true }

local function journal_headers(headers)
    local out = {}
    for k, v in pairs(headers) do if not KEEP_HEADERS_OUT[k] then out[k] = v end end
    return cjson.encode(out)
end

local function reject(source, status, reason, body)
    metric("atsflow_webhooks_total", ('source="%s",outcome="rejected",reason="%s"'):format(source, reason))
    log("warn", "webhook rejected", { "source", source, "status", status, "reason", reason })
    return { status = status, body = body or (reason .. "\n") }
end

-- An unknown source is the caller's text: logged (short, quoted by the
-- logger), but never a metric label, or anyone could grow /metrics.
local function reject_unknown(source)
    metric("atsflow_webhooks_total", 'source="unknown",outcome="rejected",reason="unknown source"')
    log("warn", "webhook rejected", { "source", source:sub(1, 64), "status", 404, "reason", "unknown source" })
    return { status = 404, body = "unknown source\n" }
end

-- A ping needs no I/O to recognise: parse runs in a throwaway coroutine,
-- where any I/O primitive raises at once (it is not a task), so a parse that
-- needs the network is simply "not a ping" and nothing is sent.
-- Also returns the events when the adapter's parse is pure (no I/O, same
-- result in a task), so that processing does not parse the body again.
function M.ping_check(a, req)
    local co = coroutine.create(a.mod.parse)
    local ok, res = coroutine.resume(co, a.ctx, req)
    if ok and type(res) == "table" and res.ping then
        return res.reply or { status = 200, body = "ok\n" }
    end
    if ok and a.mod.parse_is_pure and type(res) == "table" then return nil, res end
    return nil
end

-- Deliveries journaled by this version and not yet processed, by id: the
-- row as written and the events parsed at intake (read back from the
-- journal when absent: after a restart, a reload or a replay).
local fresh = {}

-- Called by the HTTP intake for POST /webhooks/{source}; never yields.
-- Returns { status, body, delivery = rowid when journaled (answer after commit) }.
function M.intake(source, req)
    local a = S.adapters[source]
    if not a then return reject_unknown(source) end
    local ok, good, why = pcall(a.mod.verify, a.ctx, req)
    if not ok then good, why = false, "verification error" end
    if not good then return reject(source, 401, why or "bad signature") end
    local key = a.mod.delivery_id(a.ctx, req)
    local pre, parsed = M.ping_check(a, req)
    if pre then
        metric("atsflow_webhooks_total", ('source="%s",outcome="ping"'):format(source))
        return pre
    end
    local now = host.now()
    if host.journal("dedupe_add", source, key, now).changes == 0 then
        metric("atsflow_webhooks_total", ('source="%s",outcome="duplicate"'):format(source))
        -- the first copy may still sit in the open transaction: answer after it commits
        return { status = 200, body = "duplicate\n", after_commit = true }
    end
    local headers = journal_headers(req.headers)
    local id = host.journal("delivery_add", source, key, now, headers, req.body).last_id
    fresh[id] = { id = id, source = source, delivery_key = key, received_at = now,
                  headers = headers, body = req.body, status = "accepted", parsed = parsed }
    metric("atsflow_webhooks_total", ('source="%s",outcome="accepted"'):format(source))
    return { status = a.mod.accept_status or 200, body = "ok\n", delivery = id }
end

local MEMBERS = { "candidate", "application", "job", "stage", "previous_stage", "assessment",
                  "interview", "scorecard" }

-- Why an event sent to POST /events cannot be taken, or nil.
local function event_problem(ev)
    if type(ev) ~= "table" or type(ev.type) ~= "string" or ev.type == "" then return "has no 'type'" end
    for _, m in ipairs(MEMBERS) do
        local v = ev[m]
        if v ~= nil and type(v) ~= "table" then return ("'%s' must be an object"):format(m) end
        if type(v) == "table" and v.id ~= nil and type(v.id) ~= "string" and math.type(v.id) ~= "integer" then
            return ("'%s.id' must be a string"):format(m)
        end
    end
    local emails = ev.candidate and ev.candidate.emails
    if emails ~= nil then
        if type(emails) ~= "table" or (next(emails) ~= nil and emails[1] == nil) then
            return "'candidate.emails' must be a list of strings"
        end
        for _, e in ipairs(emails) do
            if type(e) ~= "string" then return "'candidate.emails' must be a list of strings" end
        end
    end
    if not pcall(cjson.encode, ev) then return "cannot be stored (NaN, Infinity or nesting too deep)" end
    return nil
end

-- POST /events: canonical events from the operator's own systems.
function M.inject(body)
    local evs = json.decode(body)
    if type(evs) ~= "table" then
        log("warn", "events rejected", { "status", 400, "reason", "body is not JSON" })
        return { status = 400, body = "body is not JSON: send one canonical event or an array\n" }
    end
    if evs.type ~= nil or (next(evs) ~= nil and evs[1] == nil) then evs = { evs } end
    for i, ev in ipairs(evs) do
        local problem = event_problem(ev)
        if problem then
            log("warn", "events rejected", { "status", 400, "reason", ("event %d %s"):format(i, problem) })
            return { status = 400, body = ("event %d %s\n"):format(i, problem) }
        end
    end
    local now = host.now()
    local key = crypto.hex(crypto.sha256(body))
    if host.journal("dedupe_add", "events", key, now).changes == 0 then
        return { status = 200, body = "duplicate\n", after_commit = true }
    end
    local id = host.journal("delivery_add", "events", key, now, "{}", body).last_id
    return { status = 202, body = cjson.encode({ delivery = id }) .. "\n", delivery = id }
end

-- ---------------------------------------------------------------- processing

local function req_of(d)
    return { method = "POST", path = "/webhooks/" .. d.source, query = {},
             headers = json.decode(d.headers) or {}, body = d.body }
end

-- Parses a delivery into canonical events (may yield: Lever re-fetches).
local function parse_delivery(d)
    if d.source == "events" then
        local evs = json.decode(d.body)
        if type(evs) == "table" and evs.type then evs = { evs } end
        return evs
    end
    local a = S.adapters[d.source]
    if not a then error("source '" .. d.source .. "' is no longer configured", 0) end
    local res = d.parsed or a.mod.parse(a.ctx, req_of(d))
    if type(res) == "table" and res.ping then return {} end
    return res
end

-- Coderbyte events name an email: link them to the application invited.
local function link_invitation(ev)
    local email = ev.candidate.emails[1]
    local row = email and host.journal("invitation_get", email:lower(), tostring(ev.assessment.id))[1]
    local inv = row and json.decode(row.body)
    if not inv then return end
    ev.ats = inv.ats
    ev.application = inv.application_id and { id = inv.application_id } or nil
    ev.candidate.id = inv.candidate_id
    ev.candidate.name = ev.candidate.name or inv.name
    ev.job = ev.job or inv.job
    if inv.assessment and not ev.assessment.name then ev.assessment.name = inv.assessment.name end
end

-- Fills id, source, times; previous stage; links Coderbyte events to the
-- ATS application atsflow invited (spec events.md).
local function normalize(d, ev, n)
    ev.id = ev.id or ("%s:%s:%d"):format(d.source, d.delivery_key, n - 1)
    ev.source = ev.source or d.source
    ev.received_at = ev.received_at or util.iso8601(d.received_at)
    if ev.type == "applicant.moved_to_stage" and ev.application and ev.stage then
        local app = tostring(ev.application.id)
        if not ev.previous_stage then
            local row = host.journal("app_stage_get", ev.source, app)[1]
            if row then ev.previous_stage = json.decode(row.stage) end
        end
        host.journal("app_stage_set", ev.source, app, cjson.encode(ev.stage))
    end
    if ev.assessment and ev.candidate and ev.candidate.emails and not ev.application then
        link_invitation(ev)
    end
    catalog.name_event(ev, S)
    return ev
end

local function queue_key(ev)
    local c = ev.candidate or {}
    local who = c.id or (c.emails and c.emails[1]) or ev.id
    return (ev.ats or ev.source) .. ":" .. tostring(who)
end

-- One write: a replayed event keeps its body and gets the new outcome.
local function record_event(d, ev, status, reason, decisions, text)
    host.journal("event_put", ev.id, d.id, ev.type, ev.source, d.received_at,
        text or cjson.encode(ev), status, reason, cjson.encode(decisions), S.version)
    metric("atsflow_events_total", ('type="%s",status="%s"'):format(ev.type, status))
end

-- Matches one event, creates its runs; returns status, reason.
local function route(d, ev, text)
    if ev.type == "catalog.changed" then
        host.spawn("refresh_catalog", ev.source)
        record_event(d, ev, "ignored", "catalog refresh scheduled", {}, text)
        return "ignored"
    end
    local decisions, matched = require("match").decide(S, ev)
    if #matched == 0 then
        local reason = decisions.reason or "no automation refers to this event"
        record_event(d, ev, "ignored", reason, decisions, text)
        log("info", "event ignored", { "event", ev.id, "type", ev.type, "reason", reason })
        return "ignored"
    end
    record_event(d, ev, "processed", nil, decisions, text)
    local names = {}
    for _, a in ipairs(matched) do names[#names + 1] = a.name end
    log("info", "event matched", { "event", ev.id, "type", ev.type, "automations", table.concat(names, ", ") })
    local qk = queue_key(ev)
    for _, a in ipairs(matched) do
        host.journal("run_add", ev.id, a.name, S.version, qk, host.now())
        S.fired[a.name] = (S.fired[a.name] or 0) + 1
    end
    return "processed"
end

local function process(d)
    local ok, evs = pcall(parse_delivery, d)
    if not ok or type(evs) ~= "table" then
        local why = ok and "adapter returned no event list" or (type(evs) == "table" and evs.message or tostring(evs))
        if ok == false and type(evs) == "table" and evs.retryable then error(evs, 0) end
        host.journal("delivery_status", "failed", M.mask(why), host.now(), d.id)
        log("warn", "delivery not understood", { "delivery", d.id, "source", d.source, "reason", M.mask(why) })
        return
    end
    -- events the journal cannot store (NaN or Infinity, nesting deeper than
    -- the encoder goes) would fail the same way on every retry; each is
    -- encoded once, normalized, and that text is what is journaled
    local texts = {}
    for n, ev in ipairs(evs) do
        local storable, text = pcall(cjson.encode, normalize(d, ev, n))
        if not storable then
            local why = "payload not understood: " .. tostring(text):gsub("^.-:%d+: ", "")
            host.journal("delivery_status", "failed", M.mask(why), host.now(), d.id)
            log("warn", "delivery not understood", { "delivery", d.id, "source", d.source, "reason", M.mask(why) })
            return false
        end
        texts[n] = text
    end
    local runs = false
    for n, ev in ipairs(evs) do
        if route(d, ev, texts[n]) == "processed" then runs = true end
    end
    local reason = #evs == 0 and "no event atsflow uses" or nil
    host.journal("delivery_status", runs and "processed" or "ignored", reason, host.now(), d.id)
    return runs
end

-- Task: turns one journaled delivery into events and runs.
function M.process_delivery(id)
    local d = fresh[id]
    fresh[id] = nil
    d = d or host.journal("delivery_get", id)[1]
    if not d or d.status ~= "accepted" then return end
    local ok, err = pcall(process, d)
    local retryable = type(err) == "table" and err.retryable
        or (type(err) == "string" and err:find("^journal:") ~= nil)
    if not ok and not retryable then
        -- anything else would fail the same way on every retry: failed,
        -- with the reason, replayable once fixed
        local why = tostring(type(err) == "table" and err.message or err)
        host.journal("delivery_status", "failed", M.mask(why), host.now(), id)
        log("error", "delivery processing failed", { "delivery", id, "source", d.source, "reason", M.mask(why) })
        host.commit()
        return
    end
    if not ok then
        -- a retryable failure while parsing (e.g. the report fetch): try again later
        log("warn", "delivery processing will be retried", { "delivery", id, "error", M.mask(tostring(type(err) == "table" and err.message or err)) })
        host.commit()
        host.sleep(30000)
        return host.spawn("process_delivery", id)
    end
    -- no run: the outcome rides on the next group commit, unwaited (a
    -- crash before it only means processing the delivery again at start)
    if not err then return end
    if not host.commit() then
        return log("error", "journal commit failed; delivery stays accepted", { "delivery", id })
    end
    require("runs").schedule_event_runs(S, host.journal("events_of_delivery", id))
end

-- Task: at start, everything journaled but not finished is picked up again.
function M.recover()
    for _, row in ipairs(host.journal("deliveries_unfinished")) do
        host.spawn("process_delivery", row.id)
    end
    for _, row in ipairs(host.journal("runs_unfinished")) do
        require("runs").enqueue(S, row.id)
    end
end

function M.run_task(id) return require("runs").execute(S, id) end
function M.refresh_catalog(source) return catalog.refresh(S, source) end

-- Task, serve only: recovery, then the periodic catalog refresh.
function M.serve_tasks()
    M.recover()
    M.background()
end

-- Sleeps `ms` in one-second slices; false as soon as a reload replaced this
-- version (its background work stops, so the old state can be closed).
local function sleep_while_current(ms)
    local until_ms = host.now() + ms
    while host.now() < until_ms do
        if not host.is_current() then return false end
        host.sleep(math.min(1000, until_ms - host.now()))
    end
    return host.is_current()
end

-- Task: the periodic work of the active version (catalog refresh, purge of
-- delivery ids older than the dedupe window). Started again by each reload.
function M.background()
    local every = S.cfg.limits.catalog_refresh
    repeat
        catalog.refresh(S)
        host.journal("dedupe_purge", host.now() - S.cfg.limits.dedupe_window)
        host.commit()
    until not sleep_while_current(every)
end

-- GET /metrics: gauges read from the journal at scrape time.
function M.metrics()
    for _, st in ipairs({ "pending", "running", "succeeded", "retrying", "dead" }) do
        host.metric("set", "atsflow_runs", ('status="%s"'):format(st), 0)
    end
    for _, row in ipairs(host.journal("runs_count")) do
        host.metric("set", "atsflow_runs", ('status="%s"'):format(row.status), row.n)
    end
end

-- GET /status
function M.status(info)
    local fired = {}
    for _, row in ipairs(host.journal("runs_by_automation")) do fired[row.automation] = row.n end
    local autos = {}
    for _, a in ipairs(S.set.list) do
        autos[#autos + 1] = { name = a.name, type = a.trigger.type, enabled = a.enabled,
                              fired = fired[a.name] or 0, file = a.file, line = a.line }
    end
    local cat = {}
    for name in pairs(S.adapters) do
        local c = catalog.get(name)
        cat[name] = { fetched_at = c and util.iso8601(c.fetched_at) or cjson.null }
    end
    return cjson.encode({
        version = require("cli_version"), uptime_s = info.uptime_s,
        scripts_version = S.version, loaded_at = util.iso8601(info.loaded_at),
        last_reload_error = info.last_reload_error and M.mask(info.last_reload_error) or cjson.null,
        automations = autos, catalog = cat, script_memory_bytes = info.script_memory,
    })
end

-- Marks an event (or delivery) for re-processing, or a dead run for a new try.
local function replay_one(id)
    local run = tonumber(id) and host.journal("run_get", tonumber(id))[1]
    if run then
        host.journal("run_update", "pending", 0, nil, run.last_error, nil, host.now(), run.id)
        host.commit()
        require("runs").enqueue(S, run.id, run.queue_key)
        return "run " .. run.id .. " re-queued"
    end
    local ev = host.journal("event_get", id)[1]
    local did = ev and ev.delivery_id or tonumber((id:match("^delivery:(%d+)$")))
    if did then
        host.journal("delivery_status", "accepted", nil, host.now(), did)
        host.commit()
        host.spawn("process_delivery", did)
        return "delivery " .. did .. " re-processed"
    end
    return nil
end

-- POST /admin/replay/{id} (sync; the work happens in tasks)
function M.replay(id)
    local run = tonumber(id) and host.journal("run_get", tonumber(id))[1]
    if run then
        host.journal("run_update", "pending", 0, nil, run.last_error, nil, host.now(), run.id)
        require("runs").enqueue(S, run.id, run.queue_key)
        return 200, "run " .. run.id .. " re-queued\n"
    end
    local ev = host.journal("event_get", id)[1]
    local did = ev and ev.delivery_id or tonumber((tostring(id):match("^delivery:(%d+)$")))
    if not did then return 404, "unknown event or run '" .. tostring(id) .. "'\n" end
    host.journal("delivery_status", "accepted", nil, host.now(), did)
    host.spawn("process_delivery", did)
    return 200, "delivery " .. did .. " re-processed\n"
end
M.replay_one = replay_one

return M
