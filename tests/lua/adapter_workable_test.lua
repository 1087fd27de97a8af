-- Contract tests for adapters/workable.lua: X-Workable-Signature, the
-- candidate_moved payload (tests/fixtures/workable, our own, shaped as the
-- spec says; the README there marks what is 3p), and every SPI v3 primitive
-- against a fake that answers like Workable (`paging.next` URLs, member_id
-- on writes, tags replaced as a whole list).

local SECRET = "workable-webhook-secret"
local CFG = { subdomain = "acme", token = "wk-token", member_id = "13e0eb0e", webhook_secret = SECRET }
local API = "https://acme.workable.com/spi/v3"
local AUTH = { authorization = "Bearer wk-token" }
local AUTH_JSON = { authorization = "Bearer wk-token", ["content-type"] = "application/json" }
local JOB = "B7E1C4A2F9"
local NOW = 1764324000000

---------------------------------------------------------------- helpers

local function delivery(body, signature)
    local h = { ["content-type"] = "application/json" }
    if signature ~= false then
        h["x-workable-signature"] = signature or crypto.hex(crypto.hmac_sha256(SECRET, body))
    end
    return { method = "POST", path = "/webhooks/workable", query = {}, headers = h, body = body }
end

local function unesc(s)
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function split_url(url)
    local path, qs = url:match("^https://acme%.workable%.com/spi/v3([^?]*)%??(.*)$")
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

---------------------------------------------------------------- fake Workable SPI v3

local PAGE = 2

local function new_workable()
    local moved = json.decode(fixture("workable/candidate_moved.json")).data
    local wk = {
        jobs = {
            { id = "61884e2", shortcode = JOB, title = "Backend Engineer", state = "published" },
            { id = "61884e3", shortcode = "F2A9D7C1E3", title = "Frontend Engineer", state = "published" },
            { id = "61884e4", shortcode = "D4C8B2A6E0", title = "Data Engineer", state = "draft" },
        },
        stages = json.decode(fixture("workable/stages.json")).stages,
        candidates = {
            moved,
            { id = "3fc9a810", name = "Ada Lovelace", email = "ada@example.com", stage = "Applied", tags = {},
                job = { shortcode = "F2A9D7C1E3", title = "Frontend Engineer" } },
            { id = "3fc9a811", name = "Ada King", email = "ada@example.com", stage = "Sourced",
                job = { shortcode = JOB, title = "Backend Engineer" } },
        },
        activities = {},
        moves = 0,
        tag_writes = 0,
        stage_lists = 0,
    }

    local function answer(status, t)
        return { status = status, headers = { ["content-type"] = "application/json",
            ["x-rate-limit-limit"] = "10", ["x-rate-limit-remaining"] = "9", ["x-rate-limit-reset"] = "1764324010" },
            body = type(t) == "string" and t or json.encode(t) }
    end

    -- One page under `key`; `paging.next` is a full URL (limit + since_id).
    local function page(path, key, q, items)
        local start = 1
        if q.since_id then
            for i, it in ipairs(items) do
                if it.id == q.since_id then
                    start = i
                end
            end
        end
        local out = {}
        for i = start, math.min(#items, start + PAGE - 1) do
            out[#out + 1] = items[i]
        end
        local body = { [key] = out }
        if start + PAGE <= #items then
            local extra = q.email and ("&email=" .. q.email:gsub("@", "%%40")) or ""
            body.paging = { next = API .. path .. "?limit=" .. PAGE .. extra .. "&since_id=" .. items[start + PAGE].id }
        end
        local s = json.encode(body)
        if #out == 0 then
            s = '{"' .. key .. '":[]}'
        end
        return answer(200, s)
    end

    local function candidate(id)
        for _, c in ipairs(wk.candidates) do
            if c.id == id then
                return c
            end
        end
    end

    function wk.respond(req)
        if req.headers.authorization ~= "Bearer wk-token" then
            return answer(401, { error = "Not authorized" })
        end
        local path, q = split_url(req.url)
        local m = req.method
        if m == "POST" and (path:match("/move$") or path:match("/comments$")) then
            if req.json.member_id ~= CFG.member_id then
                return answer(422, { error = "member_id is required" })
            end
        end
        local cid = path:match("^/candidates/([%w]+)")
        local c = cid and candidate(cid)
        if cid and not c then
            return answer(404, { error = "Not found" })
        end
        if m == "GET" and path == "/jobs" then
            return page(path, "jobs", q, wk.jobs)
        elseif m == "GET" and path == "/jobs/" .. JOB .. "/stages" then
            wk.stage_lists = wk.stage_lists + 1
            return answer(200, { stages = wk.stages })
        elseif m == "GET" and path == "/candidates" then
            local out = {}
            for _, x in ipairs(wk.candidates) do
                if x.email == q.email then
                    out[#out + 1] = x
                end
            end
            return page(path, "candidates", q, out)
        elseif m == "GET" and path == "/candidates/" .. cid then
            return answer(200, { candidate = c })
        elseif m == "POST" and path == "/candidates/" .. cid .. "/move" then
            for _, s in ipairs(wk.stages) do
                if s.slug == req.json.target_stage then
                    c.stage = s.name
                    wk.moves = wk.moves + 1
                    return answer(200, "")
                end
            end
            return answer(422, { error = "Invalid target stage" })
        elseif m == "POST" and path == "/candidates/" .. cid .. "/comments" then
            wk.activities[cid] = wk.activities[cid] or {}
            local act = { id = "act-" .. (#wk.activities[cid] + 1), action = "comment",
                body = req.json.comment.body, member = { id = req.json.member_id } }
            table.insert(wk.activities[cid], act)
            return answer(201, { id = act.id })
        elseif m == "GET" and path == "/candidates/" .. cid .. "/activities" then
            return page(path, "activities", q, wk.activities[cid] or {})
        elseif m == "PUT" and path == "/candidates/" .. cid .. "/tags" then
            c.tags = req.json.tags -- replaces the list
            wk.tag_writes = wk.tag_writes + 1
            return answer(200, "")
        end
        error("fake workable: no route for " .. m .. " " .. req.url)
    end
    return wk
end

local function workable()
    local wk = new_workable()
    return adapter("workable", CFG, { responder = wk.respond, now = NOW }), wk
end

---------------------------------------------------------------- contract

test("workable declares its config keys, secrets and the documented rate", function()
    local wk = require "adapters.workable"
    eq(wk.name, "workable")
    eq(wk.kind, "ats")
    eq(wk.config, {
        required = { "subdomain", "token", "member_id", "webhook_secret" },
        optional = { "base_url", "duplicate_candidates" },
        secrets = { "token", "webhook_secret" },
    })
    eq(wk.limits, { rate = 1, burst = 10, window = 10 })
end)

---------------------------------------------------------------- webhooks

test("a delivery signed with the webhook secret verifies", function()
    local a = adapter("workable", CFG)
    eq({ a.verify(delivery(fixture("workable/candidate_moved.json"))) }, { true })
end)

test("a tampered body fails verification", function()
    local a = adapter("workable", CFG)
    local body = fixture("workable/candidate_moved.json")
    local req = delivery(body)
    req.body = body:gsub('"Technical Screen"', '"Offer"', 1)
    eq({ a.verify(req) }, { false, "signature mismatch" })
end)

test("a signature made with another secret fails verification", function()
    local a = adapter("workable", CFG)
    local body = fixture("workable/candidate_moved.json")
    eq({ a.verify(delivery(body, crypto.hex(crypto.hmac_sha256("wrong", body)))) }, { false, "signature mismatch" })
end)

test("a delivery without X-Workable-Signature fails verification", function()
    local a = adapter("workable", CFG)
    eq({ a.verify(delivery(fixture("workable/candidate_moved.json"), false)) },
        { false, "missing X-Workable-Signature header" })
end)

test("the delivery id is the envelope id", function()
    local a = adapter("workable", CFG)
    eq(a.delivery_id(delivery(fixture("workable/candidate_moved.json"))), "b6f3c2d1-8a9e-4f70-9c1b-2d3e4f5a6b7c")
end)

test("candidate_moved becomes applicant.moved_to_stage with the stage slug", function()
    local a = workable()
    local body = fixture("workable/candidate_moved.json")
    eq(a.parse(delivery(body)), { {
        type = "applicant.moved_to_stage",
        candidate = { id = "3fc9a80f", name = "Ada Lovelace", emails = { "ada@example.com" } },
        application = { id = "3fc9a80f" },
        job = { id = JOB, name = "Backend Engineer" },
        stage = { id = "technical-screen", name = "Technical Screen" },
        raw = json.decode(body),
    } })
    eq(urls(a), { "GET " .. API .. "/jobs/" .. JOB .. "/stages" })
end)

test("the stage list is cached between deliveries", function()
    local a, wk = workable()
    a.parse(delivery(fixture("workable/candidate_moved.json")))
    a.parse(delivery(fixture("workable/candidate_moved.json")))
    eq(wk.stage_lists, 1)
    a.advance(11 * 60 * 1000)
    a.parse(delivery(fixture("workable/candidate_moved.json")))
    eq(wk.stage_lists, 2)
end)

test("a stage the job does not have raises", function()
    local a = workable()
    local body = fixture("workable/candidate_moved.json"):gsub('"Technical Screen"', '"Renamed Stage"', 1)
    raises(function() a.parse(delivery(body)) end, "is not a stage of the candidate's job")
end)

test("other Workable events produce no event", function()
    local a = workable()
    eq(a.parse(delivery(fixture("workable/candidate_created.json"))), {})
    eq(#a.requests, 0)
end)

---------------------------------------------------------------- catalog and reads

test("jobs follows paging.next and keys jobs by shortcode", function()
    local a = workable()
    eq(a.jobs(), {
        { id = JOB, name = "Backend Engineer" },
        { id = "F2A9D7C1E3", name = "Frontend Engineer" },
        { id = "D4C8B2A6E0", name = "Data Engineer" },
    })
    eq(view(a.requests[1]), { method = "GET", url = API .. "/jobs", headers = AUTH })
    eq(view(a.requests[2]), { method = "GET", url = API .. "/jobs?limit=2&since_id=61884e4", headers = AUTH })
end)

test("a paging.next outside base_url is refused", function()
    local a = adapter("workable", CFG, { now = NOW, responder = function()
        return { status = 200, body = '{"jobs":[{"shortcode":"A","title":"A"}],"paging":{"next":"https://evil.example/x"}}' }
    end })
    raises(function() a.jobs() end, "next-page link leaves base_url")
    eq(#a.requests, 1)
end)

test("stages are keyed by slug in pipeline order", function()
    local a = workable()
    eq(a.stages(JOB), {
        { id = "sourced", name = "Sourced" },
        { id = "applied", name = "Applied" },
        { id = "technical-screen", name = "Technical Screen" },
        { id = "onsite", name = "Onsite" },
        { id = "offer", name = "Offer" },
        { id = "hired", name = "Hired" },
    })
    eq(view(a.requests[1]), { method = "GET", url = API .. "/jobs/" .. JOB .. "/stages", headers = AUTH })
end)

test("application reads the candidate record", function()
    local a = workable()
    eq(a.application("3fc9a80f"), {
        id = "3fc9a80f",
        candidate = { id = "3fc9a80f", name = "Ada Lovelace", emails = { "ada@example.com" } },
        job = { id = JOB, name = "Backend Engineer" },
        stage = { id = "technical-screen", name = "Technical Screen" },
        status = "active",
    })
    eq(urls(a), { "GET " .. API .. "/candidates/3fc9a80f", "GET " .. API .. "/jobs/" .. JOB .. "/stages" })
end)

test("find_candidates returns every candidate record with that email", function()
    local a = workable()
    eq(a.find_candidates("ada@example.com"), {
        { id = "3fc9a80f", name = "Ada Lovelace", emails = { "ada@example.com" }, application_ids = { "3fc9a80f" } },
        { id = "3fc9a810", name = "Ada Lovelace", emails = { "ada@example.com" }, application_ids = { "3fc9a810" } },
        { id = "3fc9a811", name = "Ada King", emails = { "ada@example.com" }, application_ids = { "3fc9a811" } },
    })
    eq(urls(a), {
        "GET " .. API .. "/candidates?email=ada%40example.com",
        "GET " .. API .. "/candidates?limit=2&email=ada%40example.com&since_id=3fc9a811",
    })
end)

---------------------------------------------------------------- writes

test("a move to the current stage succeeds without a write", function()
    local a, wk = workable()
    eq(a.move_to_stage("3fc9a80f", "technical-screen"), { moved = false, from = "technical-screen" })
    eq(wk.moves, 0)
end)

test("a move posts the target slug with member_id", function()
    local a, wk = workable()
    eq(a.move_to_stage("3fc9a80f", "onsite"), { moved = true, from = "technical-screen" })
    eq(view(a.requests[3]), {
        method = "POST",
        url = API .. "/candidates/3fc9a80f/move",
        headers = AUTH_JSON,
        json = { member_id = "13e0eb0e", target_stage = "onsite" },
    })
    eq(a.move_to_stage("3fc9a80f", "onsite"), { moved = false, from = "onsite" })
    eq(wk.moves, 1)
end)

test("add_note posts a comment with member_id", function()
    local a = workable()
    eq(a.add_note({ id = "3fc9a80f", application_id = "3fc9a80f" }, "Invited to Backend Take-Home"),
        { id = "act-1" })
    eq(view(a.requests[1]), {
        method = "POST",
        url = API .. "/candidates/3fc9a80f/comments",
        headers = AUTH_JSON,
        json = { member_id = "13e0eb0e", comment = { body = "Invited to Backend Take-Home" } },
    })
end)

test("has_note finds a marker among the candidate's activities", function()
    local a = workable()
    eq(a.has_note({ id = "3fc9a80f" }, "[atsflow:run-9:1]"), false)
    a.add_note({ id = "3fc9a80f" }, "Report: https://coderbyte.example/r/9\n[atsflow:run-9:1]")
    eq(a.has_note({ id = "3fc9a80f" }, "[atsflow:run-9:1]"), true)
    eq(view(a.requests[1]), { method = "GET", url = API .. "/candidates/3fc9a80f/activities", headers = AUTH })
end)

test("add_tag reads the tags, adds one and writes the whole list; idempotent", function()
    local a, wk = workable()
    eq(a.add_tag({ id = "3fc9a80f" }, "coderbyte-invited"), true)
    eq({ view(a.requests[1]), view(a.requests[2]) }, {
        { method = "GET", url = API .. "/candidates/3fc9a80f", headers = AUTH },
        { method = "PUT", url = API .. "/candidates/3fc9a80f/tags", headers = AUTH_JSON,
            json = { tags = { "referral", "coderbyte-invited" } } },
    })
    eq(a.add_tag({ id = "3fc9a80f" }, "coderbyte-invited"), true)
    eq(wk.tag_writes, 1)
    eq(wk.candidates[1].tags, { "referral", "coderbyte-invited" })
    -- a candidate with no tags yet
    eq(a.add_tag({ id = "3fc9a811" }, "coderbyte-invited"), true)
    eq(wk.candidates[3].tags, { "coderbyte-invited" })
end)

test("base_url overrides the subdomain's address", function()
    local cfg = { subdomain = "acme", token = "t", member_id = "m", webhook_secret = SECRET,
        base_url = "http://127.0.0.1:9100" }
    local a = adapter("workable", cfg, { now = NOW, responder = function()
        return { status = 200, body = '{"jobs":[]}' }
    end })
    eq(a.jobs(), {})
    eq(a.requests[1].url, "http://127.0.0.1:9100/spi/v3/jobs")
end)

test("an unknown candidate is a permanent error naming the call", function()
    local a = workable()
    local err = raises(function() a.application("ffffffff") end, "workable get candidate")
    ok(err:find("404", 1, true), err)
end)

test("rate_headers reads X-Rate-Limit-*", function()
    local wk = require "adapters.workable"
    eq(wk.rate_headers({ status = 200, headers = { ["x-rate-limit-limit"] = "10",
        ["x-rate-limit-remaining"] = "3", ["x-rate-limit-reset"] = "1764324010" } }),
        { limit = 10, remaining = 3, reset_ms = 1764324010000 })
    eq(wk.rate_headers({ status = 200, headers = {} }), nil)
end)
