-- Contract tests for adapters/lever.lua: the token+triggeredAt webhook
-- signature, max_age, the re-fetch of the opportunity in parse, and every
-- Lever v1 primitive against a fake that answers like the real API
-- (`{ data, next, hasNext }` pages, perform_as on writes). Payloads are in
-- tests/fixtures/lever (our own, shaped as spec/adapters.md says; the README
-- there marks what is 3p or unconfirmed).

local TOKEN = "lever-sig-token-2f9c"
local CFG = { api_key = "lever-api-key", perform_as = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
    signature_token = TOKEN }
local API = "https://api.lever.co/v1"
local NOW = 1764324000000 -- one minute after the fixture's triggeredAt
local BASIC = "Basic " .. crypto.base64_encode("lever-api-key:")
local OPP = "250d8f03-738a-4bba-a671-8a3d73477145"
local CONTACT = "8f1d4c2e-0b9a-4f3e-9d6c-5a4b3c2d1e0f"
local POSTING = "5d8c1f9a-2b3c-4d5e-8f9a-0b1c2d3e4f5a"
local SCREEN = "c5a6f9e2-3b4d-4e8f-9a1b-2c3d4e5f6a7b"
local ONSITE = "7e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"
local PERFORM = "perform_as=e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"

---------------------------------------------------------------- helpers

local function delivery(body)
    return { method = "POST", path = "/webhooks/lever", query = {},
        headers = { ["content-type"] = "application/json" }, body = body }
end

-- A webhook body signed with `key` over token .. triggeredAt.
local function signed_body(fields, key)
    local b = {
        triggeredAt = fields.triggeredAt or 1764323940000,
        event = fields.event or "candidateStageChange",
        token = fields.token or "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        data = fields.data or { opportunityId = OPP, contactId = CONTACT, fromStageId = "applicant-new",
            toStageId = SCREEN },
    }
    local ts = string.format("%d", fields.signed_at or b.triggeredAt)
    b.signature = crypto.hex(crypto.hmac_sha256(key or TOKEN, b.token .. ts))
    return json.encode(b)
end

local function unesc(s)
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function split_url(url)
    local path, qs = url:match("^https://api%.lever%.co/v1([^?]*)%??(.*)$")
    assert(path, "unexpected url " .. url)
    local q = {}
    for pair in qs:gmatch("[^&]+") do
        local k, v = pair:match("^([^=]*)=(.*)$")
        q[unesc(k)] = unesc(v)
    end
    return path, q
end

local function view(r)
    return { method = r.method, url = r.url, headers = r.headers, json = r.json,
        body = r.json == nil and r.body or nil }
end

local function urls(a, from)
    local out = {}
    for i = from or 1, #a.requests do
        out[#out + 1] = a.requests[i].method .. " " .. a.requests[i].url
    end
    return out
end

---------------------------------------------------------------- fake Lever v1

local PAGE = 2

local function new_lever()
    local opp = json.decode(fixture("lever/opportunity.json")).data
    local lv = {
        opportunities = { [OPP] = opp },
        order = { OPP },
        stages = json.decode(fixture("lever/stages.json")).data,
        postings = json.decode(fixture("lever/postings.json")).data,
        notes = {},
        cursors = {},
        moves = 0,
        tag_writes = 0,
    }
    -- the same contact on a second posting, and a different person sharing the email
    local second = json.decode(json.encode(opp))
    second.id = "361e9014-849b-4ccb-b782-9b4e84588256"
    second.stage = "applicant-new"
    second.tags = {}
    second.applications[1].posting = lv.postings[2].id
    local other = json.decode(json.encode(opp))
    other.id = "472fa125-95ac-4ddc-8893-ac5f95699367"
    other.contact = "9a2e5d3f-1c0b-4a4f-8e7d-6b5c4d3e2f10"
    other.name = "Ada King"
    other.emails = { "ada@example.com" }
    for _, o in ipairs { second, other } do
        lv.opportunities[o.id] = o
        lv.order[#lv.order + 1] = o.id
    end

    local function answer(status, t)
        return { status = status, headers = { ["content-type"] = "application/json" },
            body = type(t) == "string" and t or json.encode(t) }
    end

    -- One page; `offset` must come with the same filters as the first page.
    local function page(q, items)
        local start, key = 1, json.encode({ q.email or "", q.expand or "" })
        if q.offset then
            local cur = lv.cursors[q.offset]
            if not cur or cur.key ~= key then
                return answer(400, { code = "BadRequestError", message = "invalid offset" })
            end
            start = cur.start
        end
        local out = {}
        for i = start, math.min(#items, start + PAGE - 1) do
            out[#out + 1] = items[i]
        end
        local body = { data = out, hasNext = start + PAGE <= #items }
        if body.hasNext then
            local name = "off" .. (#lv.cursors + 1)
            lv.cursors[#lv.cursors + 1] = name
            lv.cursors[name] = { key = key, start = start + PAGE }
            body.next = name
        end
        if #out == 0 then
            return answer(200, '{"data":[],"hasNext":false}')
        end
        return answer(200, body)
    end

    -- An opportunity as GET returns it: applications collapse to ids unless expanded.
    local function shown(o, expand)
        local c = json.decode(json.encode(o))
        if expand ~= "applications" then
            for i, app in ipairs(c.applications) do
                c.applications[i] = app.id
            end
        end
        return c
    end

    function lv.respond(req)
        if req.headers.authorization ~= BASIC then
            return answer(401, { code = "UnauthorizedError", message = "Invalid API key" })
        end
        local path, q = split_url(req.url)
        local m = req.method
        local write = m ~= "GET"
        if write and q.perform_as ~= CFG.perform_as then
            return answer(400, { code = "BadRequestError", message = "perform_as is required" })
        end
        local id = path:match("^/opportunities/([%w%-]+)")
        local o = id and lv.opportunities[id]
        if id and not o then
            return answer(404, { code = "ResourceNotFound", message = "opportunity not found" })
        end
        if m == "GET" and path == "/stages" then
            return page(q, lv.stages)
        elseif m == "GET" and path == "/postings" then
            return page(q, lv.postings)
        elseif m == "GET" and path == "/opportunities" then
            local out = {}
            for _, oid in ipairs(lv.order) do
                for _, e in ipairs(lv.opportunities[oid].emails) do
                    if e == q.email then
                        out[#out + 1] = shown(lv.opportunities[oid], q.expand)
                        break
                    end
                end
            end
            return page(q, out)
        elseif m == "GET" and path == "/opportunities/" .. id then
            return answer(200, { data = shown(o, q.expand) })
        elseif m == "PUT" and path == "/opportunities/" .. id .. "/stage" then
            o.stage = req.json.stage
            lv.moves = lv.moves + 1
            return answer(200, { data = shown(o) })
        elseif m == "POST" and path == "/opportunities/" .. id .. "/notes" then
            lv.notes[id] = lv.notes[id] or {}
            local n = { id = "note-" .. (#lv.notes[id] + 1),
                fields = { { type = "note", text = "note", value = req.json.value } } }
            table.insert(lv.notes[id], n)
            return answer(201, { data = { noteId = n.id } })
        elseif m == "GET" and path == "/opportunities/" .. id .. "/notes" then
            return page(q, lv.notes[id] or {})
        elseif m == "POST" and path == "/opportunities/" .. id .. "/addTags" then
            for _, t in ipairs(req.json.tags) do
                table.insert(o.tags, t)
            end
            lv.tag_writes = lv.tag_writes + 1
            return answer(200, { data = shown(o) })
        end
        error("fake lever: no route for " .. m .. " " .. req.url)
    end
    return lv
end

local function lever(cfg, now)
    local lv = new_lever()
    return adapter("lever", cfg or CFG, { responder = lv.respond, now = now or NOW }), lv
end

---------------------------------------------------------------- contract

test("lever declares its config keys, secrets and Lever's rate", function()
    local lv = require "adapters.lever"
    eq(lv.name, "lever")
    eq(lv.kind, "ats")
    eq(lv.config, {
        required = { "api_key", "perform_as", "signature_token" },
        optional = { "base_url", "max_age", "duplicate_candidates" },
        secrets = { "api_key", "signature_token" },
    })
    eq(lv.limits, { rate = 10, burst = 20 })
end)

---------------------------------------------------------------- verify

test("a delivery signed over token and triggeredAt verifies", function()
    local a = adapter("lever", CFG, { now = NOW })
    eq({ a.verify(delivery(fixture("lever/candidateStageChange.json"))) }, { true })
end)

test("a signature over a different triggeredAt fails", function()
    local a = adapter("lever", CFG, { now = NOW })
    local good, why = a.verify(delivery(signed_body { triggeredAt = 1764323940000, signed_at = 1764323941000 }))
    eq(good, false)
    eq(why, "signature mismatch")
end)

test("a changed token fails (the token is signed)", function()
    local a = adapter("lever", CFG, { now = NOW })
    local body = fixture("lever/candidateStageChange.json"):gsub("3c9a1f0e", "3c9a1f0f", 1)
    eq(a.verify(delivery(body)), false)
end)

test("a signature made with another signature token fails", function()
    local a = adapter("lever", CFG, { now = NOW })
    local good, why = a.verify(delivery(signed_body({}, "another-token")))
    eq(good, false)
    eq(why, "signature mismatch")
end)

test("a delivery without a signature fails", function()
    local a = adapter("lever", CFG, { now = NOW })
    local b = json.decode(fixture("lever/candidateStageChange.json"))
    b.signature = nil
    local good, why = a.verify(delivery(json.encode(b)))
    eq(good, false)
    eq(why, "missing token, triggeredAt or signature")
    eq({ a.verify(delivery("not json")) }, { false, "body is not a JSON object" })
end)

test("a delivery older than max_age (24h by default) fails", function()
    local body = fixture("lever/candidateStageChange.json")
    local a = adapter("lever", CFG, { now = 1764323940000 + 24 * 3600 * 1000 })
    eq({ a.verify(delivery(body)) }, { true })
    a.advance(1)
    eq({ a.verify(delivery(body)) }, { false, "triggeredAt is older than max_age" })
end)

test("a delivery dated further than max_age in the future fails", function()
    local a = adapter("lever", CFG, { now = 1764323940000 - 24 * 3600 * 1000 - 1 })
    eq({ a.verify(delivery(fixture("lever/candidateStageChange.json"))) },
        { false, "triggeredAt is further than max_age in the future" })
end)

test("max_age comes from config", function()
    local cfg = { api_key = "k", perform_as = "u", signature_token = TOKEN, max_age = "1m" }
    local a = adapter("lever", cfg, { now = 1764323940000 + 60 * 1000 })
    eq({ a.verify(delivery(fixture("lever/candidateStageChange.json"))) }, { true })
    a.advance(1)
    eq(a.verify(delivery(fixture("lever/candidateStageChange.json"))), false)
end)

test("the delivery id is token .. triggeredAt", function()
    local a = adapter("lever", CFG, { now = NOW })
    eq(a.delivery_id(delivery(fixture("lever/candidateStageChange.json"))),
        "3c9a1f0e8b7d4c2a9e6f5d4c3b2a19081764323940000")
end)

---------------------------------------------------------------- parse

test("a connection test (no opportunityId) is answered 200", function()
    local a = adapter("lever", CFG, { now = NOW })
    local req = delivery(fixture("lever/connectionTest.json"))
    eq({ a.verify(req) }, { true })
    eq(a.parse(req), { ping = true, reply = { status = 200, body = "ok" } })
end)

test("a stage change re-fetches the opportunity and names its stages", function()
    local a = lever()
    local body = fixture("lever/candidateStageChange.json")
    local evs = a.parse(delivery(body))
    eq(evs, { {
        type = "applicant.moved_to_stage",
        candidate = { id = CONTACT, name = "Ada Lovelace",
            emails = { "ada@example.com", "ada.lovelace@work.example.com" } },
        application = { id = OPP },
        job = { id = POSTING, name = "Backend Engineer" },
        stage = { id = SCREEN, name = "Technical Screen" },
        previous_stage = { id = "applicant-new", name = "New applicant" },
        raw = { webhook = json.decode(body), opportunity = json.decode(fixture("lever/opportunity.json")).data },
    } })
    eq(urls(a), {
        "GET " .. API .. "/opportunities/" .. OPP .. "?expand=applications",
        "GET " .. API .. "/postings",
        "GET " .. API .. "/postings?offset=off1",
        "GET " .. API .. "/stages",
        "GET " .. API .. "/stages?offset=off2",
        "GET " .. API .. "/stages?offset=off3",
        "GET " .. API .. "/stages?offset=off4",
    })
    eq(a.requests[1].headers, { authorization = BASIC })
end)

test("stage and posting names are cached, and refreshed after ten minutes", function()
    local a, lv = lever()
    a.parse(delivery(fixture("lever/candidateStageChange.json")))
    local before = #a.requests
    a.parse(delivery(signed_body {}))
    eq(urls(a, before + 1), { "GET " .. API .. "/opportunities/" .. OPP .. "?expand=applications" })
    lv.postings[1].text = "Backend Engineer II"
    a.advance(10 * 60 * 1000 + 1)
    local evs = a.parse(delivery(signed_body { triggeredAt = NOW }))
    eq(evs[1].job, { id = POSTING, name = "Backend Engineer II" })
end)

test("a posting unknown to the cached list reloads the list", function()
    local a, lv = lever()
    a.jobs()
    local before = #a.requests
    local p = { id = "8abf4c2d-5e6f-4a7b-9c8d-3e4f5a6b7c8d", text = "Platform Engineer", state = "published" }
    table.insert(lv.postings, p)
    lv.opportunities[OPP].applications[1].posting = p.id
    eq(a.application(OPP).job, { id = p.id, name = "Platform Engineer" })
    eq(urls(a, before + 1)[2], "GET " .. API .. "/postings")
end)

test("parse acts on the fetched stage, not on the unsigned body", function()
    local a = lever()
    local evs = a.parse(delivery(signed_body { data = { opportunityId = OPP, fromStageId = "applicant-new",
        toStageId = "offer" } }))
    eq(evs[1].stage, { id = SCREEN, name = "Technical Screen" })
end)

test("other Lever events produce no event", function()
    local a = lever()
    eq(a.parse(delivery(signed_body { event = "candidateHired" })), {})
    eq(#a.requests, 0)
end)

test("a stage change for a deleted opportunity raises", function()
    local a = lever()
    raises(function()
        a.parse(delivery(signed_body { data = { opportunityId = "00000000-0000-0000-0000-000000000000" } }))
    end, "lever get opportunity")
end)

---------------------------------------------------------------- catalog and reads

test("jobs lists postings page by page with offset", function()
    local a = lever()
    eq(a.jobs(), {
        { id = POSTING, name = "Backend Engineer" },
        { id = "6e9d2a0b-3c4d-4e5f-9a0b-1c2d3e4f5a6b", name = "Frontend Engineer" },
        { id = "7fae3b1c-4d5e-4f6a-8b1c-2d3e4f5a6b7c", name = "Data Engineer" },
    })
    eq(view(a.requests[1]), { method = "GET", url = API .. "/postings", headers = { authorization = BASIC } })
    eq(view(a.requests[2]), { method = "GET", url = API .. "/postings?offset=off1",
        headers = { authorization = BASIC } })
end)

test("stages are the account-wide list, in order, for any job", function()
    local a = lever()
    local want = {}
    for _, s in ipairs(json.decode(fixture("lever/stages.json")).data) do
        want[#want + 1] = { id = s.id, name = s.text }
    end
    eq(a.stages(POSTING), want)
    eq(a.ctx.cache.stages.names[ONSITE], "Onsite")
end)

test("application reads the opportunity, its posting and stage", function()
    local a = lever()
    eq(a.application(OPP), {
        id = OPP,
        candidate = { id = CONTACT, name = "Ada Lovelace",
            emails = { "ada@example.com", "ada.lovelace@work.example.com" } },
        job = { id = POSTING, name = "Backend Engineer" },
        stage = { id = SCREEN, name = "Technical Screen" },
        status = "active",
    })
end)

test("find_candidates groups opportunities by contact", function()
    local a = lever()
    eq(a.find_candidates("ada@example.com"), {
        { id = CONTACT, name = "Ada Lovelace", emails = { "ada@example.com", "ada.lovelace@work.example.com" },
            application_ids = { OPP, "361e9014-849b-4ccb-b782-9b4e84588256" } },
        { id = "9a2e5d3f-1c0b-4a4f-8e7d-6b5c4d3e2f10", name = "Ada King", emails = { "ada@example.com" },
            application_ids = { "472fa125-95ac-4ddc-8893-ac5f95699367" } },
    })
    eq(urls(a), {
        "GET " .. API .. "/opportunities?email=ada%40example.com",
        "GET " .. API .. "/opportunities?email=ada%40example.com&offset=off1",
    })
end)

---------------------------------------------------------------- writes

test("a move to the current stage succeeds without a write", function()
    local a, lv = lever()
    eq(a.move_to_stage(OPP, SCREEN), { moved = false, from = SCREEN })
    eq(urls(a), { "GET " .. API .. "/opportunities/" .. OPP })
    eq(lv.moves, 0)
end)

test("a move PUTs the stage as perform_as", function()
    local a, lv = lever()
    eq(a.move_to_stage(OPP, ONSITE), { moved = true, from = SCREEN })
    eq(view(a.requests[2]), {
        method = "PUT",
        url = API .. "/opportunities/" .. OPP .. "/stage?" .. PERFORM,
        headers = { authorization = BASIC, ["content-type"] = "application/json" },
        json = { stage = ONSITE },
    })
    eq(lv.opportunities[OPP].stage, ONSITE)
    eq(a.move_to_stage(OPP, ONSITE), { moved = false, from = ONSITE })
    eq(lv.moves, 1)
end)

test("add_note posts the text on the opportunity as perform_as", function()
    local a = lever()
    eq(a.add_note({ id = CONTACT, application_id = OPP }, "Invited to Backend Take-Home"), { id = "note-1" })
    eq(view(a.requests[1]), {
        method = "POST",
        url = API .. "/opportunities/" .. OPP .. "/notes?" .. PERFORM,
        headers = { authorization = BASIC, ["content-type"] = "application/json" },
        json = { value = "Invited to Backend Take-Home" },
    })
end)

test("notes and tags need the candidate's application id", function()
    local a = lever()
    raises(function() a.add_note({ id = CONTACT }, "x") end, "application_id is required")
    raises(function() a.add_tag({ id = CONTACT }, "x") end, "application_id is required")
    eq(#a.requests, 0)
end)

test("has_note finds a marker in the opportunity's notes", function()
    local a = lever()
    local cand = { id = CONTACT, application_id = OPP }
    eq(a.has_note(cand, "[atsflow:run-1:1]"), false)
    a.add_note(cand, "Report: https://coderbyte.example/r/1\n[atsflow:run-1:1]")
    eq(a.has_note(cand, "[atsflow:run-1:1]"), true)
    eq(view(a.requests[1]), { method = "GET", url = API .. "/opportunities/" .. OPP .. "/notes",
        headers = { authorization = BASIC } })
end)

test("add_tag adds a missing tag as perform_as and is idempotent", function()
    local a, lv = lever()
    local cand = { id = CONTACT, application_id = OPP }
    eq(a.add_tag(cand, "coderbyte-invited"), true)
    eq(view(a.requests[2]), {
        method = "POST",
        url = API .. "/opportunities/" .. OPP .. "/addTags?" .. PERFORM,
        headers = { authorization = BASIC, ["content-type"] = "application/json" },
        json = { tags = { "coderbyte-invited" } },
    })
    eq(a.add_tag(cand, "coderbyte-invited"), true)
    eq(a.add_tag(cand, "Backend"), true)
    eq(lv.tag_writes, 1)
    eq(lv.opportunities[OPP].tags, { "Backend", "Referral", "coderbyte-invited" })
end)

test("a rejected API key is a permanent error naming the call", function()
    local lv = new_lever()
    local cfg = { api_key = "wrong-key", perform_as = "u", signature_token = TOKEN }
    local a = adapter("lever", cfg, { responder = lv.respond, now = NOW })
    local err = raises(function() a.jobs() end, "lever list postings")
    ok(err:find("401", 1, true), err)
    ok(not err:find("wrong-key", 1, true), "the key must not appear in errors")
end)
