-- Contract tests for adapters/sandbox.lua: the Standard Webhooks check (the
-- published test vector: secret, id, timestamp, body, signature), canonical
-- events in (one or an array), and every API primitive against a fake that
-- answers like the simulated ATS (runtime/lua/sim.lua, /sandbox/ats).

local SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
local SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
local SW_TS = 1614265330
local SW_BODY = '{"test": 2432232314}'
local SW_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
local NOW = SW_TS * 1000

local BASE = "http://127.0.0.1:8080/sandbox/ats"
local CFG = { webhook_secret = SW_SECRET, base_url = BASE }
local JSON_HEADERS = { ["content-type"] = "application/json" }

---------------------------------------------------------------- helpers

local function delivery(body, headers)
    local h = { ["content-type"] = "application/json" }
    for k, v in pairs(headers or {}) do
        h[k] = v
    end
    return { method = "POST", path = "/webhooks/sandbox", query = {}, headers = h, body = body }
end

-- The published vector's headers; `drop` removes one of them.
local function vector(drop)
    local h = { ["webhook-id"] = SW_ID, ["webhook-timestamp"] = tostring(SW_TS), ["webhook-signature"] = SW_SIG }
    if drop then
        h[drop] = nil
    end
    return delivery(SW_BODY, h)
end

-- A delivery of `body` signed now with the spec secret.
local function signed(body, id)
    id = id or "msg_1"
    return delivery(body, {
        ["webhook-id"] = id,
        ["webhook-timestamp"] = tostring(SW_TS),
        ["webhook-signature"] = stdwebhooks.sign(SW_SECRET, id, SW_TS, body),
    })
end

local function at(now, cfg)
    return adapter("sandbox", cfg or CFG, { now = now })
end

local function view(r)
    return { method = r.method, url = r.url, headers = r.headers, json = r.json }
end

local function get(path)
    return { method = "GET", url = BASE .. path, headers = {} }
end

local function post(path, body)
    return { method = "POST", url = BASE .. path, headers = JSON_HEADERS, json = body }
end

local function views(a, from)
    local out = {}
    for i = from or 1, #a.requests do
        out[#out + 1] = view(a.requests[i])
    end
    return out
end

---------------------------------------------------------------- fake sandbox ATS

-- Answers like sim.lua; numeric ids in places, as an in-house ATS might
-- send them (the adapter must turn them into strings).
local function new_ats()
    local stages = {
        { id = 1011, name = "Application Review" }, { id = 1012, name = "Technical Screen" },
        { id = 1013, name = "Onsite" }, { id = 1014, name = "Offer" },
    }
    local ats = {
        jobs = { { id = 101, name = "Backend Engineer" }, { id = "102", name = "Frontend Engineer" } },
        app = { id = 301, candidate = { id = 201, name = "Ada Lovelace", emails = { "ada@example.com" } },
                job = { id = 101, name = "Backend Engineer" }, stage = stages[1], status = "active" },
        candidates = {
            { id = 201, name = "Ada Lovelace", emails = { "ada@example.com" }, application_ids = { 301 } },
            { id = "203", name = "Ada L.", emails = { "ADA@example.com" }, application_ids = {} },
        },
        notes = {},
        tags = {},
        moves = 0,
        tag_writes = 0,
    }

    local function answer(status, v)
        local body = json.encode(v)
        if type(v) == "table" and next(v) == nil then
            body = "[]"
        end
        return { status = status, headers = JSON_HEADERS, body = body }
    end

    local function stage(id)
        for _, s in ipairs(stages) do
            if tostring(s.id) == id then
                return s
            end
        end
    end

    local routes = {
        { "GET", "^/jobs$", function() return answer(200, ats.jobs) end },
        { "GET", "^/jobs/101/stages$", function() return answer(200, stages) end },
        { "GET", "^/applications/301$", function() return answer(200, ats.app) end },
        { "GET", "^/candidates%?email=(.*)$", function(_, email)
            local out = {}
            for _, c in ipairs(ats.candidates) do
                if c.emails[1]:lower() == email:gsub("%%40", "@"):lower() then
                    out[#out + 1] = c
                end
            end
            return answer(200, out)
        end },
        { "POST", "^/applications/301/move$", function(req)
            local s = stage(req.json.stage_id)
            if not s then
                return answer(422, { error = "stage " .. req.json.stage_id .. " is not a stage of job Backend Engineer" })
            end
            ats.app.stage, ats.moves = s, ats.moves + 1
            return answer(200, { moved = true, from = "1011" })
        end },
        { "POST", "^/candidates/201/notes$", function(req)
            ats.notes[#ats.notes + 1] = { id = 400 + #ats.notes + 1, body = req.json.body }
            return answer(201, { id = ats.notes[#ats.notes].id })
        end },
        { "GET", "^/candidates/201/notes$", function() return answer(200, ats.notes) end },
        { "GET", "^/candidates/201/tags$", function() return answer(200, ats.tags) end },
        { "POST", "^/candidates/201/tags$", function(req)
            ats.tags[#ats.tags + 1] = req.json.tag
            ats.tag_writes = ats.tag_writes + 1
            return answer(200, { tag = req.json.tag, added = true })
        end },
    }

    function ats.respond(req)
        assert(req.url:sub(1, #BASE) == BASE, "request outside base_url: " .. req.url)
        assert(req.headers.authorization == nil, "the sandbox API takes no credentials")
        if ats.fail_next then
            local f = ats.fail_next
            ats.fail_next = nil
            return f
        end
        local path = req.url:sub(#BASE + 1)
        for _, rt in ipairs(routes) do
            local m = { path:match(rt[2]) }
            if req.method == rt[1] and m[1] then
                return rt[3](req, table.unpack(m))
            end
        end
        return answer(404, { error = "not found: " .. req.method .. " " .. path })
    end
    return ats
end

local function sandbox()
    local ats = new_ats()
    return adapter("sandbox", CFG, { responder = ats.respond, now = NOW }), ats
end

---------------------------------------------------------------- contract

test("sandbox declares its config keys, secrets and limits", function()
    local m = require "adapters.sandbox"
    eq(m.name, "sandbox")
    eq(m.kind, "ats")
    eq(m.config, { required = {}, optional = { "webhook_secret", "base_url" }, secrets = { "webhook_secret" } })
    eq(m.limits, { rate = 100, burst = 100 })
end)

---------------------------------------------------------------- verify

test("the published Standard Webhooks vector verifies", function()
    eq({ at(NOW).verify(vector()) }, { true })
end)

test("the signature covers the exact body bytes", function()
    local req = vector()
    req.body = '{"test":2432232314}'
    eq({ at(NOW).verify(req) }, { false, "no matching signature" })
end)

test("a tampered body fails verification", function()
    local req = vector()
    req.body = '{"test": 2432232315}'
    eq({ at(NOW).verify(req) }, { false, "no matching signature" })
end)

test("timestamps 300 s off either way verify, 301 s do not", function()
    eq({ at(NOW + 300000).verify(vector()) }, { true }, "300 s late")
    eq({ at(NOW - 300000).verify(vector()) }, { true }, "300 s early")
    eq({ at(NOW + 301000).verify(vector()) }, { false, "timestamp outside tolerance" }, "301 s late")
    eq({ at(NOW - 301000).verify(vector()) }, { false, "timestamp outside tolerance" }, "301 s early")
end)

test("a signature made with another secret fails verification", function()
    local a = at(NOW, { webhook_secret = stdwebhooks.new_secret(), base_url = BASE })
    eq({ a.verify(vector()) }, { false, "no matching signature" })
end)

test("without a configured secret nothing verifies", function()
    eq({ at(NOW, { base_url = BASE }).verify(vector()) }, { false, "webhook secret is not configured" })
end)

test("each missing header fails verification and names the header", function()
    for _, name in ipairs({ "webhook-id", "webhook-timestamp", "webhook-signature" }) do
        eq({ at(NOW).verify(vector(name)) }, { false, "missing " .. name .. " header" }, name)
    end
end)

test("any v1 signature in the list may match", function()
    local req = vector()
    req.headers["webhook-signature"] = "v1,bm90LXRoZS1zaWduYXR1cmU= " .. SW_SIG
    eq({ at(NOW).verify(req) }, { true })
end)

test("the delivery id is the webhook-id header", function()
    eq(at(NOW).delivery_id(vector()), SW_ID)
end)

---------------------------------------------------------------- parse

local MOVED = [[{"type":"applicant.moved_to_stage",
 "candidate":{"id":201,"name":"Ada Lovelace","emails":["ada@example.com"]},
 "application":{"id":"301"},
 "job":{"id":101,"name":"Backend Engineer"},
 "stage":{"id":"1012","name":"Technical Screen"},
 "previous_stage":{"id":1011,"name":"Application Review"},
 "custom":{"team":"platform"}}]]

test("one canonical event becomes that event, ids as strings, fields kept", function()
    local req = signed(MOVED)
    eq({ at(NOW).verify(req) }, { true })
    eq(at(NOW).parse(req), { {
        id = "sandbox:msg_1:0",
        type = "applicant.moved_to_stage",
        source = "sandbox",
        candidate = { id = "201", name = "Ada Lovelace", emails = { "ada@example.com" } },
        application = { id = "301" },
        job = { id = "101", name = "Backend Engineer" },
        stage = { id = "1012", name = "Technical Screen" },
        previous_stage = { id = "1011", name = "Application Review" },
        custom = { team = "platform" },
        raw = json.decode(MOVED),
    } })
end)

test("an array body becomes one event per element, numbered", function()
    local body = "[" .. MOVED .. [[,
 {"type":"candidate.hired","candidate":{"id":"202","name":"Grace Hopper","emails":["grace@example.com"]},
  "application":{"id":302},"previous_stage":null}]
]]
    local evs = at(NOW).parse(signed(body, "msg_2"))
    eq(#evs, 2)
    eq(evs[1].id, "sandbox:msg_2:0")
    eq(evs[1].stage, { id = "1012", name = "Technical Screen" })
    eq(evs[1].raw, json.decode(MOVED))
    eq(evs[2], {
        id = "sandbox:msg_2:1",
        type = "candidate.hired",
        source = "sandbox",
        candidate = { id = "202", name = "Grace Hopper", emails = { "grace@example.com" } },
        application = { id = "302" },
        raw = json.decode(body)[2],
    })
end)

test("the sender's id, source and received_at are atsflow's to set", function()
    local body = [[{"type":"job.updated","id":"mine-1","source":"hr-system",
 "received_at":"2020-01-01T00:00:00Z","job":{"id":7,"name":"Data"}}]]
    local evs = at(NOW).parse(signed(body, "msg_3"))
    eq(evs, { {
        id = "sandbox:msg_3:0",
        type = "job.updated",
        source = "sandbox",
        job = { id = "7", name = "Data" },
        raw = json.decode(body),
    } })
end)

test("an empty array is a delivery without events", function()
    eq(at(NOW).parse(signed("[]")), {})
end)

test("bodies that are not canonical events are not understood", function()
    local a = at(NOW)
    raises(function() a.parse(signed("not json")) end, "payload not understood: body is not JSON")
    raises(function() a.parse(signed('{"candidate":{"id":"1"}}')) end,
        "payload not understood: event 1: missing field type")
    raises(function() a.parse(signed('[{"type":"x.y"}, 3]')) end, "payload not understood: event 2: not an object")
    raises(function() a.parse(signed('{"type":"x.y","job":"Backend"}')) end, "event 1: job is not an object")
    raises(function() a.parse(signed('{"type":"x.y","candidate":{"id":1,"emails":"a@b.c"}}')) end,
        "event 1: candidate.emails is not a list")
end)

test("a stage change without its required members is not understood", function()
    local a = at(NOW)
    local body = MOVED:gsub('"stage":{"id":"1012","name":"Technical Screen"},', "")
    raises(function() a.parse(signed(body)) end, "applicant.moved_to_stage without stage.id")
    body = MOVED:gsub('"application":{"id":"301"}', '"application":{}')
    raises(function() a.parse(signed(body)) end, "applicant.moved_to_stage without application.id")
end)

---------------------------------------------------------------- catalog and reads

test("jobs reads GET /jobs", function()
    local a = sandbox()
    eq(a.jobs(), { { id = "101", name = "Backend Engineer" }, { id = "102", name = "Frontend Engineer" } })
    eq(views(a), { get("/jobs") })
end)

test("stages reads GET /jobs/{id}/stages in order", function()
    local a = sandbox()
    eq(a.stages("101"), {
        { id = "1011", name = "Application Review" }, { id = "1012", name = "Technical Screen" },
        { id = "1013", name = "Onsite" }, { id = "1014", name = "Offer" },
    })
    eq(views(a), { get("/jobs/101/stages") })
end)

test("application reads GET /applications/{id}", function()
    local a = sandbox()
    eq(a.application("301"), {
        id = "301",
        candidate = { id = "201", name = "Ada Lovelace", emails = { "ada@example.com" } },
        job = { id = "101", name = "Backend Engineer" },
        stage = { id = "1011", name = "Application Review" },
        status = "active",
    })
    eq(views(a), { get("/applications/301") })
end)

test("find_candidates returns every candidate with the email, duplicates included", function()
    local a = sandbox()
    eq(a.find_candidates("ada@example.com"), {
        { id = "201", name = "Ada Lovelace", emails = { "ada@example.com" }, application_ids = { "301" } },
        { id = "203", name = "Ada L.", emails = { "ADA@example.com" }, application_ids = {} },
    })
    eq(views(a), { get("/candidates?email=ada%40example.com") })
end)

test("an unknown application is a permanent error naming the call", function()
    local a = sandbox()
    local err = raises(function() a.application("999") end, "sandbox get application")
    ok(err:find("404", 1, true), err)
end)

test("an HTTP error is raised with the call's name and status", function()
    local a, ats = sandbox()
    ats.fail_next = { status = 503, headers = {}, body = "unavailable" }
    local err = raises(function() a.jobs() end, "sandbox list jobs")
    ok(err:find("503", 1, true), err)
end)

test("an answer that is not a JSON array fails instead of reading as empty", function()
    local a, ats = sandbox()
    ats.fail_next = { status = 200, headers = { ["content-type"] = "text/html" }, body = "<html>hello</html>" }
    raises(function() a.jobs() end, "sandbox list jobs: the answer is not a JSON array")
end)

test("without base_url the API calls fail with a clear message", function()
    local a = adapter("sandbox", { webhook_secret = SW_SECRET }, { responder = new_ats().respond })
    raises(function() a.jobs() end, "base_url is not set")
end)

---------------------------------------------------------------- writes

test("a move to the current stage reads the application and writes nothing", function()
    local a, ats = sandbox()
    eq(a.move_to_stage("301", "1011"), { moved = false, from = "1011" })
    eq(views(a), { get("/applications/301") })
    eq(ats.moves, 0)
end)

test("a move reads the application, then POSTs /applications/{id}/move", function()
    local a, ats = sandbox()
    eq(a.move_to_stage("301", "1012"), { moved = true, from = "1011" })
    eq(views(a), { get("/applications/301"), post("/applications/301/move", { stage_id = "1012" }) })
    eq(a.requests[2].body, '{"stage_id":"1012"}')
    eq(a.move_to_stage("301", "1012"), { moved = false, from = "1012" }, "a repeated step")
    eq(ats.moves, 1)
end)

test("a move to a stage of another job is refused with the upstream's message", function()
    local a = sandbox()
    local err = raises(function() a.move_to_stage("301", "1022") end, "sandbox move application")
    ok(err:find("422", 1, true) and err:find("not a stage of job", 1, true), err)
end)

test("add_note POSTs /candidates/{id}/notes and returns the note id", function()
    local a = sandbox()
    eq(a.add_note({ id = "201", application_id = "301" }, "Invited to Backend Take-Home"), { id = "401" })
    eq(views(a), { post("/candidates/201/notes", { body = "Invited to Backend Take-Home" }) })
end)

test("has_note finds a marker among the candidate's notes", function()
    local a = sandbox()
    eq(a.has_note({ id = "201" }, "[atsflow:run-3:1]"), false)
    a.add_note({ id = "201" }, "Report: http://127.0.0.1/r/3\n[atsflow:run-3:1]")
    eq(a.has_note({ id = "201" }, "[atsflow:run-3:1]"), true)
    eq(a.has_note({ id = "201" }, "[atsflow:run-3:2]"), false)
    eq(views(a)[1], get("/candidates/201/notes"))
end)

test("add_tag reads the tags, adds a missing one, and is idempotent", function()
    local a, ats = sandbox()
    eq(a.add_tag({ id = "201" }, "coderbyte-invited"), true)
    eq(views(a), { get("/candidates/201/tags"), post("/candidates/201/tags", { tag = "coderbyte-invited" }) })
    local before = #a.requests
    eq(a.add_tag({ id = "201" }, "coderbyte-invited"), true)
    eq(views(a, before + 1), { get("/candidates/201/tags") })
    eq(ats.tag_writes, 1)
end)
