-- coderbyte: the Coderbyte adapter (spec coderbyte.md). Owns the webhook JWT
-- check, the dedupe key, webhook -> canonical event mapping (holding
-- assessment_completed until the report data is ready) and the API calls
-- automations need: list assessments, invite, invitation lookup, reports.
-- Relies on the host ctx (adapters/README.md): http/expect/fail, jwt, crypto,
-- json (cjson.safe), now/sleep, id, urlencode. Keeps no state of its own.

-- Modeled, not confirmed: Coderbyte's public reference names these routes but
-- not their paths or response shapes (spec coderbyte.md, "API out"). Every
-- path lives here so that fixing one is a one-line change; `{name}` is
-- replaced by the percent-encoded value.
local PATHS = {
    assessments      = "/api/v1/assessments",
    invite           = "/api/v1/assessments/{assessment_id}/invitations",
    find_invitation  = "/api/v1/assessments/{assessment_id}/invitations?email={email}",
    report           = "/api/v1/assessments/{assessment_id}/reports?email={email}",
    interview_report = "/api/v1/interviews/{interview_id}/report",
}

local DEFAULTS = {
    base_url = "https://coderbyte.com",
    likely_counts_as_cheating = false,
    report_wait = "30m",
}

local JWT_LEEWAY = 60          -- seconds, for exp and nbf
local BACKOFF_FIRST = 5000     -- ms before the second report fetch
local BACKOFF_MAX = 300000     -- ms, cap of one wait

-- plagiarism level as Coderbyte writes it (lower-cased) -> canonical level
local CHEATING = {
    ["not detected"] = "not_detected",
    ["likely"] = "likely",
    ["detected"] = "detected",
}

local M = {
    name = "coderbyte",
    kind = "coderbyte",
    config = {
        required = { "api_key", "organization_id" },
        optional = { "base_url", "likely_counts_as_cheating", "report_wait" },
        secrets = { "api_key" },
        defaults = DEFAULTS,
    },
    limits = { rate = 5, burst = 10 },
}

local function setting(ctx, key)
    local v = ctx.cfg[key]
    if v == nil then
        return DEFAULTS[key]
    end
    return v
end

-- "30m", "90s", "500ms", "1h", "2d" -> milliseconds; a number is taken as ms.
local UNITS = { ms = 1, s = 1000, m = 60000, h = 3600000, d = 86400000 }

local function duration_ms(v, key)
    if type(v) == "number" then
        return v
    end
    local n, unit = tostring(v):match("^%s*(%d+%.?%d*)%s*(%a+)%s*$")
    if not n or not UNITS[unit] then
        error(("coderbyte: %s must be a duration like \"30m\""):format(key), 0)
    end
    return math.floor(tonumber(n) * UNITS[unit])
end

-- A JSON string that is present and non-empty (cjson.null is not), else nil.
local function str(v)
    if type(v) == "string" and v ~= "" then
        return v
    end
    return nil
end

local function bool(v)
    if type(v) == "boolean" then
        return v
    end
    return nil
end

-- Any JSON value but null (cjson.null is a truthy lightuserdata).
local function present(v)
    if v == nil or type(v) == "userdata" then
        return nil
    end
    return v
end

local function num(v)
    if type(v) == "number" then
        return v
    end
    return type(v) == "string" and tonumber(v) or nil
end

-- Upstream text quoted in reasons and logs: one short line.
local function short(s)
    return (tostring(s):gsub("%c", " "):sub(1, 64))
end

local function trim(s)
    return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- An id field: non-empty string, or a number (JSON numbers decode as floats).
local function has_id(v)
    return str(v) ~= nil or type(v) == "number"
end

-- Absolute URL for a PATHS entry; vars fill its `{name}` holes.
local function url(ctx, name, vars)
    local path = PATHS[name]:gsub("{([%w_]+)}", function(k)
        if vars[k] == nil then
            error(("coderbyte: %s needs %s"):format(name, k), 3)
        end
        return ctx.urlencode(ctx.id(vars[k]))
    end)
    return (tostring(setting(ctx, "base_url")):gsub("/+$", "")) .. path
end

local function call(ctx, method, name, vars, extra)
    local req = {
        method = method,
        url = url(ctx, name, vars),
        auth = { bearer = ctx.cfg.api_key },
    }
    for k, v in pairs(extra or {}) do
        req[k] = v
    end
    return ctx.http(req)
end

---------------------------------------------------------------- webhooks in

-- The claims of a token verify() accepted (so its payload is authentic), or
-- nil when they cannot be read.
local function claims_of(ctx, token)
    local part = token:match("^[^.]*%.([^.]*)%.[^.]*$")
    if not part then
        return nil
    end
    local ok, raw = pcall(ctx.crypto.base64url_decode, part)
    local obj = ok and raw and ctx.json.decode(raw)
    return type(obj) == "table" and obj or nil
end

local function bearer_token(req)
    local value = (req.headers or {}).authorization
    if value == nil then
        return nil, "missing Authorization header"
    end
    if type(value) ~= "string" then
        return nil, "malformed Authorization header"
    end
    local scheme, token = value:match("^%s*(%S+)%s+(%S+)%s*$")
    if not scheme then
        return nil, "malformed Authorization header"
    end
    if scheme:lower() ~= "bearer" then
        return nil, "Authorization is not a Bearer token"
    end
    return token
end

-- Reasons are the host's fixed strings or ours: never the token or the body.
function M.verify(ctx, req)
    local token, why = bearer_token(req)
    if not token then
        return false, why
    end
    local claims, reason = ctx.jwt.verify_hs256(token, ctx.cfg.api_key, {
        issuer = ctx.cfg.organization_id,
        now = ctx.now() // 1000,
        leeway = JWT_LEEWAY,
    })
    if not claims then
        return false, "jwt: " .. short(reason or "rejected")
    end
    return true
end

-- The body has no delivery id: its SHA-256, plus the token's jti when sent.
function M.delivery_id(ctx, req)
    local id = ctx.crypto.hex(ctx.crypto.sha256(req.body))
    local token = bearer_token(req)
    local claims = token and claims_of(ctx, token)
    if claims and has_id(claims.jti) then
        id = id .. ":" .. ctx.id(claims.jti)
    end
    return id
end

-- Fields are non-empty strings; `*_id` fields may also be numbers.
local function require_fields(p, op, names)
    for _, name in ipairs(names) do
        local v = p[name]
        if not (str(v) or (name:find("_id$") and has_id(v))) then
            error(("%s: missing field %s"):format(op, name), 0)
        end
    end
end

local function candidate(p)
    return { emails = { p.email } }
end

-- Report data normalized; cheating_detected follows likely_counts_as_cheating.
local function normalize_report(ctx, j)
    local plagiarism = str(j.plagiarism)
    local cheating = plagiarism and CHEATING[trim(plagiarism:lower())]
    if plagiarism and not cheating then
        ctx.log.warn("coderbyte: unknown plagiarism level '%s'", short(plagiarism))
    end
    local detected = nil
    if cheating then
        detected = cheating == "detected"
            or (cheating == "likely" and setting(ctx, "likely_counts_as_cheating") == true)
    end
    return {
        report_ready = j.report_ready == true,
        score = num(j.final_score),
        code_score = num(j.code_score),
        mc_score = num(j.mc_score),
        qualified = bool(j.qualified),
        cheating = cheating,
        cheating_detected = detected,
        time_taken = present(j.time_taken),
        report_url = str(j.report_url),
    }
end

-- Fetches report data until it is ready or report_wait has passed (measured
-- on ctx.now, so virtual time in tests). Returns the last report and whether
-- it was ready.
local function await_report(ctx, assessment_id, email)
    local wait = duration_ms(setting(ctx, "report_wait"), "report_wait")
    local started = ctx.now()
    local delay = BACKOFF_FIRST
    while true do
        local rep = M.report(ctx, assessment_id, email)
        if rep.report_ready then
            return rep, true
        end
        local left = wait - (ctx.now() - started)
        if left <= 0 then
            return rep, false
        end
        ctx.sleep(math.floor(math.min(delay, left)))
        delay = math.min(delay * 2, BACKOFF_MAX)
    end
end

local function assessment_completed(ctx, p)
    require_fields(p, "assessment_completed", { "email", "assessment_id" })
    local id = ctx.id(p.assessment_id)
    local a = { id = id, time_expired = bool(p.time_expired), report_url = str(p.report_url) }
    local ev = { type = "assessment.completed", candidate = candidate(p), assessment = a }
    -- Scope (spec semantics.md): when the host says no enabled automation
    -- refers to this assessment, the report data is not fetched at all; the
    -- event is journaled as ignored without it.
    if ctx.wanted and not ctx.wanted(ev) then
        return ev
    end
    local rep, ready = await_report(ctx, id, p.email)
    a.report_url = a.report_url or rep.report_url
    if ready then
        a.score, a.qualified = rep.score, rep.qualified
        a.cheating, a.cheating_detected = rep.cheating, rep.cheating_detected
        a.code_score, a.mc_score, a.time_taken = rep.code_score, rep.mc_score, rep.time_taken
    else
        -- a report that is not ready has provisional numbers: never guess
        a.report_incomplete = true
    end
    return ev
end

local function candidate_joined(ctx, p)
    require_fields(p, "candidate_joined", { "email", "assessment_id" })
    return {
        type = "assessment.started",
        candidate = candidate(p),
        assessment = { id = ctx.id(p.assessment_id) },
    }
end

local function scorecard(p)
    local op = "scorecard_updated"
    require_fields(p, op, { "trigger" })
    local event
    if p.trigger == "recommendation" then
        require_fields(p, op, { "recommendation" })
        if p.recommendation ~= "thumb_up" and p.recommendation ~= "thumb_down" then
            error(op .. ": unknown recommendation " .. short(p.recommendation), 0)
        end
        event = p.recommendation
    elseif p.trigger == "comment" then
        event = "comment_added"
    else
        error(op .. ": unknown trigger " .. short(p.trigger), 0)
    end
    return { event = event, comment = str(p.comment), reviewer = str(p.email_admin) }
end

local function scorecard_updated(ctx, p)
    require_fields(p, "scorecard_updated", { "email" })
    local ev = { candidate = candidate(p), scorecard = scorecard(p) }
    if has_id(p.assessment_id) then
        ev.type = "assessment.scorecard_updated"
        ev.assessment = { id = ctx.id(p.assessment_id), report_url = str(p.report_url) }
    elseif has_id(p.interview_id) then
        ev.type = "interview.scorecard_updated"
        ev.interview = { id = ctx.id(p.interview_id), report_url = str(p.report_url) }
    else
        error("scorecard_updated: missing field assessment_id or interview_id", 0)
    end
    return ev
end

local function interview_completed(ctx, p)
    require_fields(p, "interview_completed", { "email", "interview_id" })
    return {
        type = "interview.finished",
        candidate = candidate(p),
        interview = { id = ctx.id(p.interview_id), report_url = str(p.report_url) },
    }
end

local OPERATIONS = {
    assessment_completed = assessment_completed,
    candidate_joined = candidate_joined,
    scorecard_updated = scorecard_updated,
    interview_completed = interview_completed,
}

-- One delivery -> one canonical event. The host stamps id, source and
-- received_at; `raw` is the decoded webhook body.
function M.parse(ctx, req)
    local p = ctx.json.decode(req.body)
    if type(p) ~= "table" then
        error("body is not a JSON object", 0)
    end
    if not str(p.operation) then
        error("missing field operation", 0)
    end
    local handler = OPERATIONS[p.operation]
    if not handler then
        error("unknown operation " .. short(p.operation), 0)
    end
    if str(p.organization_id) and p.organization_id ~= ctx.cfg.organization_id then
        error(p.operation .. ": organization_id is not the configured one", 0)
    end
    local ev = handler(ctx, p)
    ev.raw = p
    return { ev }
end

---------------------------------------------------------------- API out

function M.assessments(ctx)
    local res = ctx.expect(call(ctx, "GET", "assessments", {}), { 200 }, "list assessments")
    local list = type(res.json) == "table" and res.json.assessments
    if type(list) ~= "table" then
        ctx.fail("list assessments: response has no assessments list", false)
    end
    local out = {}
    for _, a in ipairs(list) do
        out[#out + 1] = {
            id = ctx.id(a.id),
            name = str(a.name),
            qualifying_score = num(a.qualifying_score),
        }
    end
    return out
end

-- Modeled response of the invitation lookup: { invitations = [ … ] } or one
-- invitation object. Returns the one for `email`, or nil.
local function invitation_from(ctx, j, email)
    if type(j) ~= "table" then
        return nil
    end
    local list = type(j.invitations) == "table" and j.invitations or { j }
    for _, inv in ipairs(list) do
        local e = str(inv.email)
        if str(inv.invite_url) and (not e or e:lower() == email:lower()) then
            return { invite_url = inv.invite_url, invitation_id = ctx.id(inv.invitation_id) }
        end
    end
    return nil
end

function M.find_invitation(ctx, assessment_id, email)
    local vars = { assessment_id = assessment_id, email = email }
    local res = ctx.expect(call(ctx, "GET", "find_invitation", vars), { 200, 404 },
        "find invitation")
    local inv = res.status == 200 and invitation_from(ctx, res.json, email) or nil
    if inv then
        inv.existing = true
    end
    return inv
end

-- Sent with the caller's idempotency key (`<run id>:<step>`); 409 means the
-- candidate was already invited, which is success with the existing invite.
function M.invite(ctx, assessment_id, cand, key)
    if type(cand) ~= "table" or not str(cand.email) or not str(key) then
        error("coderbyte.invite: needs cand.email and an idempotency key", 2)
    end
    local res = ctx.expect(call(ctx, "POST", "invite", { assessment_id = assessment_id }, {
        headers = { ["Idempotency-Key"] = key },
        json = { email = cand.email, name = str(cand.name) },
    }), { 200, 201, 409 }, "invite")
    if res.status == 409 then
        local inv = M.find_invitation(ctx, assessment_id, cand.email)
        if not inv then
            -- may be a lagging read: let the run retry rather than resend
            ctx.fail("invite: 409 already invited, but no invitation found", true)
        end
        return inv
    end
    local j = type(res.json) == "table" and res.json or {}
    if not str(j.invite_url) then
        ctx.fail("invite: response has no invite_url", false)
    end
    return { invite_url = j.invite_url, invitation_id = ctx.id(j.invitation_id), existing = false }
end

function M.report(ctx, assessment_id, email)
    local vars = { assessment_id = assessment_id, email = email }
    local res = ctx.expect(call(ctx, "GET", "report", vars), { 200 }, "report data")
    if type(res.json) ~= "table" then
        ctx.fail("report data: response is not a JSON object", false)
    end
    return normalize_report(ctx, res.json)
end

function M.interview_report(ctx, interview_id)
    local res = ctx.expect(call(ctx, "GET", "interview_report", { interview_id = interview_id }),
        { 200 }, "interview report")
    local j = type(res.json) == "table" and res.json or {}
    return { report_url = str(j.report_url), scorecard = present(j.scorecard) }
end

return M
