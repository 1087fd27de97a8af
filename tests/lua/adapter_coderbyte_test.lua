-- Contract tests for adapters/coderbyte.lua (docs/testkit-adapters.md): the
-- webhook JWT check, the dedupe key, webhook -> canonical event mapping with
-- the report wait, and the modeled API calls. Webhook bodies come from the
-- vendor's examples in tests/fixtures/coderbyte/ (see its README).

local KEY = "cb_test_api_key_0123456789"
local ORG = "coderbyteengineering"
local NOW = 1764324000000 -- ms, the virtual clock
local NOW_S = NOW // 1000
local BASE = "https://coderbyte.test"
local EMAIL = "daniel@test.com"
local ASSESSMENT = "angular-assessment-9six08om28556"
local REPORT = "https://coderbyte.com/report/user462h9y1s11y:" .. ASSESSMENT
local REPORT_DATA_URL = BASE .. "/api/v1/assessments/" .. ASSESSMENT
    .. "/reports?email=daniel%40test.com"

local function merge(base, extra)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
end

local function config(extra)
    return merge({ api_key = KEY, organization_id = ORG, base_url = BASE }, extra)
end

local function claims(extra)
    return merge({ iss = ORG, iat = NOW_S, exp = NOW_S + 300 }, extra)
end

local function webhook(body, authorization)
    return {
        method = "POST",
        path = "/webhooks/coderbyte",
        query = {},
        headers = { authorization = authorization, ["content-type"] = "application/json" },
        body = body,
    }
end

local function signed(body, c)
    return webhook(body, "Bearer " .. jwt.sign_hs256(c or claims(), KEY))
end

-- A token built by hand, for headers jwt.sign_hs256 would not produce.
local function hand_token(header, c, sig)
    local input = crypto.base64url_encode(json.encode(header)) .. "."
        .. crypto.base64url_encode(json.encode(c))
    return input .. "." .. (sig and crypto.base64url_encode(sig(input)) or "")
end

-- Answers "METHOD url" from a map; a list value is a queue of answers.
local function routes(map)
    return function(req)
        local r = map[req.method .. " " .. req.url]
        if r and r.status == nil then
            r = table.remove(r, 1)
        end
        return r or { status = 404, body = '{"error":"no route"}' }
    end
end

local function ok_json(body)
    return { status = 200, headers = { ["content-type"] = "application/json" }, body = body }
end

-- A fixture with some fields changed; `false` removes the field.
local function with(fixture_name, changes)
    local t = json.decode(fixture(fixture_name))
    for k, v in pairs(changes) do
        t[k] = v ~= false and v or nil
    end
    return json.encode(t)
end

local function cb(cfg, opts)
    return adapter("coderbyte", config(cfg), merge({ now = NOW }, opts))
end

local function rejected(req, reason)
    local a = cb()
    local accepted, why = a.verify(req)
    eq(accepted, false, "accepted")
    eq(why, reason)
    local token = (req.headers.authorization or ""):match("(%S+)%s*$")
    if token and #token > 8 then
        ok(not why:find(token, 1, true), "the reason holds the token")
    end
    ok(not why:find(req.body, 1, true), "the reason holds the body")
end

----------------------------------------------------------------- verify

local BODY = fixture("coderbyte/scorecard_updated.json")

test("a token signed with the API key and issued by the organization is accepted", function()
    eq({ cb().verify(signed(BODY)) }, { true })
end)

test("the Bearer scheme is matched in any case", function()
    local req = webhook(BODY, "bearer " .. jwt.sign_hs256(claims(), KEY))
    eq({ cb().verify(req) }, { true })
end)

test("a token signed with another key is rejected", function()
    rejected(webhook(BODY, "Bearer " .. jwt.sign_hs256(claims(), "another-key")),
        "jwt: bad signature")
end)

test("a token whose claims were changed after signing is rejected", function()
    local h, _, sig = jwt.sign_hs256(claims({ iss = "someone-else" }), KEY):match("^([^.]+)%.([^.]+)%.([^.]+)$")
    local forged = h .. "." .. crypto.base64url_encode(json.encode(claims())) .. "." .. sig
    rejected(webhook(BODY, "Bearer " .. forged), "jwt: bad signature")
end)

test("a token from another issuer is rejected", function()
    rejected(signed(BODY, claims({ iss = "someone-else" })), "jwt: wrong issuer")
end)

test("a token without an issuer is rejected", function()
    local c = claims()
    c.iss = nil
    rejected(signed(BODY, c), "jwt: wrong issuer")
end)

test("a token expired for more than the 60 s leeway is rejected", function()
    rejected(signed(BODY, claims({ exp = NOW_S - 61 })), "jwt: token expired")
end)

test("a token expired within the 60 s leeway is accepted", function()
    eq({ cb().verify(signed(BODY, claims({ exp = NOW_S - 59 }))) }, { true })
end)

test("a token whose nbf is in the future beyond the leeway is rejected", function()
    rejected(signed(BODY, claims({ nbf = NOW_S + 120 })), "jwt: token not yet valid")
end)

test("a token whose nbf is within the leeway is accepted", function()
    eq({ cb().verify(signed(BODY, claims({ nbf = NOW_S + 30 }))) }, { true })
end)

test("an unsigned alg none token is rejected", function()
    local token = hand_token({ alg = "none", typ = "JWT" }, claims())
    rejected(webhook(BODY, "Bearer " .. token), "jwt: alg must be HS256")
end)

test("an RS256 token, even with a valid HMAC of the key, is rejected", function()
    local token = hand_token({ alg = "RS256", typ = "JWT" }, claims(), function(input)
        return crypto.hmac_sha256(KEY, input)
    end)
    rejected(webhook(BODY, "Bearer " .. token), "jwt: alg must be HS256")
end)

test("a missing Authorization header is rejected", function()
    rejected(webhook(BODY, nil), "missing Authorization header")
end)

test("a Basic Authorization header is rejected", function()
    local basic = "Basic " .. crypto.base64_encode(ORG .. ":" .. KEY)
    rejected(webhook(BODY, basic), "Authorization is not a Bearer token")
end)

test("a Bearer header without a token, or with two, is malformed", function()
    rejected(webhook(BODY, "Bearer"), "malformed Authorization header")
    rejected(webhook(BODY, "Bearer a.b.c d.e.f"), "malformed Authorization header")
end)

test("a bearer value that is not a JWT is rejected", function()
    rejected(webhook(BODY, "Bearer not-a-jwt-at-all"), "jwt: malformed token")
end)

----------------------------------------------------------------- delivery_id

test("the delivery id is the hex SHA-256 of the body when the token has no jti", function()
    eq(cb().delivery_id(signed(BODY)), crypto.hex(crypto.sha256(BODY)))
end)

test("the delivery id appends the token's jti", function()
    local id = cb().delivery_id(signed(BODY, claims({ jti = "d3f1-77" })))
    eq(id, crypto.hex(crypto.sha256(BODY)) .. ":d3f1-77")
end)

test("two clicks whose bodies differ only in the comment are two deliveries", function()
    local other = BODY:gsub("Candidate did a great job!", "Candidate did a great job!!")
    ok(other ~= BODY)
    local token = "Bearer " .. jwt.sign_hs256(claims(), KEY)
    local a = cb()
    ok(a.delivery_id(webhook(BODY, token)) ~= a.delivery_id(webhook(other, token)))
end)

----------------------------------------------------------------- parse

local function report_routes(...)
    return routes({ ["GET " .. REPORT_DATA_URL] = { ... } })
end

local READY = fixture("coderbyte/report_ready.json")
local NOT_READY = fixture("coderbyte/report_not_ready.json")

local COMPLETED = {
    id = ASSESSMENT,
    score = 87,
    code_score = 90,
    mc_score = 80,
    time_taken = 2710,
    qualified = true,
    cheating = "not_detected",
    cheating_detected = false,
    time_expired = false,
    report_url = REPORT,
}

test("assessment_completed with a ready report becomes assessment.completed", function()
    local body = fixture("coderbyte/assessment_completed.json")
    local a = cb(nil, { responder = report_routes(ok_json(READY)) })
    eq(a.parse(signed(body)), { {
        type = "assessment.completed",
        candidate = { emails = { EMAIL } },
        assessment = COMPLETED,
        raw = json.decode(body),
    } })
    eq(#a.requests, 1)
    eq(a.requests[1].method, "GET")
    eq(a.requests[1].url, REPORT_DATA_URL)
    eq(a.requests[1].headers.authorization, "Bearer " .. KEY)
    eq(a.sleeps, {})
end)

test("a report not ready twice is fetched again after 5 s and 10 s", function()
    local body = fixture("coderbyte/assessment_completed_not_ready.json")
    local wait = ok_json(NOT_READY)
    local a = cb(nil, { responder = report_routes(wait, wait,
        ok_json(READY)) })
    local events = a.parse(signed(body))
    eq(a.sleeps, { 5000, 10000 })
    eq(#a.requests, 3)
    for i = 1, 3 do
        eq(a.requests[i].method .. " " .. a.requests[i].url, "GET " .. REPORT_DATA_URL)
    end
    eq(events, { {
        type = "assessment.completed",
        candidate = { emails = { EMAIL } },
        assessment = merge(COMPLETED, { time_expired = true }),
        raw = json.decode(body),
    } })
end)

test("a report never ready within report_wait gives report_incomplete without a verdict", function()
    local body = fixture("coderbyte/assessment_completed_not_ready.json")
    local a = cb({ report_wait = "1m" }, { responder = function()
        return ok_json(NOT_READY)
    end })
    local events = a.parse(signed(body))
    -- fetches at 0, 5, 15, 35 and 60 s: the last wait is cut to the deadline
    eq(a.sleeps, { 5000, 10000, 20000, 25000 })
    eq(#a.requests, 5)
    eq(events, { {
        type = "assessment.completed",
        candidate = { emails = { EMAIL } },
        assessment = {
            id = ASSESSMENT,
            time_expired = true,
            report_url = REPORT,
            report_incomplete = true,
        },
        raw = json.decode(body),
    } })
end)

test("the default report_wait is 30 minutes with waits capped at 5 minutes", function()
    local a = cb(nil, { responder = function()
        return ok_json(NOT_READY)
    end })
    local events = a.parse(signed(fixture("coderbyte/assessment_completed_not_ready.json")))
    eq(a.sleeps, { 5000, 10000, 20000, 40000, 80000, 160000,
                   300000, 300000, 300000, 300000, 285000 })
    eq(#a.requests, 12)
    eq(events[1].assessment.report_incomplete, true)
    eq(events[1].assessment.qualified, nil)
    eq(events[1].assessment.cheating_detected, nil)
end)

test("the report link falls back to the report data's when the webhook has none", function()
    local body = with("coderbyte/assessment_completed.json", { report_url = false })
    local data = with("coderbyte/report_ready.json", { report_url = "https://cb/r/2" })
    local a = cb(nil, { responder = report_routes(ok_json(data)) })
    eq(a.parse(signed(body))[1].assessment.report_url, "https://cb/r/2")
end)

local function cheating_of(level, cfg)
    local data = with("coderbyte/report_ready.json", { plagiarism = level })
    local a = cb(cfg, { responder = report_routes(ok_json(data)) })
    local ev = a.parse(signed(fixture("coderbyte/assessment_completed.json")))[1]
    return { ev.assessment.cheating, ev.assessment.cheating_detected }
end

test("Likely plagiarism is not cheating by default", function()
    eq(cheating_of("Likely"), { "likely", false })
end)

test("Likely plagiarism is cheating with likely_counts_as_cheating", function()
    eq(cheating_of("Likely", { likely_counts_as_cheating = true }), { "likely", true })
end)

test("Detected plagiarism is cheating either way; Not detected never", function()
    eq(cheating_of("Detected"), { "detected", true })
    eq(cheating_of("Not detected", { likely_counts_as_cheating = true }),
        { "not_detected", false })
end)

test("an unknown plagiarism level is left unknown, never guessed", function()
    eq(cheating_of("Maybe"), {})
end)

test("candidate_joined becomes assessment.started", function()
    local body = fixture("coderbyte/candidate_joined.json")
    eq(cb().parse(signed(body)), { {
        type = "assessment.started",
        candidate = { emails = { EMAIL } },
        assessment = { id = ASSESSMENT },
        raw = json.decode(body),
    } })
end)

test("a recommendation on an assessment scorecard becomes assessment.scorecard_updated", function()
    local body = fixture("coderbyte/scorecard_updated.json")
    eq(cb().parse(signed(body)), { {
        type = "assessment.scorecard_updated",
        candidate = { emails = { EMAIL } },
        assessment = {
            id = "graphql-assessment-4ndwhki34nke2212",
            report_url = "https://coderbyte.com/report/user844232qes52q:"
                .. "graphql-assessment-4ndwhki34nke2212",
        },
        scorecard = { event = "thumb_up", comment = "Candidate did a great job!",
                      reviewer = "hr@company.com" },
        raw = json.decode(body),
    } })
end)

test("a comment on an interview scorecard becomes interview.scorecard_updated", function()
    local body = fixture("coderbyte/scorecard_updated_interview_comment.json")
    eq(cb().parse(signed(body)), { {
        type = "interview.scorecard_updated",
        candidate = { emails = { EMAIL } },
        interview = {
            id = "w246Ri1UP",
            report_url = "https://coderbyte.com/report/interview:w246Ri1UP:coderbyteengineering",
        },
        scorecard = { event = "comment_added", comment = "Strong on SQL, weak on testing.",
                      reviewer = "hr@company.com" },
        raw = json.decode(body),
    } })
end)

test("a null comment is no comment", function()
    local body = with("coderbyte/scorecard_updated.json",
        { comment = json.null, recommendation = "thumb_down" })
    eq(cb().parse(signed(body))[1].scorecard,
        { event = "thumb_down", reviewer = "hr@company.com" })
end)

test("interview_completed becomes interview.finished", function()
    local body = fixture("coderbyte/interview_completed.json")
    eq(cb().parse(signed(body)), { {
        type = "interview.finished",
        candidate = { emails = { EMAIL } },
        interview = {
            id = "w246Ri1UP",
            report_url = "https://coderbyte.com/report/interview:w246Ri1UP:coderbyteengineering",
        },
        raw = json.decode(body),
    } })
end)

test("an unknown operation is not understood", function()
    raises(function()
        cb().parse(signed('{"operation":"quiz_started","email":"a@b.c"}'))
    end, "unknown operation quiz_started")
end)

test("payloads missing what the event needs are not understood, saying what", function()
    local a = cb()
    raises(function()
        a.parse(signed(with("coderbyte/assessment_completed.json", { assessment_id = false })))
    end, "assessment_completed: missing field assessment_id")
    raises(function()
        a.parse(signed(with("coderbyte/candidate_joined.json", { email = false })))
    end, "candidate_joined: missing field email")
    raises(function()
        a.parse(signed(with("coderbyte/interview_completed.json", { interview_id = json.null })))
    end, "interview_completed: missing field interview_id")
    raises(function()
        a.parse(signed(with("coderbyte/scorecard_updated.json", { assessment_id = false })))
    end, "scorecard_updated: missing field assessment_id or interview_id")
    raises(function()
        a.parse(signed(with("coderbyte/scorecard_updated.json", { trigger = "emoji" })))
    end, "scorecard_updated: unknown trigger emoji")
    raises(function()
        a.parse(signed(with("coderbyte/scorecard_updated.json", { recommendation = "meh" })))
    end, "scorecard_updated: unknown recommendation meh")
    eq(#a.requests, 0)
end)

test("a body that is not a JSON object with an operation is not understood", function()
    local a = cb()
    raises(function() a.parse(signed("[1,2]")) end, "missing field operation")
    raises(function() a.parse(signed("nope")) end, "body is not a JSON object")
    raises(function() a.parse(signed('"str"')) end, "body is not a JSON object")
end)

test("a body for another organization is not understood", function()
    raises(function()
        cb().parse(signed(with("coderbyte/candidate_joined.json", { organization_id = "evil" })))
    end, "candidate_joined: organization_id is not the configured one")
end)

----------------------------------------------------------------- API out

local INVITES_URL = BASE .. "/api/v1/assessments/backend-take-home-9x1/invitations"
local ADA = { email = "ada@example.com", name = "Ada Lovelace" }

test("assessments lists id, name and qualifying score", function()
    local a = cb(nil, { responder = routes({
        ["GET " .. BASE .. "/api/v1/assessments"] = ok_json(fixture("coderbyte/assessments.json")),
    }) })
    eq(a.assessments(), {
        { id = ASSESSMENT, name = "Angular Take-Home", qualifying_score = 70 },
        { id = "backend-take-home-9x1", name = "Backend Take-Home" },
    })
    eq(a.requests[1].headers.authorization, "Bearer " .. KEY)
end)

test("invite posts email and name with the bearer key and the idempotency key", function()
    local a = cb(nil, { responder = routes({
        ["POST " .. INVITES_URL] =
            { status = 201, body = fixture("coderbyte/invitation_created.json") },
    }) })
    eq(a.invite("backend-take-home-9x1", ADA, "run-42:1"), {
        invite_url = json.decode(fixture("coderbyte/invitation_created.json")).invite_url,
        invitation_id = "inv_a1b2c3",
        existing = false,
    })
    eq(#a.requests, 1)
    local r = a.requests[1]
    eq(r.method, "POST")
    eq(r.url, INVITES_URL)
    eq(r.headers.authorization, "Bearer " .. KEY)
    eq(r.headers["idempotency-key"], "run-42:1")
    eq(r.headers["content-type"], "application/json")
    eq(r.json, { email = "ada@example.com", name = "Ada Lovelace" })
end)

test("invite answered 409 reads and returns the existing invitation", function()
    local a = cb(nil, { responder = routes({
        ["POST " .. INVITES_URL] = { status = 409, body = '{"error":"already invited"}' },
        ["GET " .. INVITES_URL .. "?email=ada%40example.com"] =
            ok_json(fixture("coderbyte/invitations.json")),
    }) })
    local inv = a.invite("backend-take-home-9x1", ADA, "run-42:1")
    eq(inv, {
        invite_url = json.decode(fixture("coderbyte/invitations.json")).invitations[1].invite_url,
        invitation_id = "inv_z9y8x7",
        existing = true,
    })
    eq(#a.requests, 2)
    eq(a.requests[2].method, "GET")
    eq(a.requests[2].headers.authorization, "Bearer " .. KEY)
end)

test("invite answered 409 with no invitation to be found is retried, not resent", function()
    local a = cb(nil, { responder = routes({
        ["POST " .. INVITES_URL] = { status = 409, body = "{}" },
    }) })
    raises(function() a.invite("backend-take-home-9x1", ADA, "run-42:1") end, "retryable")
    eq(#a.requests, 2)
end)

test("invite refused by Coderbyte fails with the upstream status", function()
    local a = cb(nil, { responder = routes({
        ["POST " .. INVITES_URL] = { status = 422, body = '{"error":"bad email"}' },
    }) })
    raises(function() a.invite("backend-take-home-9x1", ADA, "run-42:1") end, "invite")
end)

test("find_invitation is nil when Coderbyte has none", function()
    local a = cb(nil, { responder = routes({}) })
    eq(a.find_invitation("backend-take-home-9x1", "ada@example.com"), nil)
    eq(a.requests[1].url, INVITES_URL .. "?email=ada%40example.com")
end)

test("report returns the report data normalized", function()
    local a = cb(nil, { responder = report_routes(ok_json(READY)) })
    eq(a.report(ASSESSMENT, EMAIL), {
        report_ready = true, score = 87, code_score = 90, mc_score = 80, time_taken = 2710,
        qualified = true, cheating = "not_detected", cheating_detected = false,
        report_url = REPORT,
    })
end)

test("interview_report returns the link and the scorecard", function()
    local url = BASE .. "/api/v1/interviews/w246Ri1UP/report"
    local a = cb(nil, { responder = routes({
        ["GET " .. url] =
            ok_json('{"report_url":"https://cb/i/1","scorecard":{"overall":"thumb_up"}}'),
    }) })
    eq(a.interview_report("w246Ri1UP"),
        { report_url = "https://cb/i/1", scorecard = { overall = "thumb_up" } })
    eq(a.requests[1].headers.authorization, "Bearer " .. KEY)
end)

test("report data nulls are absent, and a not-ready report says so", function()
    local a = cb(nil, { responder = report_routes(ok_json(NOT_READY)) })
    eq(a.report(ASSESSMENT, EMAIL), {
        report_ready = false, score = 40, mc_score = 80, qualified = false,
        time_taken = 2710, report_url = REPORT,
    })
end)

test("base_url defaults to https://coderbyte.com and may end in a slash", function()
    local seen = {}
    local function list(r)
        seen[#seen + 1] = r.url
        return ok_json('{"assessments":[]}')
    end
    adapter("coderbyte", { api_key = KEY, organization_id = ORG },
        { now = NOW, responder = list }).assessments()
    cb({ base_url = BASE .. "/" }, { responder = list }).assessments()
    eq(seen, { "https://coderbyte.com/api/v1/assessments", BASE .. "/api/v1/assessments" })
end)

test("a report_wait that is not a duration fails the delivery, saying so", function()
    local a = cb({ report_wait = "soon" }, { responder = report_routes(ok_json(NOT_READY)) })
    raises(function()
        a.parse(signed(fixture("coderbyte/assessment_completed_not_ready.json")))
    end, "report_wait must be a duration")
end)

test("an upstream failure while fetching report data is raised, classified", function()
    local a = cb(nil, { responder = report_routes({ status = 503, body = "busy" }) })
    raises(function()
        a.parse(signed(fixture("coderbyte/assessment_completed.json")))
    end, "report data")
end)
