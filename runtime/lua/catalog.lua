-- catalog: the jobs, stages and assessments known per upstream, kept in the
-- journal, refreshed on a schedule and on job webhooks, and used to check
-- names at load time and to resolve them at run time.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"
local util = require "util"

local M = {}

local function decode(row)
    if not row then return nil end
    local body = json.decode(row.body) or {}
    body.fetched_at = row.fetched_at
    return body
end

function M.get(source)
    return decode(host.journal("catalog_get", source)[1])
end

-- M.get over a copy of the catalog rows ({ [source] = { body, fetched_at } }),
-- for a version compiled off the loop.
function M.reader(rows)
    return function(source) return decode(rows[source]) end
end

local function by_ref(list, ref)
    local hits = {}
    for _, x in ipairs(list or {}) do
        if tostring(x.id) == tostring(ref) or x.name == ref then hits[#hits + 1] = x end
    end
    return hits
end

local function names(list)
    local out = {}
    for _, x in ipairs(list or {}) do out[#out + 1] = x.name end
    return out
end

local function ids(list)
    local out = {}
    for _, x in ipairs(list) do out[#out + 1] = tostring(x.id) end
    return table.concat(out, ", ")
end

-- One name or id in a list: the item, or nil and a message.
local function pick(list, ref, what)
    local hits = by_ref(list, ref)
    if #hits == 1 then return hits[1] end
    if #hits > 1 then
        return nil, ("%s '%s' is ambiguous: it matches ids %s (use the id)"):format(what, ref, ids(hits))
    end
    return nil, ("unknown %s '%s'%s"):format(what, tostring(ref), util.suggest(tostring(ref), names(list)))
end
M.pick = pick

-- Fetches jobs with their stages (ATS) or assessments (Coderbyte).
local function fetch(S, name)
    local a = S.adapters[name]
    local body = {}
    if a.mod.kind == "coderbyte" then
        body.assessments = a.mod.assessments(a.ctx)
    else
        body.jobs = a.mod.jobs(a.ctx)
        for _, job in ipairs(body.jobs) do job.stages = a.mod.stages(a.ctx, job.id) end
    end
    return body
end

function M.refresh(S, only)
    local failures = {}
    for name in pairs(S.adapters) do
        if not only or only == name then
            local ok, body = pcall(fetch, S, name)
            if ok then
                host.journal("catalog_set", name, cjson.encode(body), host.now())
            else
                failures[#failures + 1] = name .. ": " .. tostring(type(body) == "table" and body.message or body)
                host.log("warn", "catalog refresh failed", { "source", name, "error", require("engine").mask(failures[#failures]) })
            end
        end
    end
    host.commit()
    return failures
end

function M.loop(S, every_ms)
    while true do
        M.refresh(S)
        host.sleep(every_ms)
    end
end

local function live_jobs(S, a)
    local cat = M.get(a.name)
    if cat and cat.jobs then return cat.jobs end
    return a.mod.jobs(a.ctx)
end

-- A name the stored catalog does not know may be new upstream: look again
-- live before failing (the catalog refreshes itself later).
function M.resolve_stage(S, a, job_ref, stage_ref)
    local upstream = require "upstream"
    local job, err = pick(live_jobs(S, a), job_ref, "job")
    if not job then job, err = pick(a.mod.jobs(a.ctx), job_ref, "job") end
    if not job then error(upstream.error(a.name .. ": " .. err, false), 0) end
    local stages = job.stages or a.mod.stages(a.ctx, job.id)
    local stage, serr = pick(stages, stage_ref, "stage")
    if not stage and job.stages then stage, serr = pick(a.mod.stages(a.ctx, job.id), stage_ref, "stage") end
    if not stage then error(upstream.error(("%s: %s in job '%s'"):format(a.name, serr, job.name), false), 0) end
    return job, stage
end

function M.resolve_assessment(S, cb, ref)
    local cat = M.get("coderbyte")
    local list = cat and cat.assessments or cb.mod.assessments(cb.ctx)
    local as = pick(list, ref, "assessment")
    if not as and cat then as = pick(cb.mod.assessments(cb.ctx), ref, "assessment") end
    if as then return as end
    return { id = tostring(ref), name = tostring(ref) }
end

function M.jobs(S, ats)
    local name = ats or S.ats_names[1]
    return live_jobs(S, S.adapters[name])
end

function M.stages(S, job, ats)
    local a = S.adapters[ats or S.ats_names[1]]
    local j = pick(live_jobs(S, a), job, "job")
    return j and (j.stages or a.mod.stages(a.ctx, j.id)) or {}
end

-- Fills names the upstream did not send (Coderbyte events carry ids only).
-- An assessment the stored catalog does not know triggers one catalog
-- refresh (a read, the only call atsflow makes on its own).
function M.name_event(ev, S)
    if not ev.assessment or ev.assessment.name or not S.adapters.coderbyte then return end
    local cat = M.get("coderbyte")
    local as = cat and by_ref(cat.assessments, ev.assessment.id)[1]
    if not as and host.in_task() then
        M.refresh(S, "coderbyte")
        cat = M.get("coderbyte")
        as = cat and by_ref(cat.assessments, ev.assessment.id)[1]
    end
    if as then ev.assessment.name = as.name end
end

local function note(set, a, msg, known)
    local line = ("%s:%d: %s"):format(a.file, a.line, msg)
    if known then set.errors[#set.errors + 1] = line else set.warnings[#set.warnings + 1] = line end
end

local function check_job_stage(set, a, cat, job_ref, stage_ref)
    if job_ref == "any_job" then
        local all = {}
        for _, j in ipairs(cat.jobs) do for _, s in ipairs(j.stages or {}) do all[#all + 1] = s end end
        if #by_ref(all, stage_ref) == 0 then
            note(set, a, ("unknown stage '%s' on any job%s"):format(tostring(stage_ref), util.suggest(tostring(stage_ref), names(all))), true)
        end
        return
    end
    local job, err = pick(cat.jobs, job_ref, "job")
    if not job then return note(set, a, err, true) end
    local _, serr = pick(job.stages, stage_ref, "stage")
    if serr then note(set, a, serr .. " in job '" .. job.name .. "'", true) end
end

-- Load-time check of names against the catalog (errors when it is known,
-- warnings when it was never fetched); read(source) reads a catalog
-- (default M.get: the journal).
function M.validate(set, S, read)
    read = read or M.get
    local cats = {} -- each catalog is read (and decoded) once, not once per automation
    local function get(name)
        if cats[name] == nil then cats[name] = read(name) or false end
        return cats[name] or nil
    end
    for _, a in ipairs(set.list) do
        local t = a.trigger
        if t.type == "applicant_moved_to_stage" then
            local ats = t.opts.ats or (#S.ats_names == 1 and S.ats_names[1])
            if not ats and #S.ats_names > 1 then
                note(set, a, "applicant_moved_to_stage: more than one ATS is configured, name one with ats = \"…\"", true)
            elseif t.opts.ats and not S.cfg.ats[t.opts.ats] then
                note(set, a, ("ats '%s' is not configured%s"):format(t.opts.ats, util.suggest(t.opts.ats, S.ats_names)), true)
            else
                local cat = get(ats)
                if cat and cat.jobs then check_job_stage(set, a, cat, t.opts.job, t.opts.stage) end
            end
        end
        local cb = get("coderbyte")
        local refs = {}
        if t.opts.assessment then refs[#refs + 1] = t.opts.assessment end
        for _, act in ipairs(require("dsl").action_list(a.action)) do
            if type(act) == "table" and act.type == "send_assessment_invite" then refs[#refs + 1] = act.opts.assessment end
            if type(act) == "table" and act.type == "move_to_stage" then
                local cat = get(S.ats_names[1])
                if cat and cat.jobs and #S.ats_names == 1 then check_job_stage(set, a, cat, act.opts.job, act.opts.stage) end
            end
        end
        for _, ref in ipairs(refs) do
            if cb and cb.assessments then
                local _, err = pick(cb.assessments, ref, "assessment")
                if err then note(set, a, err, true) end
            end
        end
    end
    -- the upstreams of the config (S.adapters may not be made yet)
    local upstreams = util.keys(S.cfg.ats)
    if S.cfg.coderbyte then upstreams[#upstreams + 1] = "coderbyte" end
    for _, name in ipairs(upstreams) do
        if not get(name) and #set.list > 0 then
            set.warnings[#set.warnings + 1] = ("catalog of %s never fetched: names are matched at run time (run `atsflow catalog refresh`)"):format(name)
        end
    end
end

return M
