-- Greenhouse adapter: Harvest v3 over OAuth2 client credentials, and
-- Greenhouse webhooks (spec: greenhouse-v3.md, adapters.md). Relies on the
-- host ctx (adapters/README.md); the only state is the OAuth token, kept in
-- ctx.cache.token. Facts marked (?) in the spec each sit in one named local
-- function below so a live test can fix them in one place.
local common = require "adapters.common"

local M = {
    name = "greenhouse",
    kind = "ats",
    -- parse makes no upstream call: the intake's parse is reused (engine.lua)
    parse_is_pure = true,
    config = {
        required = { "client_id", "client_secret", "user_id", "webhook_secret" },
        optional = { "base_url", "auth_url", "duplicate_candidates" },
        secrets = { "client_secret", "webhook_secret" },
    },
    -- The real limit differs per integration (fixed 30 s windows) and is
    -- read from every answer by rate_headers; this is only the start.
    limits = { rate = 5, burst = 10, window = 30 },
}

local DEFAULT_BASE = "https://harvest.greenhouse.io"
local DEFAULT_AUTH = "https://auth.greenhouse.io"
local TOKEN_SLACK_MS = 60 * 1000 -- refresh this long before expiry
local PER_PAGE = 500 -- the most Harvest v3 allows

local function base(ctx)
    return common.base(ctx.cfg.base_url or DEFAULT_BASE)
end

---------------------------------------------------------------- auth

-- When a token answer expires: `expires_in` (seconds) or `expires_at` (ISO
-- time), whichever is present (doc); with neither, 3600 s is assumed (?).
local function token_expiry_ms(ctx, answer)
    local secs = tonumber(answer.expires_in)
    if secs then
        return ctx.now() + math.floor(secs * 1000)
    end
    local at = common.iso_ms(answer.expires_at)
    if at then
        return at
    end
    return ctx.now() + 3600 * 1000
end

local function fetch_token(ctx)
    local cfg = ctx.cfg
    local res = ctx.http {
        method = "POST",
        url = common.base(cfg.auth_url or DEFAULT_AUTH) .. "/token",
        auth = { basic = { cfg.client_id, cfg.client_secret } },
        form = { grant_type = "client_credentials", sub = ctx.id(cfg.user_id) },
    }
    ctx.expect(res, { 200 }, "greenhouse token")
    local answer = common.tab(res.json) or {}
    if not common.str(answer.access_token) then
        ctx.fail("greenhouse token: the answer has no access_token", false)
    end
    local tok = { access_token = answer.access_token, expires_ms = token_expiry_ms(ctx, answer) }
    ctx.cache.token = tok
    return tok.access_token
end

local function token(ctx, force)
    local tok = ctx.cache.token
    if not force and tok and ctx.now() < tok.expires_ms - TOKEN_SLACK_MS then
        return tok.access_token
    end
    return fetch_token(ctx)
end

-- One Harvest call with the bearer token, unchecked. A 401 refreshes the
-- token once and retries once (doc): a revoked or rotated token.
local function call(ctx, req)
    req.auth = { bearer = token(ctx) }
    local res = ctx.http(req)
    if res.status == 401 then
        req.auth = { bearer = token(ctx, true) }
        res = ctx.http(req)
    end
    return res
end

local function api(ctx, req, ok, what)
    return ctx.expect(call(ctx, req), ok, what)
end

---------------------------------------------------------------- lists

-- The URL of the Link header's rel="next", or nil.
local function next_link(res)
    local link = res.headers and res.headers["link"]
    if type(link) ~= "string" then
        return nil
    end
    for url, params in link:gmatch("<([^>]*)>([^<]*)") do
        local rel = params:match('rel%s*=%s*"([^"]*)"') or params:match("rel%s*=%s*([^;,%s]+)")
        if rel then
            for r in rel:gmatch("%S+") do
                if r == "next" then
                    return url
                end
            end
        end
    end
    return nil
end

-- The follow-up request for a next link. The cursor must be its only
-- parameter (doc: anything else is a 422), and the link must stay under
-- base_url so the bearer token is never sent anywhere else.
local function follow(ctx, url, what)
    local b = base(ctx)
    if url:sub(1, #b + 1) ~= b .. "/" then
        ctx.fail(what .. ": next-page link leaves base_url", false)
    end
    local path, qs = url:match("^([^?#]*)%??([^#]*)")
    for pair in qs:gmatch("[^&]+") do
        local k, v = pair:match("^([^=]*)=(.*)$")
        if k == "cursor" then
            return { method = "GET", url = path .. "?cursor=" .. v }
        end
    end
    return { method = "GET", url = url }
end

-- Every item of a Harvest list (bare JSON arrays). Filters and per_page go
-- on the first request only.
local function list(ctx, path, query, what)
    local q = common.copy(query)
    q.per_page = PER_PAGE
    local req = { method = "GET", url = base(ctx) .. path, query = q }
    local items = {}
    while req do
        local res = api(ctx, req, { 200 }, what)
        if type(res.json) ~= "table" then
            ctx.fail(what .. ": the answer is not a JSON array", false)
        end
        for _, it in ipairs(res.json) do
            items[#items + 1] = it
        end
        local url = next_link(res)
        req = url and follow(ctx, url, what)
    end
    return items
end

-- Greenhouse wants ids as JSON numbers; ids cross the contract as strings.
local function num(ctx, s, what)
    local n = math.tointeger(tonumber(s))
    if not n then
        ctx.fail(what .. ": '" .. tostring(s) .. "' is not a numeric Greenhouse id", false)
    end
    return n
end

---------------------------------------------------------------- catalog

function M.jobs(ctx)
    local out = {}
    for _, j in ipairs(list(ctx, "/v3/jobs", { status = "open" }, "greenhouse list jobs")) do
        out[#out + 1] = { id = common.id(ctx, j.id), name = common.str(j.name) }
    end
    return out
end

-- Active stages of a job in pipeline order (sort_order, then as listed).
function M.stages(ctx, job_id)
    local rows = list(ctx, "/v3/job_interview_stages", { job_ids = job_id },
        "greenhouse list stages")
    local keep = {}
    for i, s in ipairs(rows) do
        if s.active ~= false then
            keep[#keep + 1] = { i = i, order = tonumber(s.sort_order) or math.huge, s = s }
        end
    end
    table.sort(keep, function(a, b)
        if a.order ~= b.order then
            return a.order < b.order
        end
        return a.i < b.i
    end)
    local out = {}
    for _, k in ipairs(keep) do
        out[#out + 1] = { id = common.id(ctx, k.s.id), name = common.str(k.s.name) }
    end
    return out
end

---------------------------------------------------------------- reads

-- There is no get-by-id route (doc): list with ids=.
local function read_application(ctx, id)
    local req = { method = "GET", url = base(ctx) .. "/v3/applications", query = { ids = id } }
    local res = api(ctx, req, { 200 }, "greenhouse get application")
    for _, a in ipairs(common.list(res.json)) do
        if common.id(ctx, a.id) == id then
            return a
        end
    end
    ctx.fail("greenhouse get application: application " .. id .. " not found", false)
end

-- The current stage of an application read from /v3/applications. Its
-- shape is unconfirmed (?): `current_stage_id`, or `current_stage` as an
-- object { id, name } or a bare id.
local function current_stage(ctx, app)
    local cs = app.current_stage
    if type(cs) == "table" then
        return { id = common.id(ctx, cs.id), name = common.str(cs.name) }
    end
    return { id = common.id(ctx, app.current_stage_id) or common.id(ctx, cs) }
end

-- One record by id from a v3 list endpoint (every list takes ids=, doc).
local function read_one(ctx, path, id, what)
    local req = { method = "GET", url = base(ctx) .. path, query = { ids = id } }
    local res = api(ctx, req, { 200 }, what)
    for _, r in ipairs(common.list(res.json)) do
        if common.id(ctx, r.id) == id then
            return r
        end
    end
    return nil
end

local function candidate_of(ctx, c)
    return {
        id = common.id(ctx, c.id),
        name = common.full_name(c.first_name, c.last_name),
        emails = common.values(c.email_addresses),
    }
end

-- The application ids of a candidate: the candidate record's own list when
-- it has one (v1 did; v3 is unconfirmed (?)), else a list of applications
-- by candidate_ids (doc).
local function application_ids(ctx, c)
    local ids = {}
    local own = common.tab(c.application_ids)
    if own then
        for _, id in ipairs(own) do
            ids[#ids + 1] = common.id(ctx, id)
        end
        return ids
    end
    local cid = common.id(ctx, c.id)
    local apps = list(ctx, "/v3/applications", { candidate_ids = cid },
        "greenhouse list applications")
    for _, a in ipairs(apps) do
        ids[#ids + 1] = common.id(ctx, a.id)
    end
    return ids
end

function M.application(ctx, id)
    local app = read_application(ctx, id)
    local cid = common.id(ctx, app.candidate_id)
    local jid = common.id(ctx, app.job_id)
    local c = cid and read_one(ctx, "/v3/candidates", cid, "greenhouse get candidate")
    local job = jid and read_one(ctx, "/v3/jobs", jid, "greenhouse get job") or {}
    local stage = current_stage(ctx, app)
    if stage.id and not stage.name and jid then
        for _, s in ipairs(M.stages(ctx, jid)) do
            if s.id == stage.id then
                stage.name = s.name
            end
        end
    end
    return {
        id = common.id(ctx, app.id),
        candidate = candidate_of(ctx, c or { id = cid }),
        job = { id = jid, name = common.str(job.name) },
        stage = stage,
        status = common.str(app.status),
    }
end

function M.find_candidates(ctx, email)
    local out = {}
    local found = list(ctx, "/v3/candidates", { email = email }, "greenhouse find candidates")
    for _, c in ipairs(found) do
        local cand = candidate_of(ctx, c)
        cand.application_ids = application_ids(ctx, c)
        out[#out + 1] = cand
    end
    return out
end

---------------------------------------------------------------- writes

local function post_move(ctx, app_id, from, to)
    return call(ctx, {
        method = "POST",
        url = base(ctx) .. "/v3/applications/" .. common.seg(ctx, app_id) .. "/move",
        json = {
            from_stage_id = num(ctx, from, "greenhouse move application"),
            to_stage_id = num(ctx, to, "greenhouse move application"),
        },
    })
end

-- A move fires the stage's automated emails, so it is never retried
-- blindly: from_stage_id must be the current stage, and a 422 (stale
-- from_stage_id) re-reads the application once and retries once.
function M.move_to_stage(ctx, app_id, stage_id)
    local from = current_stage(ctx, read_application(ctx, app_id)).id
    if from == stage_id then
        return { moved = false, from = from }
    end
    local res = post_move(ctx, app_id, from, stage_id)
    if res.status == 422 then
        from = current_stage(ctx, read_application(ctx, app_id)).id
        if from == stage_id then
            return { moved = false, from = from }
        end
        res = post_move(ctx, app_id, from, stage_id)
    end
    ctx.expect(res, { 200, 204 }, "greenhouse move application")
    return { moved = true, from = from }
end

function M.add_note(ctx, cand, text)
    local what = "greenhouse add note"
    local body = {
        candidate_id = num(ctx, cand.id, what),
        body = text,
        visibility = "admin_only",
        note_type = "NOTE",
    }
    if cand.application_id then
        body.application_id = num(ctx, cand.application_id, what)
    end
    local req = { method = "POST", url = base(ctx) .. "/v3/notes", json = body }
    local res = api(ctx, req, { 200, 201 }, what)
    return { id = common.id(ctx, (common.tab(res.json) or {}).id) }
end

-- Whether a note of the candidate contains `marker`. Both the filter
-- (GET /v3/notes?candidate_id=) and the text field (`body`) are
-- unconfirmed (?).
function M.has_note(ctx, cand, marker)
    local notes = list(ctx, "/v3/notes", { candidate_id = cand.id }, "greenhouse list notes")
    for _, n in ipairs(notes) do
        if type(n.body) == "string" and n.body:find(marker, 1, true) then
            return true
        end
    end
    return false
end

-- The tag definition's id, created when missing (3p). An exact name match
-- wins; otherwise a case-insensitive one, so "Invited" is not re-created
-- as "invited".
local function existing_tag_id(ctx, name)
    local loose
    for _, t in ipairs(list(ctx, "/v3/candidate_tags", {}, "greenhouse list tags")) do
        if t.name == name then
            return common.id(ctx, t.id)
        end
        if not loose and type(t.name) == "string" and t.name:lower() == name:lower() then
            loose = common.id(ctx, t.id)
        end
    end
    return loose
end

local function tag_id(ctx, name)
    local known = existing_tag_id(ctx, name)
    if known then
        return known
    end
    local req = { method = "POST", url = base(ctx) .. "/v3/candidate_tags", json = { name = name } }
    local res = call(ctx, req)
    if res.status == 422 then
        -- another run created it since we listed (runs are concurrent): use it
        known = existing_tag_id(ctx, name)
        if known then
            return known
        end
    end
    ctx.expect(res, { 200, 201 }, "greenhouse create tag")
    local id = common.id(ctx, (common.tab(res.json) or {}).id)
    if not id then
        ctx.fail("greenhouse create tag: the answer has no id", false)
    end
    return id
end

-- The tag definition id of an applied-tag record (3p: candidate_tag_id).
local function applied_tag_id(ctx, applied)
    return common.id(ctx, applied.candidate_tag_id)
end

function M.add_tag(ctx, cand, tag)
    local tid = tag_id(ctx, tag)
    local applied = list(ctx, "/v3/applied_candidate_tags", { candidate_ids = cand.id },
        "greenhouse list candidate tags")
    for _, a in ipairs(applied) do
        if applied_tag_id(ctx, a) == tid then
            return true
        end
    end
    local what = "greenhouse apply tag"
    api(ctx, {
        method = "POST",
        url = base(ctx) .. "/v3/applied_candidate_tags",
        json = { candidate_id = num(ctx, cand.id, what), candidate_tag_id = num(ctx, tid, what) },
    }, { 200, 201 }, what)
    return true
end

function M.rate_headers(res)
    return common.rate_headers(res, "x-ratelimit-limit", "x-ratelimit-remaining",
        "x-ratelimit-reset")
end

---------------------------------------------------------------- webhooks

-- `Signature: sha256 <lowercase hex HMAC-SHA256 of the raw body>` (doc).
function M.verify(ctx, req)
    local h = req.headers["signature"]
    if type(h) ~= "string" then
        return false, "missing Signature header"
    end
    local hex = h:match("^%s*sha256%s+(%x+)%s*$")
    if not hex then
        return false, "malformed Signature header"
    end
    return common.check_hex(ctx, ctx.cfg.webhook_secret, req.body, hex)
end

function M.delivery_id(ctx, req)
    return common.str(req.headers["greenhouse-event-id"]) or common.body_digest(ctx, req.body)
end

local function stage_change(ctx, p)
    local app = common.tab(p.application)
    if not app then
        error("payload not understood: candidate_stage_change without payload.application", 0)
    end
    local c = common.tab(app.candidate) or {}
    local st = common.tab(app.current_stage) or {}
    local job = common.tab(common.list(app.jobs)[1])
    -- ids must be ids (a number or a string), not merely present
    if not (common.id(ctx, app.id) and common.id(ctx, c.id) and common.id(ctx, st.id)) then
        error("payload not understood: candidate_stage_change without application, "
            .. "candidate or stage id", 0)
    end
    if not job then
        return nil -- a prospect with no job: nothing a job trigger can match
    end
    return {
        type = "applicant.moved_to_stage",
        candidate = candidate_of(ctx, c),
        application = { id = common.id(ctx, app.id) },
        job = { id = common.id(ctx, job.id), name = common.str(job.name) },
        stage = { id = common.id(ctx, st.id), name = common.str(st.name) },
    }
end

local function person_event(ctx, kind, p)
    local person = common.tab(p.person) or {}
    if not person.id then
        error("payload not understood: " .. kind .. " without payload.person.id", 0)
    end
    local ev = {
        type = kind,
        candidate = {
            id = common.id(ctx, person.id),
            name = common.full_name(person.first_name, person.last_name),
        },
    }
    if person.new_candidate_id then
        ev.merged_into = { id = common.id(ctx, person.new_candidate_id) }
    end
    if common.tab(person.deleted_application_ids) then
        ev.candidate.application_ids = {}
        for _, id in ipairs(person.deleted_application_ids) do
            ev.candidate.application_ids[#ev.candidate.application_ids + 1] = common.id(ctx, id)
        end
    end
    return ev
end

-- Job and job-stage events tell the host to refresh its catalog.
local function catalog_change(ctx, p)
    local job, stage = common.tab(p.job), common.tab(p.job_interview_stage)
    if job and job.id then
        return {
            type = "catalog.changed",
            job = { id = common.id(ctx, job.id), name = common.str(job.name) },
        }
    end
    if stage and stage.job_id then
        return {
            type = "catalog.changed",
            job = { id = common.id(ctx, stage.job_id) },
            stage = { id = common.id(ctx, stage.id), name = common.str(stage.name) },
        }
    end
    return nil
end

local function is_catalog_action(action)
    return action:match("^job_") ~= nil and action:match("^job_post_") == nil
end

function M.parse(ctx, req)
    local body = common.decode(ctx, req.body)
    local action = body.action
    if action == "ping" then
        return { ping = true, reply = { status = 200, body = "ok" } }
    end
    if type(action) ~= "string" then
        error("payload not understood: no action", 0)
    end
    local p = common.tab(body.payload) or {}
    local ev
    if action == "candidate_stage_change" then
        ev = stage_change(ctx, p)
    elseif action == "merge_candidate" then
        ev = person_event(ctx, "candidate.merged", p)
    elseif action == "delete_candidate" then
        ev = person_event(ctx, "candidate.deleted", p)
    elseif is_catalog_action(action) then
        ev = catalog_change(ctx, p)
    end
    return common.events(ev, body)
end

return M
