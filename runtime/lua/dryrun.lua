-- dryrun: `atsflow dry-run [--source NAME] FILE…`. Loads the config and the
-- scripts, feeds the events, and prints what would happen: which automations
-- match and why, and every request their actions would send. Nothing is sent
-- and the journal is not touched: the run uses an in-memory journal and an
-- upstream that records each request and answers it with an empty success.
local host = require "host"
local json = require "cjson.safe"

local M = {}

local function out(...) io.stdout:write(string.format(...), "\n") end

local function read_events(path, source)
    local text, err = host.read_file(path)
    if not text then return nil, err end
    if source then return { raw = text, source = source } end
    local v = json.decode(text)
    if type(v) ~= "table" then return nil, path .. ": not JSON (use --source NAME for a raw upstream payload)" end
    if v.type then v = { v } end
    return v
end

local function recording_send(log)
    return function(wire)
        log[#log + 1] = wire
        local get = wire.method == "GET"
        return { status = get and 200 or 201, headers = {}, body = get and "[]" or "{}" }
    end
end

local function print_requests(log)
    for _, w in ipairs(log) do
        out("    %s %s%s", w.method, w.url, w.body and ("  " .. w.body) or "")
    end
end

-- Runs one automation's action against the recording upstream.
local function rehearse(engine, a, ev)
    local runs = require "runs"
    local log = {}
    for _, ad in pairs(engine.S.adapters) do ad.ctx.send_override = recording_send(log) end
    local run = { id = 0, seq = 0, attempts = 1, automation = a.name, event_id = ev.id,
                  mask = engine.mask }
    runs.current[coroutine.running()] = run
    local ok, err = pcall(function()
        for _, act in ipairs(require("dsl").action_list(a.action)) do
            if type(act) == "function" then act(require("match").frozen(ev))
            else require("actions")[act.type](engine.S, ev, act.opts, a) end
        end
    end)
    runs.current[coroutine.running()] = nil
    print_requests(log)
    if not ok then
        out("    (stopped: %s — a real upstream answer is needed past this point)",
            engine.mask(type(err) == "table" and err.message or tostring(err)))
    end
end

local function show_event(engine, ev)
    out("event %s %s", ev.id or "(no id)", ev.type)
    local decisions, matched = require("match").decide(engine.S, ev)
    for _, d in ipairs(decisions.automations) do
        local conds = {}
        for _, c in ipairs(d.conditions or {}) do
            conds[#conds + 1] = ("%s=%s%s"):format(c.condition, tostring(c.met), c.error and (" (error: " .. c.error .. ")") or "")
        end
        out("  %-40s %s%s", d.automation, d.trigger and (d.met and "MATCH" or "conditions not met") or ("no: " .. tostring(d.reason)),
            #conds > 0 and ("  [" .. table.concat(conds, ", ") .. "]") or "")
    end
    if #matched == 0 then out("  → ignored: %s", decisions.reason or "no automation matched") end
    for _, a in ipairs(matched) do
        out("  → %s would send:", a.name)
        rehearse(engine, a, ev)
    end
end

function M.main(config, args)
    local source, files = nil, {}
    local i = 1
    while i <= #args do
        if args[i] == "--source" then source = args[i + 1]; i = i + 1 else files[#files + 1] = args[i] end
        i = i + 1
    end
    if #files == 0 then io.stderr:write("usage: atsflow dry-run [--source NAME] EVENT.json...\n") return 2 end
    local engine = require "engine"
    local cfg, err = engine.init(config)
    if not cfg then io.stderr:write(err, "\n") return 1 end
    -- the catalog comes from the real journal (read only), so names resolve
    -- without a request; everything else happens in memory
    local catalog_rows = {}
    if cfg.database ~= ":memory:" and host.open_journal(cfg.database) then
        catalog_rows = host.journal("catalog_all")
    end
    assert(host.open_journal(":memory:"))
    for _, r in ipairs(catalog_rows) do host.journal("catalog_set", r.source, r.body, r.fetched_at) end
    local version, errors = engine.start()
    if not version then
        for _, e in ipairs(errors) do io.stderr:write(e, "\n") end
        return 1
    end
    for _, f in ipairs(files) do
        local evs, rerr = read_events(f, source)
        if not evs then io.stderr:write(rerr, "\n") return 1 end
        if evs.raw then
            local a = engine.adapter(source)
            if not a then io.stderr:write("unknown source '", source, "'\n") return 1 end
            local req = { method = "POST", path = "/webhooks/" .. source, query = {}, headers = {}, body = evs.raw }
            local ok, parsed = pcall(a.mod.parse, a.ctx, req)
            if not ok then io.stderr:write(f, ": ", tostring(type(parsed) == "table" and parsed.message or parsed), "\n") return 1 end
            evs = parsed
        end
        for n, ev in ipairs(evs) do
            ev.id = ev.id or ("dry-run:%s:%d"):format(f:match("[^/]+$"), n - 1)
            ev.source = ev.source or source or "events"
            show_event(engine, ev)
        end
    end
    return 0
end

return M
