-- sandbox: the adapter of the built-in simulated ATS (runtime/lua/sim.lua,
-- served by the daemon under /sandbox/ats), and of any in-house ATS that
-- posts canonical events (spec adapters.md, Sandbox). Webhooks are canonical
-- events, one or an array, signed with Standard Webhooks; the API is a small
-- JSON REST API at `base_url` (the host points it at its own /sandbox/ats).
-- Relies on the host ctx (adapters/README.md); keeps no state.
local common = require "adapters.common"
local stdwebhooks = require "stdwebhooks"

local M = {
    name = "sandbox",
    kind = "ats",
    -- parse makes no upstream call: the intake's parse is reused (engine.lua)
    parse_is_pure = true,
    config = {
        -- nothing is required: the host generates and keeps the secret
        required = {},
        optional = { "webhook_secret", "base_url" },
        secrets = { "webhook_secret" },
    },
    -- a loopback simulator: the bucket only guards against runaway loops
    limits = { rate = 100, burst = 100 },
}

local TOLERANCE = 300 -- seconds, both ways (Standard Webhooks default)

-- Canonical members whose `id` crosses the contract and must be a string.
local MEMBERS = { "candidate", "application", "job", "stage", "previous_stage", "assessment", "interview" }

-- Required members per type (spec events.md) where the sandbox can be held
-- to them; other types keep whatever they carry.
local REQUIRED = {
    ["applicant.moved_to_stage"] = { "candidate", "application", "job", "stage" },
}

---------------------------------------------------------------- webhooks

function M.verify(ctx, req)
    local secret = ctx.cfg.webhook_secret
    if type(secret) ~= "string" or secret == "" then
        return false, "webhook secret is not configured"
    end
    if type(req.body) ~= "string" then
        return false, "missing body"
    end
    return stdwebhooks.verify(secret, req.headers or {}, req.body, ctx.now() // 1000, TOLERANCE)
end

-- Standard Webhooks' message id is stable across redeliveries.
function M.delivery_id(ctx, req)
    return req.headers["webhook-id"]
end

local function bad(n, msg)
    error(("payload not understood: event %d: %s"):format(n, msg), 0)
end

-- A member as received, minus JSON nulls, with its id as a string.
local function member(ctx, n, name, v)
    if v == nil or type(v) == "userdata" then
        return nil
    end
    if type(v) ~= "table" then
        bad(n, name .. " is not an object")
    end
    local out = common.copy(v)
    out.id = common.id(ctx, v.id)
    return out
end

local function candidate_emails(n, cand)
    if cand.emails == nil or type(cand.emails) == "userdata" then
        cand.emails = nil
        return
    end
    if type(cand.emails) ~= "table" then
        bad(n, "candidate.emails is not a list")
    end
    for _, e in ipairs(cand.emails) do
        if type(e) ~= "string" then
            bad(n, "candidate.emails holds a non-string")
        end
    end
end

-- One received event -> the canonical event (fields kept, ids as strings).
-- id, source and received_at are atsflow's, never the sender's: the id must
-- be stable per delivery (dedupe) and the time is when atsflow got it.
local function event_of(ctx, n, raw)
    if type(raw) ~= "table" then
        bad(n, "not an object")
    end
    if type(raw.type) ~= "string" or raw.type == "" then
        bad(n, "missing field type")
    end
    local ev = common.copy(raw)
    ev.id, ev.source, ev.received_at = nil, nil, nil
    for _, name in ipairs(MEMBERS) do
        ev[name] = member(ctx, n, name, raw[name])
    end
    if ev.candidate then
        candidate_emails(n, ev.candidate)
    end
    for _, name in ipairs(REQUIRED[ev.type] or {}) do
        if not (ev[name] and ev[name].id) then
            bad(n, ev.type .. " without " .. name .. ".id")
        end
    end
    return ev
end

-- The body's events: one object, or an array of them (an empty array is a
-- delivery with nothing atsflow uses).
local function received(ctx, body)
    local v = ctx.json.decode(body or "")
    if type(v) ~= "table" then
        error("payload not understood: body is not JSON", 0)
    end
    if body:match("^%s*%[") then
        return v
    end
    return { v }
end

function M.parse(ctx, req)
    local raws = received(ctx, req.body)
    local events = {}
    for n, raw in ipairs(raws) do
        events[n] = event_of(ctx, n, raw)
    end
    -- raw is each event as received, decoded again so it shares no table
    -- with the event (the journal encodes both)
    local copies = received(ctx, req.body)
    local source = ctx.name or M.name
    common.stamp(source, M.delivery_id(ctx, req), events, nil)
    for n, ev in ipairs(events) do
        ev.raw = copies[n]
    end
    return events
end

---------------------------------------------------------------- API

local function url(ctx, path)
    local base = common.str(ctx.cfg.base_url)
    if not base or base == "" then
        ctx.fail("base_url is not set (the host points it at /sandbox/ats)", false)
    end
    return common.base(base) .. path
end

local function get(ctx, path, what, query)
    local res = ctx.http { method = "GET", url = url(ctx, path), query = query }
    ctx.expect(res, { 200 }, what)
    return res.json
end

local function post(ctx, path, body, ok_statuses, what)
    local res = ctx.http { method = "POST", url = url(ctx, path), json = body }
    ctx.expect(res, ok_statuses, what)
    return res.json
end

-- The answer as a JSON array, else a permanent failure (a wrong base_url
-- answering HTML would otherwise look like "no results").
local function array(ctx, v, what)
    if type(v) ~= "table" then
        ctx.fail(what .. ": the answer is not a JSON array", false)
    end
    return v
end

local function named(ctx, v)
    v = common.tab(v) or {}
    return { id = common.id(ctx, v.id), name = common.str(v.name) }
end

local function emails(v)
    return common.add_unique({}, common.list(v))
end

local function ids(ctx, v)
    local out = {}
    for _, id in ipairs(common.list(v)) do
        out[#out + 1] = common.id(ctx, id)
    end
    return out
end

local function seg(ctx, id)
    return common.seg(ctx, ctx.id(id))
end

function M.jobs(ctx)
    local out = {}
    for _, j in ipairs(array(ctx, get(ctx, "/jobs", "sandbox list jobs"), "sandbox list jobs")) do
        out[#out + 1] = named(ctx, j)
    end
    return out
end

function M.stages(ctx, job_id)
    local what = "sandbox list stages"
    local out = {}
    for _, s in ipairs(array(ctx, get(ctx, "/jobs/" .. seg(ctx, job_id) .. "/stages", what), what)) do
        out[#out + 1] = named(ctx, s)
    end
    return out
end

function M.application(ctx, id)
    local what = "sandbox get application"
    local a = common.tab(get(ctx, "/applications/" .. seg(ctx, id), what))
    if not a then
        ctx.fail(what .. ": the answer is not a JSON object", false)
    end
    local c = common.tab(a.candidate) or {}
    return {
        id = common.id(ctx, a.id),
        candidate = { id = common.id(ctx, c.id), name = common.str(c.name), emails = emails(c.emails) },
        job = named(ctx, a.job),
        stage = named(ctx, a.stage),
        status = common.str(a.status),
    }
end

function M.find_candidates(ctx, email)
    local what = "sandbox find candidates"
    local out = {}
    for _, c in ipairs(array(ctx, get(ctx, "/candidates", what, { email = email }), what)) do
        out[#out + 1] = {
            id = common.id(ctx, c.id),
            name = common.str(c.name),
            emails = emails(c.emails),
            application_ids = ids(ctx, c.application_ids),
        }
    end
    return out
end

-- Reads first so that a repeated step (or a move already made by a person)
-- is success without a second write.
function M.move_to_stage(ctx, app_id, stage_id)
    local from = M.application(ctx, app_id).stage.id
    if from == ctx.id(stage_id) then
        return { moved = false, from = from }
    end
    post(ctx, "/applications/" .. seg(ctx, app_id) .. "/move", { stage_id = ctx.id(stage_id) }, { 200 },
        "sandbox move application")
    return { moved = true, from = from }
end

function M.add_note(ctx, cand, text)
    local j = post(ctx, "/candidates/" .. seg(ctx, cand.id) .. "/notes", { body = text }, { 200, 201 },
        "sandbox add note")
    local id = common.id(ctx, (common.tab(j) or {}).id)
    if not id then
        ctx.fail("sandbox add note: the answer has no id", false)
    end
    return { id = id }
end

function M.has_note(ctx, cand, marker)
    local what = "sandbox list notes"
    for _, n in ipairs(array(ctx, get(ctx, "/candidates/" .. seg(ctx, cand.id) .. "/notes", what), what)) do
        local body = common.str((common.tab(n) or {}).body)
        if body and body:find(marker, 1, true) then
            return true
        end
    end
    return false
end

-- Tags the candidate has, as a set; items are tag strings or { tag }.
local function tags_of(ctx, cand_id)
    local what = "sandbox list tags"
    local set = {}
    for _, t in ipairs(array(ctx, get(ctx, "/candidates/" .. seg(ctx, cand_id) .. "/tags", what), what)) do
        local name = common.str(t) or common.str((common.tab(t) or {}).tag)
        if name then
            set[name] = true
        end
    end
    return set
end

-- Idempotent even against an in-house ATS whose POST is not: read first.
function M.add_tag(ctx, cand, tag)
    if tags_of(ctx, cand.id)[tag] then
        return true
    end
    post(ctx, "/candidates/" .. seg(ctx, cand.id) .. "/tags", { tag = tag }, { 200, 201 }, "sandbox add tag")
    return true
end

return M
