-- Contract tests for adapters/ashby.lua: the Ashby-Signature check, the
-- stage-change payload (tests/fixtures/ashby, our own, shaped as the spec
-- says; the README there marks what is 3p), and every RPC primitive against a
-- fake that answers like Ashby (`{ success, results }`, errors with HTTP 200,
-- cursor pagination).

local SECRET = "ashby-webhook-secret"
local CFG = { api_key = "ashby-api-key", webhook_secret = SECRET }
local API = "https://api.ashbyhq.com"
local BASIC = "Basic " .. crypto.base64_encode("ashby-api-key:")
local HEADERS = { authorization = BASIC, ["content-type"] = "application/json" }
local APP = "9f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"
local CAND = "3b2a1c0d-9e8f-4a7b-b6c5-d4e3f2a1b0c9"
local JOB = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
local PLAN = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e"
local SCREEN = "c0d1e2f3-a4b5-4c6d-8e7f-9a0b1c2d3e4f"
local ONSITE = "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a"

---------------------------------------------------------------- helpers

local function delivery(body, signature)
    local h = { ["content-type"] = "application/json" }
    if signature ~= false then
        h["ashby-signature"] = signature or ("sha256=" .. crypto.hex(crypto.hmac_sha256(SECRET, body)))
    end
    return { method = "POST", path = "/webhooks/ashby", query = {}, headers = h, body = body }
end

local function view(r)
    return { method = r.method, url = r.url, headers = r.headers, json = r.json }
end

-- The RPC calls made, as { method, body }.
local function calls(a, from)
    local out = {}
    for i = from or 1, #a.requests do
        local r = a.requests[i]
        out[#out + 1] = { r.url:sub(#API + 2), r.json }
    end
    return out
end

---------------------------------------------------------------- fake Ashby

local PAGE = 2

local function new_ashby()
    local webhook = json.decode(fixture("ashby/candidateStageChange.json")).data.application
    local ab = {
        jobs = {
            { id = JOB, title = "Backend Engineer", status = "Open", interviewPlanIds = { PLAN },
                defaultInterviewPlanId = PLAN },
            { id = "8e0f1a2b-3c4d-4e5f-9a6b-7c8d9e0f1a2b", title = "Frontend Engineer", status = "Open",
                interviewPlanIds = {}, defaultInterviewPlanId = "6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f" },
            { id = "9f1a2b3c-4d5e-4f6a-8b7c-8d9e0f1a2b3c", title = "Data Engineer", status = "Open",
                interviewPlanIds = {} },
        },
        stages = {
            [PLAN] = {
                { id = "b9c0d1e2-f3a4-4b5c-9d6e-7f8a9b0c1d2e", title = "Application Review", orderInInterviewPlan = 1 },
                { id = SCREEN, title = "Technical Screen", orderInInterviewPlan = 2 },
                { id = ONSITE, title = "Onsite", orderInInterviewPlan = 3 },
            },
        },
        applications = { [APP] = webhook },
        candidates = {
            { id = CAND, name = "Ada Lovelace", primaryEmailAddress = webhook.candidate.primaryEmailAddress,
                emailAddresses = webhook.candidate.emailAddresses, applicationIds = { APP }, tags = {} },
            { id = "4c3b2a1d-0f9e-4b8a-a7c6-e5f4a3b2c1d0", name = "Ada King",
                primaryEmailAddress = { value = "ada@example.com", type = "Personal", isPrimary = true },
                applicationIds = {}, tags = {} },
        },
        tags = { { id = "1a1a1a1a-0000-4000-8000-000000000001", title = "referral", isArchived = false } },
        notes = {},
        cursors = {},
        moves = 0,
        tag_writes = 0,
    }

    local function ok_answer(results, extra)
        local body = { success = true, results = results }
        for k, v in pairs(extra or {}) do
            body[k] = v
        end
        local s = json.encode(body)
        if type(results) == "table" and next(results) == nil then
            s = s:gsub('"results":{}', '"results":[]')
        end
        return { status = 200, headers = { ["content-type"] = "application/json" }, body = s }
    end

    -- Errors come back with HTTP 200 and success = false.
    local function err_answer(msg)
        return { status = 200, headers = { ["content-type"] = "application/json" },
            body = json.encode { success = false, errors = { msg } } }
    end

    local function page(b, items)
        local start = 1
        if b.cursor then
            start = ab.cursors[b.cursor]
            if not start then
                return err_answer("invalid_cursor")
            end
        end
        local limit = b.limit or PAGE
        local size = math.min(limit, PAGE)
        local out = {}
        for i = start, math.min(#items, start + size - 1) do
            out[#out + 1] = items[i]
        end
        local more = start + size <= #items
        local extra = { moreDataAvailable = more }
        if more then
            local name = "cur" .. (#ab.cursors + 1)
            ab.cursors[#ab.cursors + 1] = name
            ab.cursors[name] = start + size
            extra.nextCursor = name
        end
        return ok_answer(out, extra)
    end

    local function candidate(id)
        for _, c in ipairs(ab.candidates) do
            if c.id == id then
                return c
            end
        end
    end

    function ab.respond(req)
        if req.headers.authorization ~= BASIC then
            return { status = 401, body = '{"success":false,"errors":["invalid_api_key"]}' }
        end
        assert(req.method == "POST", "Ashby methods are all POST")
        local m, b = req.url:sub(#API + 2), req.json or {}
        if ab.fail_next then
            local f = ab.fail_next
            ab.fail_next = nil
            return f
        end
        if m == "job.list" then
            return page(b, ab.jobs)
        elseif m == "job.info" then
            for _, j in ipairs(ab.jobs) do
                if j.id == b.id then
                    return ok_answer(j)
                end
            end
            return err_answer("job_not_found")
        elseif m == "interviewStage.list" then
            return page(b, ab.stages[b.interviewPlanId] or {})
        elseif m == "application.info" then
            local app = ab.applications[b.applicationId]
            return app and ok_answer(app) or err_answer("application_not_found")
        elseif m == "application.changeStage" then
            local app = ab.applications[b.applicationId]
            for _, s in ipairs(ab.stages[PLAN]) do
                if s.id == b.interviewStageId then
                    app.currentInterviewStage = { id = s.id, title = s.title, type = "Active",
                        orderInInterviewPlan = s.orderInInterviewPlan, interviewPlanId = PLAN }
                    ab.moves = ab.moves + 1
                    return ok_answer(app)
                end
            end
            return err_answer("invalid_input: interviewStageId is not a stage of this application's plan")
        elseif m == "candidate.search" then
            local out = {}
            for _, c in ipairs(ab.candidates) do
                if c.primaryEmailAddress.value == b.email then
                    out[#out + 1] = c
                end
            end
            return ok_answer(out)
        elseif m == "candidate.info" then
            local c = candidate(b.id)
            return c and ok_answer(c) or err_answer("candidate_not_found")
        elseif m == "candidate.createNote" then
            ab.notes[b.candidateId] = ab.notes[b.candidateId] or {}
            local n = { id = "note-" .. (#ab.notes[b.candidateId] + 1), content = b.note,
                createdAt = "2025-11-28T10:00:00.000Z" }
            table.insert(ab.notes[b.candidateId], n)
            return ok_answer(n)
        elseif m == "candidate.listNotes" then
            return page(b, ab.notes[b.candidateId] or {})
        elseif m == "candidateTag.list" then
            return page(b, ab.tags)
        elseif m == "candidateTag.create" then
            local t = { id = "1a1a1a1a-0000-4000-8000-00000000000" .. (#ab.tags + 1), title = b.title,
                isArchived = false }
            ab.tags[#ab.tags + 1] = t
            return ok_answer(t)
        elseif m == "candidate.addTag" then
            local c = candidate(b.candidateId)
            for _, t in ipairs(ab.tags) do
                if t.id == b.tagId then
                    table.insert(c.tags, t)
                    ab.tag_writes = ab.tag_writes + 1
                    return ok_answer(c)
                end
            end
            return err_answer("tag_not_found")
        end
        error("fake ashby: no method " .. m)
    end
    return ab
end

local function ashby()
    local ab = new_ashby()
    return adapter("ashby", CFG, { responder = ab.respond }), ab
end

---------------------------------------------------------------- contract

test("ashby declares its config keys and secrets", function()
    local ab = require "adapters.ashby"
    eq(ab.name, "ashby")
    eq(ab.kind, "ats")
    eq(ab.config, {
        required = { "api_key", "webhook_secret" },
        optional = { "base_url", "duplicate_candidates" },
        secrets = { "api_key", "webhook_secret" },
    })
    ok(ab.limits.rate > 0 and ab.limits.burst >= 1)
end)

---------------------------------------------------------------- webhooks

test("a delivery signed with the webhook secret verifies", function()
    local a = adapter("ashby", CFG)
    eq({ a.verify(delivery(fixture("ashby/candidateStageChange.json"))) }, { true })
end)

test("a tampered body fails verification", function()
    local a = adapter("ashby", CFG)
    local body = fixture("ashby/candidateStageChange.json")
    local req = delivery(body)
    req.body = body:gsub("Technical Screen", "Offer", 1)
    eq({ a.verify(req) }, { false, "signature mismatch" })
end)

test("a signature made with another secret fails verification", function()
    local a = adapter("ashby", CFG)
    local body = fixture("ashby/candidateStageChange.json")
    local sig = "sha256=" .. crypto.hex(crypto.hmac_sha256("not-the-secret", body))
    eq({ a.verify(delivery(body, sig)) }, { false, "signature mismatch" })
end)

test("a delivery without Ashby-Signature fails verification", function()
    local a = adapter("ashby", CFG)
    eq({ a.verify(delivery(fixture("ashby/ping.json"), false)) }, { false, "missing Ashby-Signature header" })
    eq({ a.verify(delivery("{}", "sha256 abcdef")) }, { false, "malformed Ashby-Signature header" })
end)

test("the delivery id is webhookActionId and action", function()
    local a = adapter("ashby", CFG)
    eq(a.delivery_id(delivery(fixture("ashby/candidateStageChange.json"))),
        "6a0f3c1e-2b4d-4f8a-9c7e-1d2b3a4c5e6f:candidateStageChange")
    -- related events share the webhookActionId: the action keeps them apart
    eq(a.delivery_id(delivery(fixture("ashby/applicationStatusChange.json"))),
        "6a0f3c1e-2b4d-4f8a-9c7e-1d2b3a4c5e6f:applicationUpdate")
end)

test("a ping is answered 200 and produces no event", function()
    local a = adapter("ashby", CFG)
    local req = delivery(fixture("ashby/ping.json"))
    eq({ a.verify(req) }, { true })
    eq(a.parse(req), { ping = true, reply = { status = 200, body = "ok" } })
end)

test("candidateStageChange becomes applicant.moved_to_stage with every email", function()
    local a = adapter("ashby", CFG)
    local body = fixture("ashby/candidateStageChange.json")
    eq(a.parse(delivery(body)), { {
        type = "applicant.moved_to_stage",
        candidate = { id = CAND, name = "Ada Lovelace", emails = { "ada@example.com", "ada.lovelace@work.example.com" } },
        application = { id = APP },
        job = { id = JOB, name = "Backend Engineer" },
        stage = { id = SCREEN, name = "Technical Screen" },
        raw = json.decode(body),
    } })
end)

test("other Ashby actions produce no event", function()
    local a = adapter("ashby", CFG)
    eq(a.parse(delivery(fixture("ashby/applicationStatusChange.json"))), {})
end)

test("a stage change without an application raises", function()
    local a = adapter("ashby", CFG)
    raises(function() a.parse(delivery('{"webhookActionId":"w","action":"candidateStageChange","data":{}}')) end,
        "payload not understood")
end)

---------------------------------------------------------------- catalog and reads

test("jobs pages through job.list with cursor and limit", function()
    local a = ashby()
    eq(a.jobs(), {
        { id = JOB, name = "Backend Engineer" },
        { id = "8e0f1a2b-3c4d-4e5f-9a6b-7c8d9e0f1a2b", name = "Frontend Engineer" },
        { id = "9f1a2b3c-4d5e-4f6a-8b7c-8d9e0f1a2b3c", name = "Data Engineer" },
    })
    eq(view(a.requests[1]), { method = "POST", url = API .. "/job.list", headers = HEADERS, json = { limit = 100 } })
    eq(calls(a), { { "job.list", { limit = 100 } }, { "job.list", { limit = 100, cursor = "cur1" } } })
end)

test("stages lists the interview stages of the job's plan in order", function()
    local a = ashby()
    eq(a.stages(JOB), {
        { id = "b9c0d1e2-f3a4-4b5c-9d6e-7f8a9b0c1d2e", name = "Application Review" },
        { id = SCREEN, name = "Technical Screen" },
        { id = ONSITE, name = "Onsite" },
    })
    eq(calls(a), {
        { "job.info", { id = JOB } },
        { "interviewStage.list", { interviewPlanId = PLAN } },
        { "interviewStage.list", { interviewPlanId = PLAN, cursor = "cur1" } },
    })
end)

test("stages falls back to the default interview plan", function()
    local a = ashby()
    eq(a.stages("8e0f1a2b-3c4d-4e5f-9a6b-7c8d9e0f1a2b"), {})
    eq(calls(a)[2], { "interviewStage.list", { interviewPlanId = "6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e9f" } })
end)

test("application reads application.info", function()
    local a = ashby()
    eq(a.application(APP), {
        id = APP,
        candidate = { id = CAND, name = "Ada Lovelace", emails = { "ada@example.com", "ada.lovelace@work.example.com" } },
        job = { id = JOB, name = "Backend Engineer" },
        stage = { id = SCREEN, name = "Technical Screen" },
        status = "Active",
    })
    eq(view(a.requests[1]), { method = "POST", url = API .. "/application.info", headers = HEADERS,
        json = { applicationId = APP } })
end)

test("success = false with HTTP 200 is an error carrying Ashby's message", function()
    local a = ashby()
    local err = raises(function() a.application("no-such-app") end, "ashby get application")
    ok(err:find("application_not_found", 1, true), err)
end)

test("an HTTP error is raised with the call's name", function()
    local a, ab = ashby()
    ab.fail_next = { status = 503, body = "upstream unavailable" }
    local err = raises(function() a.jobs() end, "ashby list jobs")
    ok(err:find("503", 1, true), err)
end)

test("find_candidates returns every candidate with that email", function()
    local a = ashby()
    eq(a.find_candidates("ada@example.com"), {
        { id = CAND, name = "Ada Lovelace", emails = { "ada@example.com", "ada.lovelace@work.example.com" },
            application_ids = { APP } },
        { id = "4c3b2a1d-0f9e-4b8a-a7c6-e5f4a3b2c1d0", name = "Ada King", emails = { "ada@example.com" },
            application_ids = {} },
    })
    eq(calls(a), { { "candidate.search", { email = "ada@example.com" } } })
end)

---------------------------------------------------------------- writes

test("a move to the current stage succeeds without a write", function()
    local a, ab = ashby()
    eq(a.move_to_stage(APP, SCREEN), { moved = false, from = SCREEN })
    eq(calls(a), { { "application.info", { applicationId = APP } } })
    eq(ab.moves, 0)
end)

test("a move calls application.changeStage", function()
    local a, ab = ashby()
    eq(a.move_to_stage(APP, ONSITE), { moved = true, from = SCREEN })
    eq(view(a.requests[2]), { method = "POST", url = API .. "/application.changeStage", headers = HEADERS,
        json = { applicationId = APP, interviewStageId = ONSITE } })
    eq(a.move_to_stage(APP, ONSITE), { moved = false, from = ONSITE })
    eq(ab.moves, 1)
end)

test("a move Ashby refuses with success = false fails the call", function()
    local a = ashby()
    local err = raises(function() a.move_to_stage(APP, "not-a-stage") end, "ashby move application")
    ok(err:find("interviewStageId is not a stage", 1, true), err)
end)

test("add_note calls candidate.createNote", function()
    local a = ashby()
    eq(a.add_note({ id = CAND, application_id = APP }, "Invited to Backend Take-Home"), { id = "note-1" })
    eq(view(a.requests[1]), { method = "POST", url = API .. "/candidate.createNote", headers = HEADERS,
        json = { candidateId = CAND, note = "Invited to Backend Take-Home" } })
end)

test("has_note finds a marker among the candidate's notes", function()
    local a = ashby()
    eq(a.has_note({ id = CAND }, "[atsflow:run-3:1]"), false)
    a.add_note({ id = CAND }, "Report: https://coderbyte.example/r/3\n[atsflow:run-3:1]")
    eq(a.has_note({ id = CAND }, "[atsflow:run-3:1]"), true)
    eq(calls(a)[1], { "candidate.listNotes", { candidateId = CAND } })
end)

test("add_tag creates the tag, adds it, and is idempotent", function()
    local a, ab = ashby()
    eq(a.add_tag({ id = CAND }, "coderbyte-invited"), true)
    eq(calls(a), {
        { "candidateTag.list", {} },
        { "candidateTag.create", { title = "coderbyte-invited" } },
        { "candidate.info", { id = CAND } },
        { "candidate.addTag", { candidateId = CAND, tagId = "1a1a1a1a-0000-4000-8000-000000000002" } },
    })
    eq(a.requests[1].body, "{}")
    local before = #a.requests
    eq(a.add_tag({ id = CAND }, "coderbyte-invited"), true)
    eq(calls(a, before + 1), {
        { "candidateTag.list", {} },
        { "candidate.info", { id = CAND } },
    })
    eq(ab.tag_writes, 1)
    eq(#ab.tags, 2)
end)
