-- Workable adapter: Workable SPI v3 (bearer token; writes name the acting
-- `member_id` in the body) and Workable webhooks (spec: adapters.md,
-- Workable section). A Workable candidate record is one person on one job,
-- so it is both the candidate and the application. Workable reports a
-- candidate's stage by name but moves by slug: the job's stages are cached
-- in ctx.cache.stages to translate. Relies on the host ctx
-- (adapters/README.md).
local common = require "adapters.common"

local M = {
    name = "workable",
    kind = "ats",
    -- parse makes no upstream call: the intake's parse is reused (engine.lua)
    parse_is_pure = true,
    config = {
        required = { "subdomain", "token", "member_id", "webhook_secret" },
        optional = { "base_url", "duplicate_candidates" },
        secrets = { "token", "webhook_secret" },
    },
    -- (doc) 10 requests per 10 s for account tokens.
    limits = { rate = 1, burst = 10, window = 10 }, -- 10 requests per 10 s (doc)
}

local STAGE_TTL_MS = 10 * 60 * 1000

local function base(ctx)
    local origin = ctx.cfg.base_url
        or ("https://" .. tostring(ctx.cfg.subdomain) .. ".workable.com")
    return common.base(origin) .. "/spi/v3"
end

local function api(ctx, req, ok, what)
    req.auth = { bearer = ctx.cfg.token }
    return ctx.expect(ctx.http(req), ok, what)
end

-- Every item under `key` of a list. Pages follow `paging.next`, a full URL
-- that must stay under base_url so the token is never sent elsewhere.
local function list(ctx, path, query, key, what)
    local b = base(ctx)
    local items = {}
    local req = { method = "GET", url = b .. path, query = query }
    while req do
        local page = common.tab(api(ctx, req, { 200 }, what).json) or {}
        for _, it in ipairs(common.list(page[key])) do
            items[#items + 1] = it
        end
        local nxt = common.str((common.tab(page.paging) or {}).next)
        req = nil
        if nxt and nxt ~= "" then
            if nxt:sub(1, #b + 1) ~= b .. "/" then
                ctx.fail(what .. ": next-page link leaves base_url", false)
            end
            req = { method = "GET", url = nxt }
        end
    end
    return items
end

local function candidate_path(ctx, id, rest)
    return base(ctx) .. "/candidates/" .. common.seg(ctx, id) .. (rest or "")
end

---------------------------------------------------------------- catalog

-- Jobs are keyed by shortcode.
function M.jobs(ctx)
    local out = {}
    for _, j in ipairs(list(ctx, "/jobs", nil, "jobs", "workable list jobs")) do
        out[#out + 1] = { id = common.str(j.shortcode), name = common.str(j.title) }
    end
    return out
end

-- Stages are keyed by slug, in pipeline order (position, then as listed).
-- Refreshes the name-to-slug cache of the job.
function M.stages(ctx, shortcode)
    local path = "/jobs/" .. common.seg(ctx, shortcode) .. "/stages"
    local rows = list(ctx, path, nil, "stages", "workable list stages")
    local keyed = {}
    for i, s in ipairs(rows) do
        keyed[i] = { i = i, pos = tonumber(s.position) or math.huge, s = s }
    end
    table.sort(keyed, function(a, b)
        if a.pos ~= b.pos then
            return a.pos < b.pos
        end
        return a.i < b.i
    end)
    local out = {}
    for _, k in ipairs(keyed) do
        out[#out + 1] = { id = common.str(k.s.slug), name = common.str(k.s.name) }
    end
    ctx.cache.stages = ctx.cache.stages or {}
    ctx.cache.stages[shortcode] = { at = ctx.now(), list = out }
    return out
end

-- The slug of the stage named `name` on a job, from the cache when fresh,
-- else from a new stage list.
local function stage_slug(ctx, shortcode, name)
    local function find(stages)
        for _, s in ipairs(stages) do
            if s.name == name then
                return s.id
            end
        end
        return nil
    end
    local c = ctx.cache.stages and ctx.cache.stages[shortcode]
    local slug = c and ctx.now() - c.at <= STAGE_TTL_MS and find(c.list)
    if slug then
        return slug
    end
    return find(M.stages(ctx, shortcode))
end

---------------------------------------------------------------- reads

-- The stage of a candidate record or webhook: `stage` is the stage's name
-- (3p; an object { slug, name } is taken as well), resolved to the slug on
-- the candidate's job.
local function stage_of(ctx, c)
    local st = c.stage
    if type(st) == "table" then
        return { id = common.str(st.slug), name = common.str(st.name) }
    end
    local name = common.str(st)
    local shortcode = common.str((common.tab(c.job) or {}).shortcode)
    local stage = { name = name }
    if name and shortcode then
        stage.id = stage_slug(ctx, shortcode, name)
    end
    return stage
end

local function candidate_of(ctx, c)
    return {
        id = common.id(ctx, c.id),
        name = common.str(c.name),
        emails = common.add_unique({}, { c.email }),
    }
end

local function job_of(c)
    local job = common.tab(c.job) or {}
    return { id = common.str(job.shortcode), name = common.str(job.title) }
end

local function read_candidate(ctx, id)
    local what = "workable get candidate"
    local res = api(ctx, { method = "GET", url = candidate_path(ctx, id) }, { 200 }, what)
    local c = common.tab((common.tab(res.json) or {}).candidate)
    if not c then
        ctx.fail(what .. ": the answer has no candidate", false)
    end
    return c
end

function M.application(ctx, id)
    local c = read_candidate(ctx, id)
    return {
        id = common.id(ctx, c.id),
        candidate = candidate_of(ctx, c),
        job = job_of(c),
        stage = stage_of(ctx, c),
        status = c.disqualified == true and "disqualified" or "active",
    }
end

-- Every candidate record with that email; each is one application.
function M.find_candidates(ctx, email)
    local out = {}
    local found = list(ctx, "/candidates", { email = email }, "candidates",
        "workable find candidates")
    for _, c in ipairs(found) do
        local cand = candidate_of(ctx, c)
        cand.application_ids = { cand.id }
        out[#out + 1] = cand
    end
    return out
end

---------------------------------------------------------------- writes

function M.move_to_stage(ctx, app_id, stage_id)
    local from = stage_of(ctx, read_candidate(ctx, app_id)).id
    if from == stage_id then
        return { moved = false, from = from }
    end
    api(ctx, {
        method = "POST",
        url = candidate_path(ctx, app_id, "/move"),
        json = { member_id = ctx.cfg.member_id, target_stage = stage_id },
    }, { 200, 201, 204 }, "workable move candidate")
    return { moved = true, from = from }
end

function M.add_note(ctx, cand, text)
    local res = api(ctx, {
        method = "POST",
        url = candidate_path(ctx, cand.id, "/comments"),
        json = { member_id = ctx.cfg.member_id, comment = { body = text } },
    }, { 200, 201 }, "workable add comment")
    return { id = common.id(ctx, (common.tab(res.json) or {}).id) }
end

-- Whether a comment on the candidate contains `marker`. Reading comments
-- back through GET /candidates/{id}/activities and their `body` is
-- unconfirmed (?).
function M.has_note(ctx, cand, marker)
    local path = "/candidates/" .. common.seg(ctx, cand.id) .. "/activities"
    local acts = list(ctx, path, nil, "activities", "workable list activities")
    for _, act in ipairs(acts) do
        if type(act.body) == "string" and act.body:find(marker, 1, true) then
            return true
        end
    end
    return false
end

-- PUT /candidates/{id}/tags replaces the whole list (doc): read, add, write.
function M.add_tag(ctx, cand, tag)
    local tags = {}
    for _, t in ipairs(common.list(read_candidate(ctx, cand.id).tags)) do
        if t == tag then
            return true
        end
        tags[#tags + 1] = t
    end
    tags[#tags + 1] = tag
    local url = candidate_path(ctx, cand.id, "/tags")
    api(ctx, { method = "PUT", url = url, json = { tags = tags } }, { 200, 201, 204 },
        "workable set tags")
    return true
end

-- X-Rate-Limit-* (doc); the reset is taken as epoch seconds (?).
function M.rate_headers(res)
    return common.rate_headers(res, "x-rate-limit-limit", "x-rate-limit-remaining",
        "x-rate-limit-reset")
end

---------------------------------------------------------------- webhooks

-- `X-Workable-Signature`: HMAC-SHA256 of the raw body (doc), lowercase hex
-- (3p).
function M.verify(ctx, req)
    local sig = req.headers["x-workable-signature"]
    if type(sig) ~= "string" then
        return false, "missing X-Workable-Signature header"
    end
    return common.check_hex(ctx, ctx.cfg.webhook_secret, req.body, sig:match("^%s*(.-)%s*$"))
end

-- The envelope's `id` (3p).
function M.delivery_id(ctx, req)
    local b = ctx.json.decode(req.body or "")
    return type(b) == "table" and common.id(ctx, b.id) or common.body_digest(ctx, req.body)
end

-- `candidate_moved` (3p envelope { id, event_type, fired_at, resource_type,
-- data }) with the candidate as it was when sent.
local function moved(ctx, data)
    local stage = stage_of(ctx, data)
    if not (common.id(ctx, data.id) and stage.name) then
        error("payload not understood: candidate_moved without candidate id or stage", 0)
    end
    if not stage.id then
        error("payload not understood: stage '" .. stage.name
            .. "' is not a stage of the candidate's job", 0)
    end
    return {
        type = "applicant.moved_to_stage",
        candidate = candidate_of(ctx, data),
        application = { id = common.id(ctx, data.id) },
        job = job_of(data),
        stage = stage,
    }
end

function M.parse(ctx, req)
    local body = common.decode(ctx, req.body)
    if body.event_type ~= "candidate_moved" then
        return {}
    end
    return common.events(moved(ctx, common.tab(body.data) or {}), body)
end

return M
