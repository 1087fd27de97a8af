-- Ashby adapter: Ashby's RPC API (every call `POST /<method>` with a JSON
-- body, Basic auth with the API key; `{ success, results }` answers) and
-- Ashby webhooks (spec: adapters.md, Ashby section). `success = false` is an
-- error even with HTTP 200. Candidates can be merged (ids change), so events
-- key on application ids. Relies on the host ctx (adapters/README.md);
-- keeps no state.
local common = require "adapters.common"

local M = {
    name = "ashby",
    kind = "ats",
    -- parse makes no upstream call: the intake's parse is reused (engine.lua)
    parse_is_pure = true,
    config = {
        required = { "api_key", "webhook_secret" },
        optional = { "base_url", "duplicate_candidates" },
        secrets = { "api_key", "webhook_secret" },
    },
    -- The spec names no rate limit and Ashby sends no documented rate
    -- headers (so there is no rate_headers): a conservative bucket; 429s
    -- are still retried by the host.
    limits = { rate = 5, burst = 10 },
}

local DEFAULT_BASE = "https://api.ashbyhq.com"
local PAGE_LIMIT = 100

-- The message of a `success = false` answer (3p: `errors` as strings or
-- objects, or `errorInfo { code, message }`).
local function error_message(j)
    local parts = {}
    for _, e in ipairs(common.list(j.errors)) do
        if type(e) == "table" then
            parts[#parts + 1] = common.str(e.message) or common.str(e.code)
        else
            parts[#parts + 1] = common.str(e)
        end
    end
    local info = common.tab(j.errorInfo)
    if info then
        parts[#parts + 1] = common.str(info.message) or common.str(info.code)
    end
    if #parts == 0 then
        return "success is false"
    end
    return table.concat(parts, "; ")
end

-- One RPC call; returns the decoded answer after checking HTTP and success.
local function call(ctx, method, body, what)
    local res = ctx.http {
        method = "POST",
        url = common.base(ctx.cfg.base_url or DEFAULT_BASE) .. "/" .. method,
        json = body,
        auth = { basic = { ctx.cfg.api_key, "" } },
    }
    ctx.expect(res, { 200 }, what)
    local j = common.tab(res.json)
    if not j then
        ctx.fail(what .. ": the answer is not a JSON object", true)
    end
    if j.success ~= true then
        ctx.fail(what .. ": " .. error_message(j), false)
    end
    return j
end

local function results(ctx, method, body, what)
    return common.tab(call(ctx, method, body, what).results) or {}
end

-- Every result of a paginated method: `cursor` in, `moreDataAvailable` and
-- `nextCursor` out.
local function list(ctx, method, body, what)
    local items, req = {}, common.copy(body)
    while true do
        local j = call(ctx, method, req, what)
        for _, it in ipairs(common.list(j.results)) do
            items[#items + 1] = it
        end
        if j.moreDataAvailable ~= true or not common.str(j.nextCursor) then
            return items
        end
        req = common.copy(body)
        req.cursor = j.nextCursor
    end
end

---------------------------------------------------------------- catalog

function M.jobs(ctx)
    local out = {}
    for _, j in ipairs(list(ctx, "job.list", { limit = PAGE_LIMIT }, "ashby list jobs")) do
        out[#out + 1] = { id = common.id(ctx, j.id), name = common.str(j.title) }
    end
    return out
end

-- The interview plans of a job (3p: job.info takes { id } and answers
-- `interviewPlanIds`, else `defaultInterviewPlanId`).
local function interview_plans(ctx, job_id)
    local job = results(ctx, "job.info", { id = job_id }, "ashby get job")
    local plans = common.add_unique({}, common.list(job.interviewPlanIds))
    if #plans == 0 then
        common.add_unique(plans, { common.str(job.defaultInterviewPlanId) })
    end
    return plans
end

-- Stages of every plan of the job, each plan's in its order.
function M.stages(ctx, job_id)
    local out, seen = {}, {}
    for _, plan in ipairs(interview_plans(ctx, job_id)) do
        local rows = list(ctx, "interviewStage.list", { interviewPlanId = plan },
            "ashby list stages")
        for _, s in ipairs(rows) do
            local id = common.id(ctx, s.id)
            if id and not seen[id] then
                seen[id] = true
                out[#out + 1] = { id = id, name = common.str(s.title) }
            end
        end
    end
    return out
end

---------------------------------------------------------------- reads

-- Every email of a candidate: the primary one (doc) and any others (3p:
-- `emailAddresses[].value`).
local function emails_of(c)
    local out = {}
    local primary = common.tab(c.primaryEmailAddress)
    if primary then
        common.add_unique(out, { primary.value })
    end
    return common.add_unique(out, common.values(c.emailAddresses))
end

local function candidate_of(ctx, c)
    return { id = common.id(ctx, c.id), name = common.str(c.name), emails = emails_of(c) }
end

local function stage_of(ctx, app)
    local s = common.tab(app.currentInterviewStage) or {}
    return { id = common.id(ctx, s.id), name = common.str(s.title) }
end

local function read_application(ctx, id)
    return results(ctx, "application.info", { applicationId = id }, "ashby get application")
end

function M.application(ctx, id)
    local app = read_application(ctx, id)
    local job = common.tab(app.job) or {}
    return {
        id = common.id(ctx, app.id),
        candidate = candidate_of(ctx, common.tab(app.candidate) or {}),
        job = { id = common.id(ctx, job.id), name = common.str(job.title) },
        stage = stage_of(ctx, app),
        status = common.str(app.status),
    }
end

function M.find_candidates(ctx, email)
    local out = {}
    for _, c in ipairs(list(ctx, "candidate.search", { email = email }, "ashby find candidates")) do
        local cand = candidate_of(ctx, c)
        cand.application_ids = {}
        for _, id in ipairs(common.list(c.applicationIds)) do
            cand.application_ids[#cand.application_ids + 1] = common.id(ctx, id)
        end
        out[#out + 1] = cand
    end
    return out
end

---------------------------------------------------------------- writes

function M.move_to_stage(ctx, app_id, stage_id)
    local from = stage_of(ctx, read_application(ctx, app_id)).id
    if from == stage_id then
        return { moved = false, from = from }
    end
    call(ctx, "application.changeStage", { applicationId = app_id, interviewStageId = stage_id },
        "ashby move application")
    return { moved = true, from = from }
end

function M.add_note(ctx, cand, text)
    local body = { candidateId = cand.id, note = text }
    local note = results(ctx, "candidate.createNote", body, "ashby add note")
    return { id = common.id(ctx, note.id) }
end

-- Whether a note of the candidate contains `marker`. The method
-- (candidate.listNotes { candidateId }) and the text field (`content`, or
-- `note`) are unconfirmed (?).
function M.has_note(ctx, cand, marker)
    local notes = list(ctx, "candidate.listNotes", { candidateId = cand.id }, "ashby list notes")
    for _, n in ipairs(notes) do
        for _, text in pairs { common.str(n.content), common.str(n.note) } do
            if text:find(marker, 1, true) then
                return true
            end
        end
    end
    return false
end

local function existing_tag_id(ctx, title)
    for _, t in ipairs(list(ctx, "candidateTag.list", {}, "ashby list tags")) do
        if t.title == title then
            return common.id(ctx, t.id)
        end
    end
    return nil
end

local function tag_id(ctx, title)
    local known = existing_tag_id(ctx, title)
    if known then
        return known
    end
    local ok, t = pcall(results, ctx, "candidateTag.create", { title = title }, "ashby create tag")
    if not ok then
        -- another run may have created it since we listed (runs are concurrent)
        known = type(t) == "table" and t.upstream and not t.retryable and existing_tag_id(ctx, title)
        if known then
            return known
        end
        error(t, 0)
    end
    local id = common.id(ctx, t.id)
    if not id then
        ctx.fail("ashby create tag: the answer has no id", false)
    end
    return id
end

-- The tag ids a candidate already has (3p: candidate.info { id } answers
-- `tags [{ id, title }]`).
local function candidate_tag_ids(ctx, cand_id)
    local c = results(ctx, "candidate.info", { id = cand_id }, "ashby get candidate")
    local ids = {}
    for _, t in ipairs(common.list(c.tags)) do
        ids[#ids + 1] = common.id(ctx, type(t) == "table" and t.id or t)
    end
    return ids
end

function M.add_tag(ctx, cand, tag)
    local tid = tag_id(ctx, tag)
    for _, have in ipairs(candidate_tag_ids(ctx, cand.id)) do
        if have == tid then
            return true
        end
    end
    call(ctx, "candidate.addTag", { candidateId = cand.id, tagId = tid }, "ashby add tag")
    return true
end

---------------------------------------------------------------- webhooks

-- `Ashby-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (doc). Ashby
-- sends it only when the webhook has a secret; atsflow requires one.
function M.verify(ctx, req)
    local h = req.headers["ashby-signature"]
    if type(h) ~= "string" then
        return false, "missing Ashby-Signature header"
    end
    local hex = h:match("^%s*sha256=(%x+)%s*$")
    if not hex then
        return false, "malformed Ashby-Signature header"
    end
    return common.check_hex(ctx, ctx.cfg.webhook_secret, req.body, hex)
end

-- webhookActionId is shared by related events of one action, so the dedupe
-- key is webhookActionId .. ":" .. action.
function M.delivery_id(ctx, req)
    local b = ctx.json.decode(req.body or "")
    local wid = type(b) == "table" and common.id(ctx, b.webhookActionId)
    if not wid then
        return common.body_digest(ctx, req.body)
    end
    return wid .. ":" .. tostring(common.str(b.action))
end

local function stage_change(ctx, data)
    local app = common.tab(data.application)
    if not app then
        error("payload not understood: candidateStageChange without data.application", 0)
    end
    local stage = stage_of(ctx, app)
    if not (common.id(ctx, app.id) and stage.id) then -- ids must be ids, not merely present
        error("payload not understood: candidateStageChange without application or stage id", 0)
    end
    local job = common.tab(app.job) or {}
    return {
        type = "applicant.moved_to_stage",
        candidate = candidate_of(ctx, common.tab(app.candidate) or {}),
        application = { id = common.id(ctx, app.id) },
        job = { id = common.id(ctx, job.id), name = common.str(job.title) },
        stage = stage,
    }
end

function M.parse(ctx, req)
    local body = common.decode(ctx, req.body)
    if body.action == "ping" then
        return { ping = true, reply = { status = 200, body = "ok" } }
    end
    if body.action ~= "candidateStageChange" then
        return {}
    end
    return common.events(stage_change(ctx, common.tab(body.data) or {}), body)
end

return M
