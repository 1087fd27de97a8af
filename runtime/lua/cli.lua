-- cli: every command but `serve`, run as a task on the host loop. Each
-- returns an exit code; errors go to stderr as one line each.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"
local util = require "util"

local M = {}

local function out(...) io.stdout:write(string.format(...), "\n") end
local function err(...) io.stderr:write(string.format(...), "\n") end

-- Parses "--flag value" pairs and positional arguments.
local function options(args, flags)
    local o, pos = {}, {}
    local i = 1
    while i <= #args do
        local a = args[i]
        local name = a:match("^%-%-([%w-]+)$")
        if name then
            if flags[name] == nil then return nil, "unknown flag --" .. name end
            if flags[name] == "bool" then o[name] = true else
                i = i + 1
                if args[i] == nil then return nil, "--" .. name .. " needs a value" end
                o[name] = args[i]
            end
        else
            pos[#pos + 1] = a
        end
        i = i + 1
    end
    return o, pos
end

-- Loads config + journal + scripts in this state (no listener).
local function load_engine(config)
    local engine = require "engine"
    local cfg, e = engine.init(config)
    if not cfg then err("%s", e) return nil end
    return engine, cfg
end

local function open_journal(cfg)
    local ok, e = host.open_journal(cfg.database)
    if not ok then err("atsflow: %s", e) end
    return ok
end

-- ------------------------------------------------------------------ check

local function group_of(a) return a.trigger.type end

local function describe_action(a)
    local parts = {}
    for _, act in ipairs(require("dsl").action_list(a.action)) do
        parts[#parts + 1] = type(act) == "function" and "function" or act.type
    end
    return table.concat(parts, ", ")
end

function M.check(config)
    local engine, cfg = load_engine(config)
    if not engine or not open_journal(cfg) then return 1 end
    local version, errors, warnings = engine.start()
    if version then warnings, errors = errors, nil end -- start returns version, warnings
    for _, w in ipairs(warnings or {}) do err("warning: %s", w) end
    if not version then
        for _, e in ipairs(errors) do err("%s", e) end
        err("%d error(s); nothing was loaded", #errors)
        return 1
    end
    local groups, order = {}, {}
    for _, a in ipairs(engine.S.set.list) do
        local g = group_of(a)
        if not groups[g] then groups[g] = {}; order[#order + 1] = g end
        table.insert(groups[g], a)
    end
    table.sort(order)
    for _, g in ipairs(order) do
        out("%s", g)
        for _, a in ipairs(groups[g]) do
            out("  %-40s %s → %s%s  (%s:%d)", a.name, a.trigger.type, describe_action(a),
                a.enabled and "" or " [disabled]", a.file, a.line)
        end
    end
    out("%d automation(s) OK, scripts version %s", #engine.S.set.list, version)
    return 0
end

-- ------------------------------------------------------------- inspection

local function since_ms(s)
    if not s then return 0 end
    local d = util.duration_ms(s)
    if d then return host.now() - d end
    local y, mo, dd, h, mi, se = s:match("^(%d+)-(%d+)-(%d+)T?(%d*):?(%d*):?(%d*)")
    if not y then return nil end
    return os.time({ year = y, month = mo, day = dd, hour = tonumber(h) or 0,
        min = tonumber(mi) or 0, sec = tonumber(se) or 0 }) * 1000
end

function M.events(config, args)
    local o, e = options(args, { status = "v", since = "v", limit = "v" })
    if not o then err("atsflow events: %s", e) return 2 end
    local _, cfg = load_engine(config)
    if not cfg or not open_journal(cfg) then return 1 end
    local since = since_ms(o.since)
    if not since then err("atsflow events: --since takes a duration (\"2h\") or a date (2026-11-28)") return 2 end
    local rows = host.journal("events_list", o.status, since, tonumber(o.limit) or 50)
    out("%-24s %-10s %-28s %-11s %s", "received", "source", "type", "status", "id / reason")
    for _, r in ipairs(rows) do
        out("%-24s %-10s %-28s %-11s %s%s", util.iso8601(r.received_at), r.source, r.type,
            r.status, r.id, r.reason and ("  (" .. r.reason .. ")") or "")
    end
    return 0
end

function M.runs(config, args)
    local o, e = options(args, { status = "v", automation = "v", limit = "v" })
    if not o then err("atsflow runs: %s", e) return 2 end
    local _, cfg = load_engine(config)
    if not cfg or not open_journal(cfg) then return 1 end
    local rows = host.journal("runs_list", o.status, o.automation, tonumber(o.limit) or 50)
    out("%-6s %-10s %-8s %-32s %-30s %s", "run", "status", "attempts", "automation", "event", "last error")
    for _, r in ipairs(rows) do
        out("%-6d %-10s %-8d %-32s %-30s %s", r.id, r.status, r.attempts, r.automation,
            r.event_id, r.last_error or "")
    end
    return 0
end

local function pretty(s)
    local v = json.decode(s or "null")
    return v == nil and tostring(s) or cjson.encode(v)
end

function M.show(config, args)
    local id = args[1]
    if not id then err("usage: atsflow show ID") return 2 end
    local _, cfg = load_engine(config)
    if not cfg or not open_journal(cfg) then return 1 end
    local run = tonumber(id) and host.journal("run_get", tonumber(id))[1]
    if run then
        out("run %d: %s, automation '%s', attempts %d, script version %s", run.id, run.status,
            run.automation, run.attempts, tostring(run.script_version))
        out("event: %s", run.event_id)
        if run.last_error then out("last error: %s", run.last_error) end
        for _, st in ipairs(host.journal("steps_of_run", run.id)) do
            out("step %d %s [%s]", st.seq, st.kind, st.status)
            out("  request:  %s", st.request or "")
            out("  response: %s", st.response or "")
        end
        return 0
    end
    local ev = host.journal("event_get", id)[1]
    if not ev then err("atsflow show: no event or run '%s' (see `atsflow events` / `atsflow runs`)", id) return 1 end
    out("event %s: %s, %s%s", ev.id, ev.type, ev.status, ev.reason and (" (" .. ev.reason .. ")") or "")
    out("script version: %s", tostring(ev.script_version))
    out("payload: %s", pretty(ev.body))
    out("decisions: %s", pretty(ev.decisions))
    for _, r in ipairs(host.journal("runs_of_event", ev.id)) do
        out("run %d: %s (%s), attempts %d%s", r.id, r.automation, r.status, r.attempts,
            r.last_error and (", last error: " .. r.last_error) or "")
    end
    return 0
end

-- Replays through the running daemon when it answers, else in the journal
-- (picked up at the next start).
function M.replay(config, args)
    local o, pos = options(args, { dead = "bool", since = "v" })
    if not o then err("atsflow replay: %s", pos) return 2 end
    local _, cfg = load_engine(config)
    if not cfg or not open_journal(cfg) then return 1 end
    local ids = pos
    if o.dead then
        for _, r in ipairs(host.journal("runs_dead")) do ids[#ids + 1] = tostring(r.id) end
    end
    if o.since then
        for _, r in ipairs(host.journal("deliveries_since", since_ms(o.since) or 0)) do
            ids[#ids + 1] = "delivery:" .. r.id
        end
    end
    if #ids == 0 then err("usage: atsflow replay ID... | --dead | --since T") return 2 end
    local rc = 0
    for _, id in ipairs(ids) do
        local res = cfg.admin_token and host.http({ method = "POST",
            url = "http://" .. cfg.listen .. "/admin/replay/" .. util.urlencode(id),
            headers = { authorization = "Bearer " .. cfg.admin_token }, timeout_ms = 5000 })
        if res and res.status > 0 then
            out("%s: %s", id, util.trim(res.body))
            if res.status ~= 200 then rc = 1 end
        else
            local ok, msg = M.replay_offline(id)
            out("%s: %s", id, msg)
            if not ok then rc = 1 end
        end
    end
    return rc
end

function M.replay_offline(id)
    local run = tonumber(id) and host.journal("run_get", tonumber(id))[1]
    if run then
        host.journal("run_update", "pending", 0, nil, run.last_error, nil, host.now(), run.id)
        host.commit()
        return true, "run re-queued (runs when the daemon starts)"
    end
    local ev = host.journal("event_get", id)[1]
    local did = ev and ev.delivery_id or tonumber((id:match("^delivery:(%d+)$")))
    if not did then return false, "unknown event or run" end
    host.journal("delivery_status", "accepted", nil, host.now(), did)
    host.commit()
    return true, "delivery marked for re-processing (when the daemon starts)"
end

function M.catalog(config, args)
    local engine, cfg = load_engine(config)
    if not engine or not open_journal(cfg) then return 1 end
    engine.start()
    local rc = 0
    if args[1] == "refresh" then
        local failures = require("catalog").refresh(engine.S)
        for _, f in ipairs(failures) do err("%s", engine.mask(f)) end
        if #failures > 0 then rc = 1 end
    elseif args[1] then
        err("usage: atsflow catalog [refresh]") return 2
    end
    for _, row in ipairs(host.journal("catalog_all")) do
        local body = json.decode(row.body) or {}
        out("%s (fetched %s)", row.source, util.iso8601(row.fetched_at))
        for _, j in ipairs(body.jobs or {}) do
            local st = {}
            for _, s in ipairs(j.stages or {}) do st[#st + 1] = ("%s [%s]"):format(s.name, s.id) end
            out("  job %s [%s]: %s", j.name, j.id, table.concat(st, ", "))
        end
        for _, a in ipairs(body.assessments or {}) do out("  assessment %s [%s]", a.name, a.id) end
    end
    return rc
end

function M.sandbox(config, args)
    local _, cfg = load_engine(config)
    if not cfg then return 1 end
    return require("cli_sandbox")(cfg, args)
end

local COMMANDS = { check = M.check, events = M.events, runs = M.runs, show = M.show,
    replay = M.replay, catalog = M.catalog, sandbox = M.sandbox,
    test = function(c, a) return require("testkit").main(c, a) end,
    ["dry-run"] = function(c, a) return require("dryrun").main(c, a) end }

-- Task entry: main(config, command, args...)
function M.main(config, cmd, ...)
    local args = { ... }
    local fn = COMMANDS[cmd]
    local code
    if not fn then
        err("atsflow: unknown command '%s'%s (see atsflow --help)", cmd,
            util.suggest(cmd, util.keys(COMMANDS)))
        code = 2
    elseif args[1] == "--help" then
        out("see `atsflow --help` and docs/cli.md for `%s`", cmd)
        code = 0
    else
        local ok, res = xpcall(fn, debug.traceback, config, args)
        if not ok then err("atsflow %s: %s", cmd, res) code = 1 else code = res or 0 end
    end
    io.stdout:flush()
    host.exit(code)
end

return M
