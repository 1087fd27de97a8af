-- Lever adapter: Lever API v1 (Basic auth with the API key; writes act as
-- `perform_as`) and Lever webhooks (spec: adapters.md, Lever section). The
-- webhook body is not signed — only `token .. triggeredAt` is — so parse
-- re-fetches the opportunity and acts only on the fetched state. Stage and
-- posting names are cached in ctx.cache.stages and ctx.cache.postings.
-- Relies on the host ctx (adapters/README.md). Nearly every Lever fact is
-- (3p): each shape that no two sources agree on sits in one named local
-- function.
local common = require "adapters.common"

local M = {
    name = "lever",
    kind = "ats",
    config = {
        required = { "api_key", "perform_as", "signature_token" },
        optional = { "base_url", "max_age", "duplicate_candidates" },
        secrets = { "api_key", "signature_token" },
    },
    -- (3p) 10 requests per second, bursts of 20; Lever sends no rate-limit
    -- headers that any source documents, so there is no rate_headers.
    limits = { rate = 10, burst = 20 },
}

local DEFAULT_BASE = "https://api.lever.co"
local DEFAULT_MAX_AGE = "24h"
local CATALOG_TTL_MS = 10 * 60 * 1000 -- stage and posting names

local function base(ctx)
    return common.base(ctx.cfg.base_url or DEFAULT_BASE) .. "/v1"
end

local function api(ctx, req, ok, what)
    req.auth = { basic = { ctx.cfg.api_key, "" } }
    return ctx.expect(ctx.http(req), ok, what)
end

-- The `data` object of an answer.
local function data_of(ctx, res, what)
    local d = common.tab((common.tab(res.json) or {}).data)
    if not d then
        ctx.fail(what .. ": the answer has no data", false)
    end
    return d
end

-- Every item of a list: `{ data, next, hasNext }`, the next page asked for
-- with `offset=<next>` next to the first request's filters.
local function list(ctx, path, query, what)
    local items = {}
    local q = common.copy(query)
    while true do
        local res = api(ctx, { method = "GET", url = base(ctx) .. path, query = q }, { 200 }, what)
        local page = common.tab(res.json) or {}
        for _, it in ipairs(common.list(page.data)) do
            items[#items + 1] = it
        end
        if page.hasNext ~= true or not common.str(page.next) then
            return items
        end
        q = common.copy(query)
        q.offset = page.next
    end
end

local function writes(ctx)
    return { perform_as = ctx.cfg.perform_as }
end

---------------------------------------------------------------- catalog

-- An id-to-name list (stages, postings) as { { id, name }, … }, also kept
-- in ctx.cache[key] for the name look-ups of parse and application.
local function load_names(ctx, key, path, what)
    local out, names = {}, {}
    for _, it in ipairs(list(ctx, path, {}, what)) do
        local id = type(it) == "table" and common.id(ctx, it.id) or nil
        if id then -- an item without an id names nothing
            out[#out + 1] = { id = id, name = common.str(it.text) }
            names[id] = common.str(it.text)
        end
    end
    ctx.cache[key] = { at = ctx.now(), names = names }
    return out
end

local function load_stages(ctx)
    return load_names(ctx, "stages", "/stages", "lever list stages")
end

local function load_postings(ctx)
    return load_names(ctx, "postings", "/postings", "lever list postings")
end

-- A name from the cached list, reloaded when older than CATALOG_TTL_MS or
-- when it does not know the id.
local function cached_name(ctx, key, load, id)
    if id == nil then
        return nil
    end
    local c = ctx.cache[key]
    if not c or ctx.now() - c.at > CATALOG_TTL_MS or c.names[id] == nil then
        load(ctx)
        c = ctx.cache[key]
    end
    return c.names[id]
end

local function stage_name(ctx, id)
    return cached_name(ctx, "stages", load_stages, id)
end

-- Jobs are postings.
function M.jobs(ctx)
    return load_postings(ctx)
end

-- Stages are account-wide: every job has the same list.
function M.stages(ctx, job_id)
    return load_stages(ctx)
end

---------------------------------------------------------------- reads

local function opportunity(ctx, id, expand)
    local what = "lever get opportunity"
    local res = api(ctx, {
        method = "GET",
        url = base(ctx) .. "/opportunities/" .. common.seg(ctx, id),
        query = expand and { expand = "applications" } or nil,
    }, { 200 }, what)
    return data_of(ctx, res, what)
end

-- The current stage id of an opportunity: a bare id, or { id, text } when
-- expanded (3p).
local function stage_of(ctx, opp)
    local s = opp.stage
    if type(s) == "table" then
        return common.id(ctx, s.id)
    end
    return common.id(ctx, s)
end

-- The opportunity's job posting (3p): with expand=applications its one
-- application names the posting id; the name comes from the postings list
-- (cached like the stages).
local function posting_of(ctx, opp)
    local app = common.tab(common.list(opp.applications)[1])
    local p = app and app.posting
    local pid = common.id(ctx, type(p) == "table" and p.id or p)
    if not pid then
        return nil
    end
    return { id = pid, name = cached_name(ctx, "postings", load_postings, pid) }
end

-- The person behind an opportunity is its contact (3p); emails are strings.
local function candidate_of(ctx, opp)
    return {
        id = common.id(ctx, opp.contact),
        name = common.str(opp.name),
        emails = common.add_unique({}, common.list(opp.emails)),
    }
end

function M.application(ctx, id)
    local opp = opportunity(ctx, id, true)
    local sid = stage_of(ctx, opp)
    return {
        id = common.id(ctx, opp.id),
        candidate = candidate_of(ctx, opp),
        job = posting_of(ctx, opp) or {},
        stage = { id = sid, name = stage_name(ctx, sid) },
        status = common.tab(opp.archived) and "archived" or "active",
    }
end

-- Opportunities with that email, one candidate per contact.
function M.find_candidates(ctx, email)
    local out, by_contact = {}, {}
    local opps = list(ctx, "/opportunities", { email = email }, "lever find opportunities")
    for _, opp in ipairs(opps) do
        local c = candidate_of(ctx, opp)
        local key = c.id or common.id(ctx, opp.id)
        local have = by_contact[key]
        if not have then
            have = { id = c.id, name = c.name, emails = c.emails, application_ids = {} }
            by_contact[key] = have
            out[#out + 1] = have
        else
            common.add_unique(have.emails, c.emails)
        end
        have.application_ids[#have.application_ids + 1] = common.id(ctx, opp.id)
    end
    return out
end

---------------------------------------------------------------- writes

function M.move_to_stage(ctx, app_id, stage_id)
    local from = stage_of(ctx, opportunity(ctx, app_id))
    if from == stage_id then
        return { moved = false, from = from }
    end
    api(ctx, {
        method = "PUT",
        url = base(ctx) .. "/opportunities/" .. common.seg(ctx, app_id) .. "/stage",
        query = writes(ctx),
        json = { stage = stage_id },
    }, { 200 }, "lever move opportunity")
    return { moved = true, from = from }
end

-- Notes and tags live on opportunities (Lever's applications), so the
-- candidate must come with its application id.
local function opportunity_id(ctx, cand, what)
    if not cand.application_id then
        ctx.fail(what .. ": Lever notes and tags live on opportunities; "
            .. "the candidate's application_id is required", false)
    end
    return cand.application_id
end

function M.add_note(ctx, cand, text)
    local what = "lever add note"
    local id = opportunity_id(ctx, cand, what)
    local res = api(ctx, {
        method = "POST",
        url = base(ctx) .. "/opportunities/" .. common.seg(ctx, id) .. "/notes",
        query = writes(ctx),
        json = { value = text },
    }, { 200, 201 }, what)
    local d = common.tab((common.tab(res.json) or {}).data) or {}
    return { id = common.id(ctx, d.noteId or d.id) }
end

-- Every text a listed note carries (3p: `fields[].value`; `text` and
-- `value` on older notes).
local function note_texts(n)
    local out = { common.str(n.value), common.str(n.text) }
    for _, f in ipairs(common.list(n.fields)) do
        if type(f) == "table" then
            out[#out + 1] = common.str(f.value)
        end
    end
    return out
end

function M.has_note(ctx, cand, marker)
    local id = opportunity_id(ctx, cand, "lever list notes")
    local path = "/opportunities/" .. common.seg(ctx, id) .. "/notes"
    local notes = list(ctx, path, {}, "lever list notes")
    for _, n in ipairs(notes) do
        for _, text in pairs(note_texts(n)) do
            if text:find(marker, 1, true) then
                return true
            end
        end
    end
    return false
end

function M.add_tag(ctx, cand, tag)
    local what = "lever add tag"
    local id = opportunity_id(ctx, cand, what)
    for _, t in ipairs(common.list(opportunity(ctx, id).tags)) do
        if t == tag then
            return true
        end
    end
    api(ctx, {
        method = "POST",
        url = base(ctx) .. "/opportunities/" .. common.seg(ctx, id) .. "/addTags",
        query = writes(ctx),
        json = { tags = { tag } },
    }, { 200, 201 }, what)
    return true
end

---------------------------------------------------------------- webhooks

-- `triggeredAt` exactly as sent, the way it enters the signature (3p:
-- HMAC over token .. triggeredAt). Lever sends epoch milliseconds as a JSON
-- integer, which cjson decodes exactly (below 2^53).
local function signed_time(v)
    if type(v) == "string" and v:match("^%d+$") then
        return v
    end
    local n = math.type(v) and math.tointeger(v)
    if n and n >= 0 then
        return string.format("%d", n)
    end
    return nil
end

-- The signed fields of a delivery, or nil and a reason. Only what
-- verification needs is read from the (not yet trusted) body.
local function signed_fields(ctx, req)
    local b = ctx.json.decode(req.body or "")
    if type(b) ~= "table" then
        return nil, "body is not a JSON object"
    end
    local ts = signed_time(b.triggeredAt)
    if not (common.str(b.token) and ts and common.str(b.signature)) then
        return nil, "missing token, triggeredAt or signature"
    end
    return { token = b.token, ts = ts, signature = b.signature }
end

function M.verify(ctx, req)
    local f, why = signed_fields(ctx, req)
    if not f then
        return false, why
    end
    local key = ctx.cfg.signature_token
    local good, reason = common.check_hex(ctx, key, f.token .. f.ts, f.signature)
    if not good then
        return false, reason
    end
    local max_age = common.duration_ms(ctx.cfg.max_age or DEFAULT_MAX_AGE)
    if not max_age then
        return false, "max_age is malformed"
    end
    -- The body is not signed, so an old signature could carry any body:
    -- deliveries older than max_age (or as far in the future) are refused.
    local age = ctx.now() - tonumber(f.ts)
    if age > max_age then
        return false, "triggeredAt is older than max_age"
    end
    if -age > max_age then
        return false, "triggeredAt is further than max_age in the future"
    end
    return true
end

-- `token` is random per delivery: token .. triggeredAt also defeats a
-- replayed signature with a swapped body.
function M.delivery_id(ctx, req)
    local f = signed_fields(ctx, req)
    if not f then
        return common.body_digest(ctx, req.body)
    end
    return f.token .. f.ts
end

local function stage_change(ctx, data)
    local opp = opportunity(ctx, common.id(ctx, data.opportunityId), true)
    local job = posting_of(ctx, opp)
    local sid = stage_of(ctx, opp)
    if not sid then
        error("payload not understood: opportunity " .. tostring(opp.id) .. " has no stage", 0)
    end
    if not job then
        return nil, opp -- a general opportunity on no posting: no job to match
    end
    local ev = {
        type = "applicant.moved_to_stage",
        candidate = candidate_of(ctx, opp),
        -- the opportunity fetched is the one the webhook named
        application = { id = common.id(ctx, opp.id) or common.id(ctx, data.opportunityId) },
        job = job,
        stage = { id = sid, name = stage_name(ctx, sid) },
    }
    local from = common.id(ctx, data.fromStageId)
    if from then
        ev.previous_stage = { id = from, name = stage_name(ctx, from) }
    end
    return ev, opp
end

-- raw = { webhook = the delivery body, opportunity = the fetched one }.
function M.parse(ctx, req)
    local body = common.decode(ctx, req.body)
    local data = common.tab(body.data) or {}
    if not common.id(ctx, data.opportunityId) then
        -- connection tests carry no opportunity
        return { ping = true, reply = { status = 200, body = "ok" } }
    end
    if body.event ~= "candidateStageChange" then
        return {}
    end
    local ev, opp = stage_change(ctx, data)
    return common.events(ev, { webhook = body, opportunity = opp })
end

return M
