-- api: the primitives scripts call (spec dsl.md "Primitives"): ats.*,
-- coderbyte.*, log, store, now, json. Writes are durable steps of the
-- running action (runs.step); reads of the catalog are not.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"
local runs = require "runs"
local catalog = require "catalog"
local upstream = require "upstream"

local M = {}

local function S() return require("engine").S end

local function ats_of(ev)
    local s = S()
    local name = ev.ats or ev.source
    if s.cfg.ats[name] then return s.adapters[name] end
    if #s.ats_names == 1 then return s.adapters[s.ats_names[1]] end
    error(upstream.error("cannot tell which ATS this event belongs to: no invitation was recorded for it and more than one ATS is configured", false), 0)
end
M.ats_of = ats_of

local function email_of(ev)
    local c = ev.candidate or {}
    return c.emails and c.emails[1]
end

local function find_candidates(a, email)
    return runs.step("find_candidates", { ats = a.name, email = email }, function()
        return a.mod.find_candidates(a.ctx, email)
    end)
end

-- The ATS candidates an event is about: the linked one, else by email,
-- narrowed by the ATS's duplicate_candidates policy.
function M.targets(ev)
    local a = ats_of(ev)
    local c = ev.candidate or {}
    if c.id then
        return a, { { id = tostring(c.id), application_id = ev.application and tostring(ev.application.id) } }
    end
    local email = email_of(ev)
    if not email then error(upstream.error("the event names no candidate id and no email", false), 0) end
    local found = find_candidates(a, email)
    if #found == 0 then
        error(upstream.error(("%s: no candidate with email %s"):format(a.name, email), false), 0)
    end
    local policy = S().cfg.ats[a.name].duplicate_candidates or "all"
    if policy == "none" and #found > 1 then
        error(upstream.error(("%s: %d candidates share the email %s and duplicate_candidates = \"none\""):format(a.name, #found, email), false), 0)
    end
    local out = {}
    for i, cand in ipairs(found) do
        if policy ~= "first" or i == 1 then
            local apps = cand.application_ids or {}
            out[#out + 1] = { id = tostring(cand.id), application_id = apps[1] and tostring(apps[1]) }
        end
    end
    return a, out
end

local function note_on(a, cand, text)
    return runs.step("add_note", { ats = a.name, candidate = cand.id, text = text }, function(maybe_sent, key)
        local marker = "[atsflow:" .. key .. "]"
        if maybe_sent and a.mod.has_note(a.ctx, cand, marker) then return { skipped = "already posted" } end
        return a.mod.add_note(a.ctx, cand, text .. "\n" .. marker)
    end)
end

local function tag_on(a, cand, tag)
    return runs.step("add_tag", { ats = a.name, candidate = cand.id, tag = tag }, function()
        return a.mod.add_tag(a.ctx, cand, tag)
    end)
end

local function application_for(a, ev, job_id)
    if ev.application and ev.application.id then return tostring(ev.application.id) end
    local _, cands = M.targets(ev)
    for _, cand in ipairs(cands) do
        if cand.application_id then return cand.application_id end
    end
    error(upstream.error("no application found for this candidate", false), 0)
end

function M.move_to_stage(ev, opts)
    local a = ats_of(ev)
    return runs.step("move_to_stage", { ats = a.name, job = opts.job, stage = opts.stage }, function()
        local job, stage = catalog.resolve_stage(S(), a, opts.job, opts.stage)
        local app = application_for(a, ev, job.id)
        local res = a.mod.move_to_stage(a.ctx, app, stage.id)
        return { application = app, stage = stage.id, moved = res and res.moved }
    end)
end

function M.add_note(ev, text)
    local a, cands = M.targets(ev)
    for _, cand in ipairs(cands) do note_on(a, cand, text) end
    return true
end

function M.add_tag(ev, tag)
    local a, cands = M.targets(ev)
    for _, cand in ipairs(cands) do tag_on(a, cand, tag) end
    return true
end

function M.invite(ev, opts)
    local s = S()
    local cb = s.adapters.coderbyte
    if not cb then error(upstream.error("no coderbyte block is configured", false), 0) end
    local email = email_of(ev)
    if not email then error(upstream.error("the candidate has no email to invite", false), 0) end
    return runs.step("invite", { assessment = opts.assessment, email = email }, function(maybe_sent, key)
        local as = catalog.resolve_assessment(s, cb, opts.assessment)
        local inv = maybe_sent and cb.mod.find_invitation(cb.ctx, as.id, email)
        if not inv then
            inv = cb.mod.invite(cb.ctx, as.id, { email = email, name = ev.candidate.name }, key)
        end
        local record = { ats = ev.source, candidate_id = ev.candidate.id and tostring(ev.candidate.id),
                         application_id = ev.application and tostring(ev.application.id),
                         job = ev.job, name = ev.candidate.name, invite_url = inv.invite_url,
                         invitation_id = inv.invitation_id, assessment = as }
        host.journal("invitation_put", email:lower(), tostring(as.id), cjson.encode(record), host.now())
        return { invite_url = inv.invite_url, invitation_id = inv.invitation_id, assessment = as }
    end)
end

function M.report_url(ev)
    return (ev.assessment and ev.assessment.report_url) or (ev.interview and ev.interview.report_url)
end

-- The globals every script file gets besides the DSL.
function M.script_globals(file)
    local g = {}
    g.ats = {
        move_to_stage = M.move_to_stage, add_note = M.add_note, add_tag = M.add_tag,
        find_candidates = function(email)
            local ats = S().adapters[S().ats_names[1]]
            return find_candidates(ats, email)
        end,
        jobs = function(ats) return catalog.jobs(S(), ats) end,
        stages = function(job, ats) return catalog.stages(S(), job, ats) end,
    }
    g.coderbyte = { invite = M.invite, report_url = M.report_url }
    g.log = {}
    for _, lv in ipairs({ "info", "warn", "error" }) do
        g.log[lv] = function(fmt, ...)
            local run = runs.current[coroutine.running()]
            local kv = { "script", file }
            if run then
                kv[#kv + 1] = "automation"; kv[#kv + 1] = run.automation
                kv[#kv + 1] = "run"; kv[#kv + 1] = run.id
                kv[#kv + 1] = "event"; kv[#kv + 1] = run.event_id
            end
            host.log(lv, require("engine").mask(string.format(fmt, ...)), kv)
        end
    end
    g.store = {
        get = function(key)
            local row = host.journal("kv_get", file, tostring(key))[1]
            return row and json.decode(row.value)
        end,
        set = function(key, value)
            host.journal("kv_set", file, tostring(key), cjson.encode(value))
            return true
        end,
    }
    g.now = function()
        local run = runs.current[coroutine.running()]
        return run and run.now or host.now()
    end
    g.json = { encode = cjson.encode, decode = cjson.decode, null = cjson.null }
    return g
end

return M
