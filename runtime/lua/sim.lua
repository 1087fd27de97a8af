-- sim: the built-in simulated ATS and Coderbyte (spec adapters.md, Sandbox),
-- served by the daemon under /sandbox/ (loopback only) in its own Lua state.
--   /sandbox/ats/...        the ATS API the sandbox adapter calls
--   /sandbox/coderbyte/...  Coderbyte's modeled API (spec coderbyte.md), Bearer auth
--   /sandbox/ctl/...        control: seed data, and act like a person in the
--                           ATS or a candidate in Coderbyte, which posts signed
--                           webhooks to the daemon itself (`atsflow sandbox`)
-- State lives in the journal's `sim` table (kind, id -> JSON body), so the
-- demo survives restarts. Every call to the simulated APIs is recorded as
-- kind "request" so that tests can assert exactly what atsflow sent.
-- The host calls handle(id, req) as a task per request; it answers once with
-- host.reply. Journal calls never yield, so a read-modify-write between two
-- yields (http, commit) is atomic with respect to other requests.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"
local crypto = require "crypto"
local jwt = require "jwt"
local stdwebhooks = require "stdwebhooks"
local util = require "util"

local M = {}

local ORG = "sandbox"                 -- the organization_id the host configures
local WEBHOOK_TIMEOUT_MS = 10000
local JWT_TTL = 300                   -- seconds
local QUALIFYING_SCORE = 70
local DEFAULT_SCORE = 85
local DEFAULT_TIME_TAKEN = 42         -- minutes, shown in report data
local REVIEWER = "reviewer@example.com"

local CHEATING = { not_detected = "Not detected", likely = "Likely", detected = "Detected" }
local SCORECARD_EVENTS = { thumb_up = true, thumb_down = true, comment_added = true }

---------------------------------------------------------------- JSON

-- lua-cjson 2.1.0 encodes an empty table as {}: lists are marked so that an
-- empty one goes out as []. Keys are sorted, so answers are byte-stable.
local ARRAY = {}

local function array(t)
    return setmetatable(t or {}, ARRAY)
end

local function encode(v)
    if type(v) ~= "table" then
        return cjson.encode(v)
    end
    local parts = {}
    if getmetatable(v) == ARRAY or #v > 0 then
        for i = 1, #v do
            parts[i] = encode(v[i])
        end
        return "[" .. table.concat(parts, ",") .. "]"
    end
    for _, k in ipairs(util.keys(v)) do
        parts[#parts + 1] = cjson.encode(tostring(k)) .. ":" .. encode(v[k])
    end
    return "{" .. table.concat(parts, ",") .. "}"
end

M.encode = encode

---------------------------------------------------------------- errors

-- A client error: raised, caught by handle, answered { error = message }.
local function fail(status, message)
    error({ sim_status = status, message = message }, 0)
end

local function need_string(t, key, what)
    local v = t[key]
    if type(v) == "number" then
        return util.id(v)
    end
    if type(v) ~= "string" or v == "" then
        fail(400, ("%s needs %s"):format(what, key))
    end
    return v
end

---------------------------------------------------------------- storage

local function load(kind, id)
    local row = host.journal("sim_get", kind, id)[1]
    return row and json.decode(row.body) or nil
end

local function all(kind)
    local out = {}
    for _, row in ipairs(host.journal("sim_list", kind)) do
        out[#out + 1] = json.decode(row.body)
    end
    return out
end

-- r is the request's context: a write means a commit before the answer.
local function save(r, kind, id, obj)
    host.journal("sim_put", kind, id, encode(obj))
    r.wrote = true
end

-- Numeric string ids per kind, after the seeded ones (nothing is deleted
-- but by reset, which starts the count again).
local function next_id(kind, base)
    return tostring(base + #host.journal("sim_list", kind) + 1)
end

local function commit(r)
    if r.wrote and not host.commit() then
        fail(503, "the journal cannot be written")
    end
    r.wrote = false
end

local function meta(key)
    local row = host.journal("meta_get", key)[1]
    return row and row.value or nil
end

local function self_url()
    return host.self_url() or "http://127.0.0.1"
end

-- A link a person can open (served below, not recorded).
local function link(kind, id)
    return self_url() .. "/sandbox/coderbyte/" .. kind .. "/" .. util.urlencode(id)
end

---------------------------------------------------------------- lookups

local function lower(s)
    return tostring(s):lower()
end

local function has_email(cand, email)
    for _, e in ipairs(cand.emails or {}) do
        if lower(e) == lower(email) then
            return true
        end
    end
    return false
end

local function candidates_with(email)
    local out = {}
    for _, c in ipairs(all("candidate")) do
        if has_email(c, email) then
            out[#out + 1] = c
        end
    end
    return out
end

local function applications_of(cand_id)
    local out = {}
    for _, a in ipairs(all("application")) do
        if a.candidate_id == cand_id then
            out[#out + 1] = a
        end
    end
    return out
end

-- A job, assessment or stage by id, else by name (case-insensitive).
local function by_id_or_name(list, key)
    for _, x in ipairs(list) do
        if x.id == key then
            return x
        end
    end
    for _, x in ipairs(list) do
        if x.name and lower(x.name) == lower(key) then
            return x
        end
    end
    return nil
end

local function names(list)
    local out = {}
    for _, x in ipairs(list) do
        out[#out + 1] = x.name or x.id
    end
    return table.concat(out, ", ")
end

local function find_job(key)
    local jobs = all("job")
    return by_id_or_name(jobs, key) or fail(404, ("no job '%s' (jobs: %s)"):format(key, names(jobs)))
end

local function find_stage(job, key)
    return by_id_or_name(job.stages, key)
        or fail(422, ("job '%s' has no stage '%s' (stages: %s)"):format(job.name, key, names(job.stages)))
end

local function find_assessment(key)
    local list = all("assessment")
    return by_id_or_name(list, key)
        or fail(404, ("no assessment '%s' (assessments: %s)"):format(key, names(list)))
end

-- Strictly by id: the API takes ids, names are for people (ctl).
local function stage_in(job, stage_id)
    for _, s in ipairs(job.stages or {}) do
        if s.id == stage_id then
            return s
        end
    end
    return nil
end

local function stage_view(job, stage_id)
    for _, s in ipairs(job.stages or {}) do
        if s.id == stage_id then
            return { id = s.id, name = s.name }
        end
    end
    return { id = stage_id }
end

local function candidate_view(c)
    return { id = c.id, name = c.name, emails = array(c.emails) }
end

local function application_view(app)
    local job = load("job", app.job_id) or { id = app.job_id, stages = {} }
    return {
        id = app.id,
        candidate = candidate_view(load("candidate", app.candidate_id) or { id = app.candidate_id }),
        job = { id = job.id, name = job.name },
        stage = stage_view(job, app.stage_id),
        status = app.status,
    }
end

---------------------------------------------------------------- request recording

-- fault: the scripted fault answering it (a time-out is marked).
local function record(r, req, fault)
    local headers = {}
    for k, v in pairs(req.headers or {}) do
        if k ~= "authorization" then
            headers[k] = v
        end
    end
    local seq = #host.journal("sim_list", "request") + 1
    local body = req.body ~= "" and req.body or nil
    save(r, "request", tostring(seq), {
        seq = seq, method = req.method, path = req.path, query = req.query or {},
        headers = headers, json = body and json.decode(body) or nil, at = host.now(),
        timed_out = fault and fault.timeout or nil,
    })
end

---------------------------------------------------------------- simulated ATS

local function ats_jobs()
    local out = array()
    for _, j in ipairs(all("job")) do
        out[#out + 1] = { id = j.id, name = j.name }
    end
    return 200, out
end

local function ats_stages(_, _, job_id)
    local job = load("job", job_id) or fail(404, "no job " .. job_id)
    local out = array()
    for _, s in ipairs(job.stages) do
        out[#out + 1] = { id = s.id, name = s.name }
    end
    return 200, out
end

local function ats_application(_, _, app_id)
    return 200, application_view(load("application", app_id) or fail(404, "no application " .. app_id))
end

local function ats_candidates(_, req)
    local email = need_string(req.query, "email", "GET /candidates")
    local out = array()
    for _, c in ipairs(candidates_with(email)) do
        local view = candidate_view(c)
        view.application_ids = array()
        for _, a in ipairs(applications_of(c.id)) do
            view.application_ids[#view.application_ids + 1] = a.id
        end
        out[#out + 1] = view
    end
    return 200, out
end

local function ats_move(r, req, app_id)
    local app = load("application", app_id) or fail(404, "no application " .. app_id)
    local stage_id = need_string(req.json, "stage_id", "move")
    local job = load("job", app.job_id) or fail(404, "no job " .. tostring(app.job_id))
    if not stage_in(job, stage_id) then
        fail(422, ("stage %s is not a stage of job %s"):format(stage_id, job.name))
    end
    local from = app.stage_id
    if from ~= stage_id then
        app.stage_id = stage_id
        save(r, "application", app.id, app)
    end
    return 200, { moved = from ~= stage_id, from = from }
end

local function candidate_or_404(cand_id)
    return load("candidate", cand_id) or fail(404, "no candidate " .. cand_id)
end

local function ats_add_note(r, req, cand_id)
    candidate_or_404(cand_id)
    local text = need_string(req.json, "body", "add note")
    local id = next_id("note", 400)
    save(r, "note", id, { id = id, candidate_id = cand_id, body = text, created_at = util.iso8601(host.now()) })
    return 201, { id = id }
end

local function notes_of(cand_id)
    local out = array()
    for _, n in ipairs(all("note")) do
        if n.candidate_id == cand_id then
            out[#out + 1] = { id = n.id, body = n.body }
        end
    end
    return out
end

local function ats_notes(_, _, cand_id)
    candidate_or_404(cand_id)
    return 200, notes_of(cand_id)
end

local function tags_of(cand_id)
    local out = array()
    for _, t in ipairs(all("tag")) do
        if t.candidate_id == cand_id then
            out[#out + 1] = t.tag
        end
    end
    return out
end

-- Idempotent: a tag the candidate has is not added twice.
local function ats_add_tag(r, req, cand_id)
    candidate_or_404(cand_id)
    local tag = need_string(req.json, "tag", "add tag")
    local key = cand_id .. ":" .. tag
    local added = load("tag", key) == nil
    if added then
        save(r, "tag", key, { candidate_id = cand_id, tag = tag })
    end
    return 200, { tag = tag, added = added }
end

local function ats_tags(_, _, cand_id)
    candidate_or_404(cand_id)
    return 200, tags_of(cand_id)
end

---------------------------------------------------------------- simulated Coderbyte

local function authorized(req)
    local key = meta("sandbox_coderbyte_key")
    local got = (req.headers or {}).authorization
    return key ~= nil and type(got) == "string" and crypto.equal(got, "Bearer " .. key)
end

local function invitation_key(assessment_id, email)
    return assessment_id .. ":" .. lower(email)
end

local function invitation_view(inv)
    return { invitation_id = inv.invitation_id, invite_url = inv.invite_url, email = inv.email,
             name = inv.name, assessment_id = inv.assessment_id, created_at = inv.created_at }
end

local function cb_assessments()
    local out = array()
    for _, a in ipairs(all("assessment")) do
        out[#out + 1] = { id = a.id, name = a.name, qualifying_score = a.qualifying_score }
    end
    return 200, { assessments = out }
end

-- 409 when already invited; the same Idempotency-Key replays the first 201
-- (a retry after a lost answer must not look like a second invitation).
local function cb_invite(r, req, aid)
    local a = load("assessment", aid) or fail(404, "no assessment " .. aid)
    local key = (req.headers or {})["idempotency-key"]
    if type(key) ~= "string" or key == "" then
        fail(400, "Idempotency-Key header required")
    end
    local email = need_string(req.json, "email", "invite")
    local existing = load("invitation", invitation_key(a.id, email))
    if existing and existing.idempotency_key == key then
        return 201, { invite_url = existing.invite_url, invitation_id = existing.invitation_id }
    elseif existing then
        return 409, { error = "candidate already invited", invitation_id = existing.invitation_id }
    end
    local id = "inv-" .. next_id("invitation", 0)
    local inv = { invitation_id = id, invite_url = link("invite", id), email = email,
                  name = type(req.json.name) == "string" and req.json.name or nil,
                  assessment_id = a.id, idempotency_key = key, created_at = util.iso8601(host.now()) }
    save(r, "invitation", invitation_key(a.id, email), inv)
    return 201, { invite_url = inv.invite_url, invitation_id = id }
end

local function cb_find_invitation(_, req, aid)
    local a = load("assessment", aid) or fail(404, "no assessment " .. aid)
    local email = need_string(req.query, "email", "find invitation")
    local out = array()
    local inv = load("invitation", invitation_key(a.id, email))
    if inv then
        out[1] = invitation_view(inv)
    end
    return 200, { invitations = out }
end

local function report_data(rep)
    return {
        report_ready = rep.fetches > rep.ready_after,
        final_score = rep.final_score, code_score = rep.code_score, mc_score = rep.mc_score,
        qualified = rep.qualified, plagiarism = rep.plagiarism, time_taken = rep.time_taken,
        report_url = rep.report_url, email = rep.email, assessment_id = rep.assessment_id,
    }
end

-- Counts fetches: the first `ready_after` ones answer report_ready = false.
local function cb_report(r, req, aid)
    local email = need_string(req.query, "email", "report data")
    local rep = load("report", invitation_key(aid, email))
        or fail(404, ("no report for %s on %s: the assessment is not completed"):format(email, aid))
    rep.fetches = rep.fetches + 1
    save(r, "report", invitation_key(aid, email), rep)
    return 200, report_data(rep)
end

local function cb_interview_report(_, _, iid)
    local iv = load("interview", iid) or fail(404, "no interview " .. iid)
    return 200, { report_url = iv.report_url, scorecard = iv.scorecard }
end

-- The pages behind invite_url / report_url, for a person clicking a link.
local function cb_page(kind)
    return function(_, _, id)
        local list = all(kind == "invite" and "invitation" or kind)
        local field = ({ invite = "invitation_id", report = "report_id", interview = "id" })[kind]
        for _, x in ipairs(list) do
            if x[field] == id then
                x.idempotency_key = nil
                return 200, x
            end
        end
        fail(404, "no " .. kind .. " " .. id)
    end
end

---------------------------------------------------------------- seed data

local STAGE_NAMES = { "Application Review", "Technical Screen", "Onsite", "Offer" }

local function default_data()
    return {
        jobs = {
            { id = "101", name = "Backend Engineer", stages = STAGE_NAMES },
            { id = "102", name = "Frontend Engineer", stages = STAGE_NAMES },
        },
        candidates = {
            { id = "201", name = "Ada Lovelace", emails = { "ada@example.com" },
              applications = { { id = "301", job = "Backend Engineer", stage = "Application Review" } } },
            { id = "202", name = "Grace Hopper", emails = { "grace@example.com" },
              applications = { { id = "302", job = "Frontend Engineer", stage = "Application Review" } } },
            -- same email as Ada: the duplicate-candidate case
            { id = "203", name = "Ada L.", emails = { "ada@example.com" }, applications = {} },
        },
        assessments = {
            { id = "backend-take-home", name = "Backend Take-Home", qualifying_score = QUALIFYING_SCORE },
            { id = "frontend-take-home", name = "Frontend Take-Home", qualifying_score = QUALIFYING_SCORE },
        },
    }
end

local function slug(s)
    return (lower(s):gsub("[^%w]+", "-"):gsub("^-+", ""):gsub("-+$", ""))
end

-- Stages given as names or { id?, name }; ids default to job id .. position.
local function seed_job(r, i, j)
    local id = util.id(j.id) or tostring(100 + i)
    local stages = {}
    for n, s in ipairs(j.stages or STAGE_NAMES) do
        local st = type(s) == "table" and s or { name = s }
        stages[n] = { id = util.id(st.id) or (id .. n), name = st.name }
    end
    local job = { id = id, name = need_string(j, "name", "seed job"), stages = stages }
    save(r, "job", id, job)
    return job
end

local function seed_application(r, cand_id, a, jobs)
    local job = by_id_or_name(jobs, util.id(a.job) or "") or fail(422, "seed: no job " .. tostring(a.job))
    local stage = a.stage and find_stage(job, util.id(a.stage)) or job.stages[1]
    local id = util.id(a.id) or next_id("application", 300)
    save(r, "application", id, { id = id, candidate_id = cand_id, job_id = job.id,
                                  stage_id = stage.id, status = "active" })
end

local function seed_candidate(r, i, c, jobs)
    local id = util.id(c.id) or tostring(200 + i)
    local emails = type(c.emails) == "table" and c.emails or { need_string(c, "email", "seed candidate") }
    save(r, "candidate", id, { id = id, name = need_string(c, "name", "seed candidate"), emails = emails })
    for _, a in ipairs(c.applications or {}) do
        seed_application(r, id, a, jobs)
    end
    return { id = id, name = c.name, emails = array(emails) }
end

local function seed_assessment(r, a)
    local name = need_string(a, "name", "seed assessment")
    local id = util.id(a.id) or slug(name)
    save(r, "assessment", id, { id = id, name = name,
                                 qualifying_score = tonumber(a.qualifying_score) or QUALIFYING_SCORE })
    return { id = id, name = name }
end

---------------------------------------------------------------- webhooks out

-- Posts to the daemon's own intake; the answer is the webhook's status and
-- body, or a 502 when it did not get there.
local function deliver(path, headers, body)
    headers["content-type"] = "application/json"
    local res, err = host.http { method = "POST", url = self_url() .. path, headers = headers,
                                 body = body, timeout_ms = WEBHOOK_TIMEOUT_MS }
    if not res or (res.status or 0) == 0 then
        fail(502, "webhook to " .. path .. " not delivered: " .. tostring(err or (res and res.error)))
    end
    return { status = res.status, body = res.body }
end

local function now_s()
    return math.tointeger(host.now() // 1000)
end

-- Read before any change, so that a missing one changes nothing.
local function webhook_secret()
    return host.sandbox_secret() or meta("sandbox_webhook_secret")
        or fail(409, "the sandbox ATS has no webhook secret yet: is ats = { sandbox = {} } configured?")
end

local function coderbyte_key()
    return meta("sandbox_coderbyte_key")
        or fail(409, "the simulated Coderbyte is not configured (coderbyte = { sandbox = true })")
end

-- A canonical event, signed the Standard Webhooks way.
local function post_ats_event(secret, event)
    local body = encode(event)
    local id = "msg_" .. crypto.hex(crypto.random(12))
    local ts = now_s()
    local wh = deliver("/webhooks/sandbox", {
        ["webhook-id"] = id,
        ["webhook-timestamp"] = string.format("%d", ts),
        ["webhook-signature"] = stdwebhooks.sign(secret, id, ts, body),
    }, body)
    wh.id = id
    return wh
end

-- A Coderbyte webhook: JWT HS256 with the API key, iss = organization id.
-- jti makes every simulated delivery distinct (the dedupe key includes it).
local function post_coderbyte(key, payload)
    payload.organization_id = ORG
    local now = now_s()
    local token = jwt.sign_hs256({ iss = ORG, iat = now, exp = now + JWT_TTL,
                                   jti = crypto.hex(crypto.random(8)) }, key)
    return deliver("/webhooks/coderbyte", { authorization = "Bearer " .. token }, encode(payload))
end

-- Ctl answers carry the webhook's own status (the CLI reports it).
local function webhook_answer(wh, extra)
    extra.webhook = wh
    return wh.status, extra
end

-- The daemon fetched its catalog (jobs, stages) when it started, maybe
-- before any seed: a canonical catalog.changed event makes it fetch again
-- now. Best effort: the data is in place either way, the answer says how it
-- went (nil when the sandbox ATS is not configured).
local function catalog_changed()
    local secret = host.sandbox_secret() or meta("sandbox_webhook_secret")
    if not secret then
        return nil
    end
    local ok, wh = pcall(post_ats_event, secret, { type = "catalog.changed" })
    if not ok then
        return { status = 0, body = tostring(type(wh) == "table" and wh.message or wh) }
    end
    return wh
end

-- Replaces all simulated data (and the recorded requests) with the default
-- set; the body's `jobs`, `candidates` or `assessments` replace those parts.
local function ctl_seed(r, req)
    local data = default_data()
    for _, part in ipairs({ "jobs", "candidates", "assessments" }) do
        if type(req.json[part]) == "table" then
            data[part] = req.json[part]
        end
    end
    host.journal("sim_clear")
    r.wrote = true
    local out = { jobs = array(), candidates = array(), assessments = array() }
    local jobs = {}
    for i, j in ipairs(data.jobs) do
        jobs[i] = seed_job(r, i, j)
        out.jobs[i] = { id = jobs[i].id, name = jobs[i].name, stages = array(jobs[i].stages) }
    end
    for i, c in ipairs(data.candidates) do
        out.candidates[i] = seed_candidate(r, i, c, jobs)
    end
    for i, a in ipairs(data.assessments) do
        out.assessments[i] = seed_assessment(r, a)
    end
    out.applications = #all("application")
    commit(r)
    out.catalog = catalog_changed()
    return 200, out
end

local function ctl_reset(r)
    host.journal("sim_clear")
    r.wrote = true
    commit(r)
    return 200, { ok = true, catalog = catalog_changed() }
end

---------------------------------------------------------------- control: ATS

-- The first application on `job` of any candidate with that email.
local function application_for(email, job)
    local cands = candidates_with(email)
    if #cands == 0 then
        fail(404, "no candidate with email " .. email)
    end
    for _, c in ipairs(cands) do
        for _, a in ipairs(applications_of(c.id)) do
            if a.job_id == job.id then
                return a, c
            end
        end
    end
    fail(404, ("%s has no application on %s"):format(email, job.name))
end

local function ctl_move(r, req)
    local secret = webhook_secret()
    local email = need_string(req.json, "email", "move")
    local job = find_job(need_string(req.json, "job", "move"))
    local stage = find_stage(job, need_string(req.json, "stage", "move"))
    local app, cand = application_for(email, job)
    local previous = stage_view(job, app.stage_id)
    app.stage_id = stage.id
    save(r, "application", app.id, app)
    -- durable before the daemon reads it back through the adapter
    commit(r)
    local event = {
        type = "applicant.moved_to_stage",
        candidate = candidate_view(cand),
        application = { id = app.id },
        job = { id = job.id, name = job.name },
        stage = { id = stage.id, name = stage.name },
        previous_stage = previous,
    }
    return webhook_answer(post_ats_event(secret, event), { event = event, moved = previous.id ~= stage.id })
end

---------------------------------------------------------------- control: Coderbyte

local function report_url_for(aid, email)
    local rep = load("report", invitation_key(aid, email))
    return rep and rep.report_url or link("report", invitation_key(aid, email))
end

local function score_of(v)
    if v == nil then
        return DEFAULT_SCORE
    end
    local n = tonumber(v) or fail(400, "score must be a number")
    return math.tointeger(n) or n
end

local function ctl_complete(r, req)
    local b, key = req.json, coderbyte_key()
    local email = need_string(b, "email", "complete")
    local a = find_assessment(need_string(b, "assessment", "complete"))
    local score = score_of(b.score)
    local cheating = b.cheating or "not_detected"
    if not CHEATING[cheating] then
        fail(400, "cheating must be not_detected, likely or detected")
    end
    local n = tonumber(b.report_ready_after or 0)
    local ready_after = n and math.tointeger(n)
    if not ready_after or ready_after < 0 then
        fail(400, "report_ready_after must be a whole number")
    end
    local qualified = b.qualified
    if type(qualified) ~= "boolean" then
        qualified = score >= (a.qualifying_score or QUALIFYING_SCORE)
    end
    local rid = "rep-" .. next_id("report", 0)
    local rep = {
        report_id = rid, assessment_id = a.id, email = email, final_score = score,
        code_score = score, mc_score = score, qualified = qualified, plagiarism = CHEATING[cheating],
        time_taken = tonumber(b.time_taken) or DEFAULT_TIME_TAKEN, report_url = link("report", rid),
        ready_after = ready_after, fetches = 0,
    }
    save(r, "report", invitation_key(a.id, email), rep)
    commit(r)
    local payload = {
        operation = "assessment_completed", email = email, assessment_id = a.id,
        report_url = rep.report_url, time_expired = b.time_expired == true, report_ready = ready_after == 0,
    }
    return webhook_answer(post_coderbyte(key, payload), {
        payload = payload, report = report_data(rep), assessment = { id = a.id, name = a.name },
    })
end

-- Keeps the latest recommendation and every comment on the interview, so
-- the interview report shows them.
local function note_scorecard(r, iid, email, event, comment, reviewer)
    local iv = load("interview", iid) or { id = iid, email = email, report_url = link("interview", iid) }
    local sc = iv.scorecard or {}
    if event == "comment_added" then
        sc.comments = sc.comments or {}
        sc.comments[#sc.comments + 1] = { comment = comment, reviewer = reviewer }
    else
        sc.recommendation, sc.reviewer = event, reviewer
    end
    iv.scorecard = sc
    save(r, "interview", iid, iv)
    return iv
end

local function ctl_scorecard(r, req)
    local b, key = req.json, coderbyte_key()
    local email = need_string(b, "email", "scorecard")
    local event = need_string(b, "event", "scorecard")
    if not SCORECARD_EVENTS[event] then
        fail(400, "event must be thumb_up, thumb_down or comment_added")
    end
    local reviewer = type(b.reviewer) == "string" and b.reviewer or REVIEWER
    local comment = type(b.comment) == "string" and b.comment or nil
    local payload = { operation = "scorecard_updated", email = email, email_admin = reviewer, comment = comment,
                      trigger = event == "comment_added" and "comment" or "recommendation",
                      recommendation = event ~= "comment_added" and event or nil }
    if b.assessment ~= nil and b.interview == nil then
        local a = find_assessment(need_string(b, "assessment", "scorecard"))
        payload.assessment_id, payload.report_url = a.id, report_url_for(a.id, email)
    elseif b.interview ~= nil and b.assessment == nil then
        local iv = note_scorecard(r, need_string(b, "interview", "scorecard"), email, event, comment, reviewer)
        payload.interview_id, payload.report_url = iv.id, iv.report_url
        commit(r)
    else
        fail(400, "scorecard needs one of assessment or interview")
    end
    return webhook_answer(post_coderbyte(key, payload), { payload = payload })
end

local function ctl_interview(r, req)
    local key = coderbyte_key()
    local email = need_string(req.json, "email", "interview")
    local iid = util.id(req.json.interview_id) or ("iv-" .. next_id("interview", 0))
    local iv = load("interview", iid) or { id = iid, scorecard = {} }
    iv.email, iv.report_url = email, link("interview", iid)
    save(r, "interview", iid, iv)
    commit(r)
    local payload = { operation = "interview_completed", email = email, interview_id = iid,
                      report_url = iv.report_url }
    return webhook_answer(post_coderbyte(key, payload), { payload = payload })
end

---------------------------------------------------------------- control: views

local function by_email(kind, email)
    local out = array()
    for _, x in ipairs(all(kind)) do
        if x.email and lower(x.email) == lower(email) then
            out[#out + 1] = x
        end
    end
    return out
end

local function assessment_name(aid)
    local a = load("assessment", aid)
    return a and a.name or aid
end

local function coderbyte_view(email)
    local invitations, reports, interviews = array(), array(), array()
    for _, inv in ipairs(by_email("invitation", email)) do
        local v = invitation_view(inv)
        v.assessment = assessment_name(inv.assessment_id)
        invitations[#invitations + 1] = v
    end
    for _, rep in ipairs(by_email("report", email)) do
        local v = report_data(rep)
        v.assessment, v.fetches = assessment_name(rep.assessment_id), rep.fetches
        reports[#reports + 1] = v
    end
    for _, iv in ipairs(by_email("interview", email)) do
        interviews[#interviews + 1] = { id = iv.id, report_url = iv.report_url, scorecard = iv.scorecard }
    end
    return invitations, reports, interviews
end

local function show_candidate(c)
    local v = candidate_view(c)
    v.applications = array()
    for _, a in ipairs(applications_of(c.id)) do
        local app = application_view(a)
        v.applications[#v.applications + 1] = { id = app.id, job = app.job, stage = app.stage, status = app.status }
    end
    v.notes, v.tags = notes_of(c.id), tags_of(c.id)
    v.invitations, v.reports, v.interviews = coderbyte_view(c.emails[1] or "")
    return v
end

local function ctl_show(_, req)
    local email = req.query.email
    local list = (email and email ~= "") and candidates_with(email) or all("candidate")
    local out = array()
    for _, c in ipairs(list) do
        out[#out + 1] = show_candidate(c)
    end
    return 200, { candidates = out }
end

-- ?since=N: only requests after sequence number N.
local function ctl_requests(_, req)
    local since = tonumber(req.query.since) or 0
    local out = array()
    for _, q in ipairs(all("request")) do
        if q.seq > since then
            out[#out + 1] = q
        end
    end
    return 200, out
end

---------------------------------------------------------------- routing

-- { method, path pattern, handler, record? }; captures are passed on.
-- Scripted failures for tests (POST /sandbox/ctl/faults): each rule
-- { method?, path = Lua pattern, status | timeout = true, times = 1 (-1:
--   always), retry_after?, json? } answers a matching API request in place
-- of the simulator, `times` times; a time-out rule never answers (the
-- client gives up after its own time-out). Kept in memory: a test world
-- starts without any.
local faults = {}

local function ctl_faults(_, req)
    local rules = req.json.rules
    if type(rules) ~= "table" then fail(400, "faults: send { rules = [ … ] }") end
    faults = {}
    for i, f in ipairs(rules) do
        if type(f.path) ~= "string" or (math.type(f.status) == nil) == (f.timeout ~= true) then
            fail(400, ("faults: rule %d needs a path pattern and either a status or timeout = true"):format(i))
        end
        faults[#faults + 1] = { method = f.method, path = f.path, status = math.tointeger(f.status),
            timeout = f.timeout == true, times = math.tointeger(f.times or 1),
            retry_after = f.retry_after, json = f.json }
    end
    return 200, { rules = #faults }
end

-- The fault that answers this request, if any (its count goes down).
local function take_fault(req)
    for _, f in ipairs(faults) do
        if f.times ~= 0 and (not f.method or f.method == req.method) and req.path:find(f.path) then
            if f.times > 0 then f.times = f.times - 1 end
            return f
        end
    end
    return nil
end

local ROUTES = {
    { "GET", "^/sandbox/ats/jobs$", ats_jobs, true },
    { "GET", "^/sandbox/ats/jobs/([^/]+)/stages$", ats_stages, true },
    { "GET", "^/sandbox/ats/applications/([^/]+)$", ats_application, true },
    { "POST", "^/sandbox/ats/applications/([^/]+)/move$", ats_move, true },
    { "GET", "^/sandbox/ats/candidates$", ats_candidates, true },
    { "POST", "^/sandbox/ats/candidates/([^/]+)/notes$", ats_add_note, true },
    { "GET", "^/sandbox/ats/candidates/([^/]+)/notes$", ats_notes, true },
    { "POST", "^/sandbox/ats/candidates/([^/]+)/tags$", ats_add_tag, true },
    { "GET", "^/sandbox/ats/candidates/([^/]+)/tags$", ats_tags, true },
    { "GET", "^/sandbox/coderbyte/api/v1/assessments$", cb_assessments, true, true },
    { "POST", "^/sandbox/coderbyte/api/v1/assessments/([^/]+)/invitations$", cb_invite, true, true },
    { "GET", "^/sandbox/coderbyte/api/v1/assessments/([^/]+)/invitations$", cb_find_invitation, true, true },
    { "GET", "^/sandbox/coderbyte/api/v1/assessments/([^/]+)/reports$", cb_report, true, true },
    { "GET", "^/sandbox/coderbyte/api/v1/interviews/([^/]+)/report$", cb_interview_report, true, true },
    { "GET", "^/sandbox/coderbyte/invite/([^/]+)$", cb_page("invite") },
    { "GET", "^/sandbox/coderbyte/report/([^/]+)$", cb_page("report") },
    { "GET", "^/sandbox/coderbyte/interview/([^/]+)$", cb_page("interview") },
    { "POST", "^/sandbox/ctl/seed$", ctl_seed },
    { "POST", "^/sandbox/ctl/reset$", ctl_reset },
    { "POST", "^/sandbox/ctl/move$", ctl_move },
    { "POST", "^/sandbox/ctl/complete$", ctl_complete },
    { "POST", "^/sandbox/ctl/scorecard$", ctl_scorecard },
    { "POST", "^/sandbox/ctl/interview$", ctl_interview },
    { "GET", "^/sandbox/ctl/show$", ctl_show },
    { "GET", "^/sandbox/ctl/requests$", ctl_requests },
    { "POST", "^/sandbox/ctl/faults$", ctl_faults },
}

local function find_route(method, path)
    local path_known = false
    for _, rt in ipairs(ROUTES) do
        local caps = { path:match(rt[2]) }
        if caps[1] ~= nil then
            if rt[1] == method then
                -- without a capture, match gives the whole path: no argument
                return rt, rt[2]:find("(", 1, true) and caps or {}
            end
            path_known = true
        end
    end
    fail(path_known and 405 or 404, (path_known and "method not allowed: " or "not found: ") .. method .. " " .. path)
end

-- A JSON body as a table ({} when empty); anything else is a 400.
local function body_json(req)
    if req.body == nil or req.body:match("^%s*$") then
        return {}
    end
    local v = json.decode(req.body)
    if type(v) ~= "table" then
        fail(400, "the body is not a JSON object")
    end
    return v
end

local function is_api(path)
    return path:find("^/sandbox/ats/") or path:find("^/sandbox/coderbyte/api/")
end

-- Routes one request; returns status, answer table.
local function dispatch(r, req)
    req.query = req.query or {}
    if is_api(req.path) then
        local f = take_fault(req)
        record(r, req, f)
        if f and f.timeout then
            r.park = true
            return nil
        elseif f then
            if f.retry_after then r.headers = { ["retry-after"] = tostring(f.retry_after) } end
            return f.status, f.json or { error = "scripted fault " .. f.status }
        end
    end
    local rt, caps = find_route(req.method, req.path)
    if rt[5] and not authorized(req) then
        fail(401, "missing or invalid API key (Authorization: Bearer <api_key>)")
    end
    req.json = body_json(req)
    return rt[3](r, req, table.unpack(caps))
end

local function answer(r, req)
    local ok, status, body = pcall(dispatch, r, req)
    if not ok then
        local e = status
        if type(e) == "table" and e.sim_status then
            status, body = e.sim_status, { error = e.message }
        else
            host.log("error", "sandbox request failed", { "path", tostring(req.path), "error", tostring(e) })
            status, body = 500, { error = tostring(e) }
        end
    end
    -- an error after a write still commits what was written: the journal
    -- is shared and commits in groups anyway
    commit(r)
    return status, encode(body) .. "\n"
end

-- Task entry: answers request `id` exactly once, or never (a scripted
-- time-out parks it).
function M.handle(id, req)
    local r = { wrote = false }
    local ok, status, body = pcall(answer, r, req)
    if ok and r.park then
        host.park(id)
        return
    end
    if not ok then
        local e = status
        status = type(e) == "table" and e.sim_status or 500
        body = cjson.encode({ error = tostring(type(e) == "table" and e.message or e) }) .. "\n"
    end
    host.reply(id, status, "application/json", body, r.headers)
end

return M
