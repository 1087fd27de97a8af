-- Contract tests for adapters/greenhouse.lua: webhook verification and
-- parsing against Greenhouse's own example payloads (tests/fixtures/greenhouse,
-- copied unchanged from the vendor's documentation), and every Harvest v3
-- primitive against a fake that answers like the real API (OAuth token,
-- Link/cursor pagination, 401 refresh, 422 on a stale move).

local SECRET = "gh-webhook-secret"
local CFG = { client_id = "cid", client_secret = "csecret", user_id = "4080", webhook_secret = SECRET }
local HARVEST = "https://harvest.greenhouse.io"
local AUTH = "https://auth.greenhouse.io"
local NOW = 1764324000000 -- 2025-11-28T10:00:00Z

---------------------------------------------------------------- helpers

local function sign(body, secret)
    return crypto.hex(crypto.hmac_sha256(secret or SECRET, body))
end

local function delivery(body, headers)
    local h = { ["signature"] = "sha256 " .. sign(body), ["greenhouse-event-id"] = "7f3c2a",
        ["content-type"] = "application/json" }
    for k, v in pairs(headers or {}) do
        h[k] = v or nil
    end
    return { method = "POST", path = "/webhooks/greenhouse", query = {}, headers = h, body = body }
end

local function unesc(s)
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function split_url(url)
    local origin, path, qs = url:match("^(https?://[^/]+)([^?]*)%??(.*)$")
    local q = {}
    for pair in qs:gmatch("[^&]+") do
        local k, v = pair:match("^([^=]*)=(.*)$")
        q[unesc(k)] = unesc(v)
    end
    return origin, path, q
end

-- A request as the spec names it: JSON bodies compared decoded (the
-- encoder's key order is not part of the contract), other bodies as bytes.
local function view(r)
    return { method = r.method, url = r.url, headers = r.headers, json = r.json,
        body = r.json == nil and r.body or nil }
end

local function bearer(n)
    return { authorization = "Bearer tok-" .. n }
end

local function bearer_json(n)
    return { authorization = "Bearer tok-" .. n, ["content-type"] = "application/json" }
end

local TOKEN_REQ = {
    method = "POST",
    url = AUTH .. "/token",
    headers = { authorization = "Basic " .. crypto.base64_encode("cid:csecret"),
        ["content-type"] = "application/x-www-form-urlencoded" },
    body = "grant_type=client_credentials&sub=4080",
}

---------------------------------------------------------------- fake Harvest v3

local PAGE = 2 -- the fake's page size, so small lists already span pages

local function array(items)
    if #items == 0 then
        return "[]"
    end
    return json.encode(items)
end

local function new_greenhouse(opts)
    opts = opts or {}
    local gh = {
        issued = 0,
        valid = {},
        token_answer = opts.token_answer or function(n)
            return { access_token = "tok-" .. n, token_type = "bearer", expires_in = 3600 }
        end,
        jobs = {
            { id = 4012, name = "Backend Engineer", status = "open" },
            { id = 4013, name = "Frontend Engineer", status = "open" },
            { id = 4014, name = "Data Engineer", status = "open" },
        },
        stages = {
            { id = 77, job_id = 4012, name = "Technical Screen", sort_order = 2, active = true },
            { id = 76, job_id = 4012, name = "Application Review", sort_order = 1, active = true },
            { id = 79, job_id = 4012, name = "Old Phone Screen", sort_order = 3, active = false },
            { id = 78, job_id = 4012, name = "Onsite", sort_order = 4, active = true },
            { id = 90, job_id = 4013, name = "Application Review", sort_order = 1, active = true },
        },
        applications = {
            { id = 45012345678, candidate_id = 44012345678, job_id = 4012, current_stage_id = 76,
                status = "active" },
            { id = 45012345679, candidate_id = 44012345678, job_id = 4013, current_stage_id = 90,
                status = "active" },
        },
        candidates = {
            { id = 44012345678, first_name = "Ada", last_name = "Lovelace",
                email_addresses = { { value = "ada@example.com", type = "personal" },
                    { value = "ada@work.example.com", type = "work" } } },
            { id = 44012345690, first_name = "Ada", last_name = "King",
                email_addresses = { { value = "ada@example.com", type = "personal" } } },
        },
        notes = {},
        tags = { { id = 501, name = "referral" } },
        applied = {},
        moves = 0,
        cursors = {},
        before_move = opts.before_move, -- hook: someone else moves the application
        rate = { ["x-ratelimit-limit"] = "50", ["x-ratelimit-remaining"] = "49",
            ["x-ratelimit-reset"] = "1764324030" },
    }

    local function answer(status, body, headers)
        local h = {}
        for k, v in pairs(gh.rate) do
            h[k] = v
        end
        for k, v in pairs(headers or {}) do
            h[k] = v
        end
        return { status = status, headers = h, body = body }
    end

    -- One page of a list. A cursor stands for the rest of the first
    -- request's result, so follow-ups must carry nothing else (as in v3).
    local function page(path, q, items)
        local start = 1
        if q.cursor then
            for k in pairs(q) do
                if k ~= "cursor" then
                    return answer(422, '{"message":"cursor must be the only query parameter"}')
                end
            end
            local cur = gh.cursors[q.cursor]
            items, start = cur.items, cur.start
        end
        local out = {}
        for i = start, math.min(#items, start + PAGE - 1) do
            out[#out + 1] = items[i]
        end
        local headers = {}
        local links = {}
        if start > 1 then
            links[#links + 1] = "<" .. HARVEST .. path .. "?cursor=prev" .. start .. '>; rel="prev"'
        end
        if start + PAGE <= #items then
            local name = "c" .. (#gh.cursors + 1)
            gh.cursors[#gh.cursors + 1] = name
            gh.cursors[name] = { items = items, start = start + PAGE }
            links[#links + 1] = "<" .. HARVEST .. path .. "?cursor=" .. name .. '>; rel="next"'
        end
        if #links > 0 then
            headers["link"] = table.concat(links, ", ")
        end
        return answer(200, array(out), headers)
    end

    local function where(items, field, value)
        local out = {}
        for _, it in ipairs(items) do
            if value == nil or string.format("%d", it[field]) == value then
                out[#out + 1] = it
            end
        end
        return out
    end

    local function find(items, id)
        for _, it in ipairs(items) do
            if string.format("%d", it.id) == id then
                return it
            end
        end
    end

    function gh.respond(req)
        local origin, path, q = split_url(req.url)
        if origin == AUTH and path == "/token" and req.method == "POST" then
            if req.headers.authorization ~= TOKEN_REQ.headers.authorization then
                return { status = 401, body = '{"error":"invalid_client"}' }
            end
            gh.issued = gh.issued + 1
            gh.valid["tok-" .. gh.issued] = true
            return { status = 200, headers = { ["content-type"] = "application/json" },
                body = json.encode(gh.token_answer(gh.issued)) }
        end
        assert(origin == HARVEST, "unexpected origin " .. origin)
        local tok = (req.headers.authorization or ""):match("^Bearer (.+)$")
        if not (tok and gh.valid[tok]) then
            return answer(401, '{"message":"Unauthorized"}')
        end
        local m = req.method
        if m == "GET" and path == "/v3/jobs" then
            return page(path, q, where(gh.jobs, "id", q.ids))
        elseif m == "GET" and path == "/v3/job_interview_stages" then
            return page(path, q, where(gh.stages, "job_id", q.job_ids))
        elseif m == "GET" and path == "/v3/applications" then
            if q.ids then
                return page(path, q, where(gh.applications, "id", q.ids))
            end
            return page(path, q, where(gh.applications, "candidate_id", q.candidate_ids))
        elseif m == "GET" and path == "/v3/candidates" then
            if q.ids then
                return page(path, q, where(gh.candidates, "id", q.ids))
            end
            local out = {}
            for _, c in ipairs(gh.candidates) do
                for _, e in ipairs(c.email_addresses) do
                    if e.value == q.email then
                        out[#out + 1] = c
                        break
                    end
                end
            end
            return page(path, q, out)
        elseif m == "POST" and path:match("^/v3/applications/%d+/move$") then
            local app = find(gh.applications, path:match("(%d+)/move$"))
            if gh.before_move then
                gh.before_move(gh, app)
            end
            local b = req.body or ""
            if not (b:match('"from_stage_id":%d+[,}]') and b:match('"to_stage_id":%d+[,}]')) then
                return answer(400, '{"message":"stage ids must be integers"}')
            end
            if req.json.from_stage_id ~= app.current_stage_id then
                return answer(422, '{"message":"from_stage_id is not the current stage"}')
            end
            app.current_stage_id = req.json.to_stage_id
            gh.moves = gh.moves + 1
            return answer(204, "")
        elseif m == "POST" and path == "/v3/notes" then
            local n = json.decode(req.body)
            n.id = 9000 + #gh.notes
            gh.notes[#gh.notes + 1] = n
            return answer(201, json.encode(n))
        elseif m == "GET" and path == "/v3/notes" then
            return page(path, q, where(gh.notes, "candidate_id", q.candidate_id))
        elseif m == "GET" and path == "/v3/candidate_tags" then
            return page(path, q, gh.tags)
        elseif m == "POST" and path == "/v3/candidate_tags" then
            local t = { id = 600 + #gh.tags, name = req.json.name }
            gh.tags[#gh.tags + 1] = t
            return answer(201, json.encode(t))
        elseif m == "GET" and path == "/v3/applied_candidate_tags" then
            return page(path, q, where(gh.applied, "candidate_id", q.candidate_ids))
        elseif m == "POST" and path == "/v3/applied_candidate_tags" then
            local a = { id = 700 + #gh.applied, candidate_id = req.json.candidate_id,
                candidate_tag_id = req.json.candidate_tag_id }
            gh.applied[#gh.applied + 1] = a
            return answer(201, json.encode(a))
        end
        error("fake greenhouse: no route for " .. m .. " " .. req.url)
    end
    return gh
end

local function greenhouse(opts)
    opts = opts or {}
    local gh = new_greenhouse(opts)
    local a = adapter("greenhouse", opts.cfg or CFG, { responder = gh.respond, now = opts.now or NOW })
    return a, gh
end

---------------------------------------------------------------- contract

test("greenhouse declares its config keys, secrets and a starting rate", function()
    local gh = require "adapters.greenhouse"
    eq(gh.name, "greenhouse")
    eq(gh.kind, "ats")
    eq(gh.config, {
        required = { "client_id", "client_secret", "user_id", "webhook_secret" },
        optional = { "base_url", "auth_url", "duplicate_candidates" },
        secrets = { "client_secret", "webhook_secret" },
    })
    ok(gh.limits.rate > 0 and gh.limits.burst >= 1)
end)

---------------------------------------------------------------- webhooks

test("a delivery signed with the webhook secret verifies", function()
    local a = adapter("greenhouse", CFG)
    eq({ a.verify(delivery(fixture("greenhouse/candidate_stage_change.json"))) }, { true })
end)

test("a tampered body fails verification", function()
    local a = adapter("greenhouse", CFG)
    local body = fixture("greenhouse/candidate_stage_change.json")
    local req = delivery(body)
    req.body = body:gsub("Assessment", "Offer", 1)
    local good, why = a.verify(req)
    eq(good, false)
    eq(why, "signature mismatch")
end)

test("a signature made with another secret fails verification", function()
    local a = adapter("greenhouse", CFG)
    local body = fixture("greenhouse/candidate_stage_change.json")
    local good, why = a.verify(delivery(body, { signature = "sha256 " .. sign(body, "other-secret") }))
    eq(good, false)
    eq(why, "signature mismatch")
end)

test("a delivery without a Signature header fails verification", function()
    local a = adapter("greenhouse", CFG)
    local good, why = a.verify(delivery("{}", { signature = false }))
    eq(good, false)
    eq(why, "missing Signature header")
end)

test("a Signature header in another scheme fails verification", function()
    local a = adapter("greenhouse", CFG)
    local body = fixture("greenhouse/job_deleted.json")
    local good, why = a.verify(delivery(body, { signature = "sha1 " .. sign(body) }))
    eq(good, false)
    eq(why, "malformed Signature header")
end)

test("verification checks the exact bytes, unicode escapes included", function()
    local a = adapter("greenhouse", CFG)
    local body = '{"action":"job_deleted","payload":{"job":{"id":7,"name":"Ing\\u00e9nieur"}}}'
    local req = delivery(body)
    eq({ a.verify(req) }, { true })
    eq(a.parse(req)[1].job, { id = "7", name = "Ingénieur" })
    req.body = '{"action":"job_deleted","payload":{"job":{"id":7,"name":"Ingénieur"}}}'
    eq(a.verify(req), false)
end)

test("without a webhook secret nothing verifies", function()
    local cfg = { client_id = "cid", client_secret = "csecret", user_id = "4080" }
    local a = adapter("greenhouse", cfg)
    local good, why = a.verify(delivery("{}", { signature = "sha256 " .. sign("{}", "") }))
    eq(good, false)
    eq(why, "webhook secret is not configured")
end)

test("the delivery id is the Greenhouse-Event-ID header", function()
    local a = adapter("greenhouse", CFG)
    eq(a.delivery_id(delivery("{}")), "7f3c2a")
end)

test("a ping is answered 200 and produces no event", function()
    local a = adapter("greenhouse", CFG)
    eq(a.parse(delivery('{"action":"ping","payload":{"web_hook_id":12345}}')),
        { ping = true, reply = { status = 200, body = "ok" } })
end)

test("candidate_stage_change becomes applicant.moved_to_stage", function()
    local a = adapter("greenhouse", CFG)
    local body = fixture("greenhouse/candidate_stage_change.json")
    eq(a.parse(delivery(body)), { {
        type = "applicant.moved_to_stage",
        candidate = { id = "265772", name = "Giuseppe Hurley", emails = { "giuseppe.hurley@example.com" } },
        application = { id = "265277" },
        job = { id = "3485", name = "Designer" },
        stage = { id = "71416", name = "Assessment" },
        raw = json.decode(body),
    } })
end)

test("a stage change lists every email and keeps big ids exact", function()
    local a = adapter("greenhouse", CFG)
    local body = [[{"action":"candidate_stage_change","payload":{"application":{"id":45012345678,
      "candidate":{"id":44012345678,"first_name":"Ada","last_name":"Lovelace","email_addresses":[
      {"value":"ada@example.com","type":"personal"},{"value":"ada@work.example.com","type":"work"}]},
      "jobs":[{"id":4012345678,"name":"Backend Engineer"}],
      "current_stage":{"id":7712345678,"name":"Technical Screen"},"status":"active"}}}]]
    local ev = a.parse(delivery(body))[1]
    eq(ev.candidate, { id = "44012345678", name = "Ada Lovelace",
        emails = { "ada@example.com", "ada@work.example.com" } })
    eq(ev.application, { id = "45012345678" })
    eq(ev.job, { id = "4012345678", name = "Backend Engineer" })
    eq(ev.stage, { id = "7712345678", name = "Technical Screen" })
    eq(ev.previous_stage, nil)
end)

local function catalog_event(file, job, stage)
    local body = fixture("greenhouse/" .. file)
    return { {
        type = "catalog.changed",
        job = job,
        stage = stage,
        raw = json.decode(body),
    } }, body
end

test("job events become catalog.changed with the job", function()
    local a = adapter("greenhouse", CFG)
    for file, job in pairs {
        ["job_created.json"] = { id = "371417", name = "Software Engineer" },
        ["job_updated.json"] = { id = "100445", name = "Assistant Store Manager, NYC" },
        ["job_approved.json"] = { id = "100445", name = "Assistant Store Manager, NYC" },
        ["job_deleted.json"] = { id = "209256", name = "Project Manager" },
    } do
        local want, body = catalog_event(file, job)
        eq(a.parse(delivery(body)), want, file)
    end
end)

test("job_interview_stage_deleted becomes catalog.changed with its job and stage", function()
    local a = adapter("greenhouse", CFG)
    local want, body = catalog_event("job_interview_stage_deleted.json", { id = "60453" },
        { id = "430608", name = "Phone Screen" })
    eq(a.parse(delivery(body)), want)
end)

test("merge_candidate becomes candidate.merged", function()
    local a = adapter("greenhouse", CFG)
    local body = fixture("greenhouse/merge_candidate.json")
    eq(a.parse(delivery(body)), { {
        type = "candidate.merged",
        candidate = { id = "37031511", name = "Jack Sparrow" },
        merged_into = { id = "457456" },
        raw = json.decode(body),
    } })
end)

test("delete_candidate becomes candidate.deleted with its applications", function()
    local a = adapter("greenhouse", CFG)
    local body = fixture("greenhouse/delete_candidate.json")
    eq(a.parse(delivery(body)), { {
        type = "candidate.deleted",
        candidate = { id = "37031511", name = "Jack Sparrow", application_ids = { "46196263", "46196258" } },
        raw = json.decode(body),
    } })
end)

test("every other vendor example parses to no event", function()
    local a = adapter("greenhouse", CFG)
    for _, file in ipairs {
        "application_updated.json", "candidate_anonymized.json", "delete_application.json",
        "hire_candidate.json", "interview_deleted.json", "job_post_created.json", "job_post_deleted.json",
        "job_post_updated.json", "new_candidate_application.json", "new_prospect_application.json",
        "offer_approved.json", "offer_created.json", "offer_deleted.json", "offer_updated.json",
        "reject_candidate.json", "scorecard_deleted.json", "unhire_candidate.json",
        "unreject_candidate.json", "update_candidate.json",
    } do
        eq(a.parse(delivery(fixture("greenhouse/" .. file))), {}, file)
    end
end)

test("a body that is not understood raises", function()
    local a = adapter("greenhouse", CFG)
    raises(function() a.parse(delivery("[1,2]")) end, "payload not understood")
    raises(function() a.parse(delivery('{"payload":{}}')) end, "payload not understood")
    raises(function() a.parse(delivery('{"action":"candidate_stage_change","payload":{}}')) end,
        "payload not understood")
end)

---------------------------------------------------------------- OAuth token

test("the first call fetches a client-credentials token and caches it", function()
    local a = greenhouse()
    a.stages("4013")
    a.stages("4013")
    eq(view(a.requests[1]), TOKEN_REQ)
    eq(#a.requests, 3)
    eq(a.requests[2].headers, bearer(1))
    eq(a.requests[3].headers, bearer(1))
    eq(a.ctx.cache.token, { access_token = "tok-1", expires_ms = NOW + 3600 * 1000 })
end)

test("the token is refreshed 60 seconds before it expires", function()
    local a, gh = greenhouse()
    a.stages("4013")
    a.advance(3600 * 1000 - 61 * 1000)
    a.stages("4013")
    eq(gh.issued, 1)
    a.advance(2 * 1000)
    a.stages("4013")
    eq(gh.issued, 2)
    eq(view(a.requests[4]), TOKEN_REQ)
    eq(a.requests[5].headers, bearer(2))
end)

test("an expires_at answer sets the expiry, and no expiry means an hour", function()
    local a = greenhouse { token_answer = function(n)
        return { access_token = "tok-" .. n, expires_at = "2025-11-28T10:30:00.000Z" }
    end }
    a.stages("4013")
    eq(a.ctx.cache.token.expires_ms, NOW + 30 * 60 * 1000)
    local b = greenhouse { token_answer = function(n) return { access_token = "tok-" .. n } end }
    b.stages("4013")
    eq(b.ctx.cache.token.expires_ms, NOW + 3600 * 1000)
end)

test("a 401 refreshes the token once and retries once", function()
    local a, gh = greenhouse()
    a.stages("4013")
    gh.valid = {} -- the token was revoked
    eq(a.stages("4013"), { { id = "90", name = "Application Review" } })
    eq(gh.issued, 2)
    eq(#a.requests, 5)
    eq({ a.requests[3].headers, view(a.requests[4]), a.requests[5].headers },
        { bearer(1), TOKEN_REQ, bearer(2) })
end)

test("a second 401 after the refresh is an error, not a loop", function()
    local a, gh = greenhouse()
    local respond = gh.respond
    a = adapter("greenhouse", CFG, { now = NOW, responder = function(req)
        if req.url:find(AUTH, 1, true) then
            return respond(req)
        end
        return { status = 401, body = '{"message":"Unauthorized"}' }
    end })
    raises(function() a.stages("4013") end, "greenhouse list stages")
    eq(#a.requests, 4) -- token, call, token, call
end)

test("bad client credentials fail the token request", function()
    local _, gh = greenhouse()
    local cfg = { client_id = "cid", client_secret = "wrong", user_id = "4080", webhook_secret = SECRET }
    local a = adapter("greenhouse", cfg, { responder = gh.respond, now = NOW })
    local err = raises(function() a.jobs() end, "greenhouse token")
    ok(not err:find("wrong", 1, true), "the secret must not appear in errors")
end)

test("base_url and auth_url point the adapter elsewhere", function()
    local cfg = { client_id = "cid", client_secret = "csecret", user_id = 4080, webhook_secret = SECRET,
        base_url = "http://127.0.0.1:9001/", auth_url = "http://127.0.0.1:9002" }
    local a = adapter("greenhouse", cfg, { now = NOW, responder = function(req)
        if req.url == "http://127.0.0.1:9002/token" then
            return { status = 200, body = '{"access_token":"t","expires_in":3600}' }
        end
        return { status = 200, body = "[]" }
    end })
    eq(a.jobs(), {})
    eq(a.requests[1].body, "grant_type=client_credentials&sub=4080")
    eq(a.requests[2].url, "http://127.0.0.1:9001/v3/jobs?per_page=500&status=open")
end)

---------------------------------------------------------------- catalog

test("jobs follows the Link header with the cursor as the only parameter", function()
    local a = greenhouse()
    eq(a.jobs(), {
        { id = "4012", name = "Backend Engineer" },
        { id = "4013", name = "Frontend Engineer" },
        { id = "4014", name = "Data Engineer" },
    })
    eq({ view(a.requests[2]), view(a.requests[3]) }, {
        { method = "GET", url = HARVEST .. "/v3/jobs?per_page=500&status=open", headers = bearer(1) },
        { method = "GET", url = HARVEST .. "/v3/jobs?cursor=c1", headers = bearer(1) },
    })
    eq(#a.requests, 3)
end)

test("a next link carrying filters is cut down to its cursor", function()
    local pages = 0
    local a = adapter("greenhouse", CFG, { now = NOW, responder = function(req)
        if req.url:find(AUTH, 1, true) then
            return { status = 200, body = '{"access_token":"tok-1","expires_in":3600}' }
        end
        pages = pages + 1
        if pages == 1 then
            return { status = 200, body = '[{"id":1,"name":"A"}]', headers = {
                link = '<' .. HARVEST .. '/v3/jobs?per_page=500&cursor=eyJpZCI6MX0%3D&status=open>; rel="next"' } }
        end
        return { status = 200, body = '[{"id":2,"name":"B"}]' }
    end })
    eq(a.jobs(), { { id = "1", name = "A" }, { id = "2", name = "B" } })
    eq(a.requests[3].url, HARVEST .. "/v3/jobs?cursor=eyJpZCI6MX0%3D")
end)

test("a next link outside base_url is refused, so the token stays home", function()
    local a = adapter("greenhouse", CFG, { now = NOW, responder = function(req)
        if req.url:find(AUTH, 1, true) then
            return { status = 200, body = '{"access_token":"tok-1","expires_in":3600}' }
        end
        return { status = 200, body = '[{"id":1,"name":"A"}]',
            headers = { link = '<https://evil.example/v3/jobs?cursor=x>; rel="next"' } }
    end })
    raises(function() a.jobs() end, "next-page link leaves base_url")
    eq(#a.requests, 2)
end)

test("stages lists a job's active stages in sort order", function()
    local a = greenhouse()
    eq(a.stages("4012"), {
        { id = "76", name = "Application Review" },
        { id = "77", name = "Technical Screen" },
        { id = "78", name = "Onsite" },
    })
    eq(view(a.requests[2]), { method = "GET", url = HARVEST .. "/v3/job_interview_stages?job_ids=4012&per_page=500",
        headers = bearer(1) })
    eq(view(a.requests[3]), { method = "GET", url = HARVEST .. "/v3/job_interview_stages?cursor=c1",
        headers = bearer(1) })
end)

test("a 5xx on a list is raised for the host to retry", function()
    local a = adapter("greenhouse", CFG, { now = NOW, responder = function(req)
        if req.url:find(AUTH, 1, true) then
            return { status = 200, body = '{"access_token":"tok-1","expires_in":3600}' }
        end
        return { status = 503, body = '{"message":"maintenance"}' }
    end })
    local err = raises(function() a.jobs() end, "greenhouse list jobs")
    ok(err:find("503", 1, true), err)
end)

---------------------------------------------------------------- reads

test("application reads the application, its candidate, job and stage", function()
    local a = greenhouse()
    eq(a.application("45012345678"), {
        id = "45012345678",
        candidate = { id = "44012345678", name = "Ada Lovelace",
            emails = { "ada@example.com", "ada@work.example.com" } },
        job = { id = "4012", name = "Backend Engineer" },
        stage = { id = "76", name = "Application Review" },
        status = "active",
    })
    local urls = {}
    for i = 2, #a.requests do
        urls[#urls + 1] = a.requests[i].url
    end
    eq(urls, {
        HARVEST .. "/v3/applications?ids=45012345678",
        HARVEST .. "/v3/candidates?ids=44012345678",
        HARVEST .. "/v3/jobs?ids=4012",
        HARVEST .. "/v3/job_interview_stages?job_ids=4012&per_page=500",
        HARVEST .. "/v3/job_interview_stages?cursor=c1",
    })
end)

test("an unknown application is a permanent error", function()
    local a = greenhouse()
    raises(function() a.application("1") end, "application 1 not found")
end)

test("find_candidates returns every candidate with that email and their applications", function()
    local a = greenhouse()
    eq(a.find_candidates("ada@example.com"), {
        { id = "44012345678", name = "Ada Lovelace", emails = { "ada@example.com", "ada@work.example.com" },
            application_ids = { "45012345678", "45012345679" } },
        { id = "44012345690", name = "Ada King", emails = { "ada@example.com" }, application_ids = {} },
    })
    eq(view(a.requests[2]), { method = "GET",
        url = HARVEST .. "/v3/candidates?email=ada%40example.com&per_page=500", headers = bearer(1) })
    eq(a.requests[3].url, HARVEST .. "/v3/applications?candidate_ids=44012345678&per_page=500")
    eq(a.requests[4].url, HARVEST .. "/v3/applications?candidate_ids=44012345690&per_page=500")
end)

---------------------------------------------------------------- move

test("a move to the current stage succeeds without a write", function()
    local a, gh = greenhouse()
    eq(a.move_to_stage("45012345678", "76"), { moved = false, from = "76" })
    eq(#a.requests, 2)
    eq(view(a.requests[2]), { method = "GET", url = HARVEST .. "/v3/applications?ids=45012345678",
        headers = bearer(1) })
    eq(gh.moves, 0)
end)

test("a move reads the current stage and posts integer stage ids", function()
    local a, gh = greenhouse()
    eq(a.move_to_stage("45012345678", "77"), { moved = true, from = "76" })
    eq(view(a.requests[3]), {
        method = "POST",
        url = HARVEST .. "/v3/applications/45012345678/move",
        headers = bearer_json(1),
        json = { from_stage_id = 76, to_stage_id = 77 },
    })
    ok(a.requests[3].body:find('"from_stage_id":76', 1, true), "from_stage_id must be a JSON number")
    ok(a.requests[3].body:find('"to_stage_id":77', 1, true), "to_stage_id must be a JSON number")
    eq(gh.applications[1].current_stage_id, 77)
    eq(a.move_to_stage("45012345678", "77"), { moved = false, from = "77" })
    eq(gh.moves, 1)
end)

test("a stale move (422) re-reads the stage once and retries once", function()
    local a, gh = greenhouse { before_move = function(gh, app)
        if gh.moves == 0 and app.current_stage_id == 76 then
            app.current_stage_id = 78 -- a recruiter moved it meanwhile
        end
    end }
    eq(a.move_to_stage("45012345678", "77"), { moved = true, from = "78" })
    local seen = {}
    for i = 2, #a.requests do
        local r = a.requests[i]
        seen[#seen + 1] = { r.method, r.url, r.json }
    end
    eq(seen, {
        { "GET", HARVEST .. "/v3/applications?ids=45012345678" },
        { "POST", HARVEST .. "/v3/applications/45012345678/move", { from_stage_id = 76, to_stage_id = 77 } },
        { "GET", HARVEST .. "/v3/applications?ids=45012345678" },
        { "POST", HARVEST .. "/v3/applications/45012345678/move", { from_stage_id = 78, to_stage_id = 77 } },
    })
    eq(gh.applications[1].current_stage_id, 77)
end)

test("a stale move whose re-read shows the target stage is a success without a write", function()
    local a, gh = greenhouse { before_move = function(_, app) app.current_stage_id = 77 end }
    eq(a.move_to_stage("45012345678", "77"), { moved = false, from = "77" })
    eq(#a.requests, 4) -- token, read, move (422), re-read
    eq(gh.moves, 0)
end)

test("a move still stale after the retry fails", function()
    local a = greenhouse { before_move = function(_, app) app.current_stage_id = app.current_stage_id + 100 end }
    raises(function() a.move_to_stage("45012345678", "77") end, "greenhouse move application")
    eq(#a.requests, 5) -- token, read, move, re-read, move; never a third move
end)

test("a non-numeric stage id is refused before any write", function()
    local a, gh = greenhouse()
    raises(function() a.move_to_stage("45012345678", "onsite") end, "not a numeric Greenhouse id")
    eq(gh.moves, 0)
end)

---------------------------------------------------------------- notes and tags

test("add_note posts an admin-only NOTE with numeric ids", function()
    local a = greenhouse()
    eq(a.add_note({ id = "44012345678", application_id = "45012345678" }, "Invited to Backend Take-Home"),
        { id = "9000" })
    eq(view(a.requests[2]), {
        method = "POST",
        url = HARVEST .. "/v3/notes",
        headers = bearer_json(1),
        json = { candidate_id = 44012345678, application_id = 45012345678, body = "Invited to Backend Take-Home",
            visibility = "admin_only", note_type = "NOTE" },
    })
    ok(a.requests[2].body:find('"candidate_id":44012345678', 1, true), "candidate_id must be a JSON number")
    a.add_note({ id = "44012345678" }, "no application")
    eq(a.requests[3].json, { candidate_id = 44012345678, body = "no application", visibility = "admin_only",
        note_type = "NOTE" })
end)

test("has_note finds a marker among the candidate's notes", function()
    local a = greenhouse()
    a.add_note({ id = "44012345678" }, "Report: https://coderbyte.example/r/1\n[atsflow:run-7:2]")
    eq(a.has_note({ id = "44012345678" }, "[atsflow:run-7:2]"), true)
    eq(a.has_note({ id = "44012345678" }, "[atsflow:run-7:3]"), false)
    eq(view(a.requests[3]), { method = "GET", url = HARVEST .. "/v3/notes?candidate_id=44012345678&per_page=500",
        headers = bearer(1) })
end)

test("add_tag creates the tag definition, applies it, and is idempotent", function()
    local a, gh = greenhouse()
    eq(a.add_tag({ id = "44012345678" }, "coderbyte-invited"), true)
    local seen = {}
    for i = 2, #a.requests do
        local r = a.requests[i]
        seen[#seen + 1] = { r.method, r.url, r.json }
    end
    eq(seen, {
        { "GET", HARVEST .. "/v3/candidate_tags?per_page=500" },
        { "POST", HARVEST .. "/v3/candidate_tags", { name = "coderbyte-invited" } },
        { "GET", HARVEST .. "/v3/applied_candidate_tags?candidate_ids=44012345678&per_page=500" },
        { "POST", HARVEST .. "/v3/applied_candidate_tags", { candidate_id = 44012345678, candidate_tag_id = 601 } },
    })
    eq(a.requests[5].headers, bearer_json(1))
    local before = #a.requests
    eq(a.add_tag({ id = "44012345678" }, "coderbyte-invited"), true)
    eq(#a.requests, before + 2) -- two reads, no write
    eq(#gh.applied, 1)
    eq(#gh.tags, 2)
end)

test("add_tag reuses an existing tag definition", function()
    local a, gh = greenhouse()
    eq(a.add_tag({ id = "44012345678" }, "referral"), true)
    eq(#gh.tags, 1)
    eq(gh.applied, { { id = 700, candidate_id = 44012345678, candidate_tag_id = 501 } })
end)

---------------------------------------------------------------- rate headers

test("rate_headers reads X-RateLimit-* with the reset in epoch seconds", function()
    local gh = require "adapters.greenhouse"
    eq(gh.rate_headers({ status = 200, headers = { ["x-ratelimit-limit"] = "50",
        ["x-ratelimit-remaining"] = "12", ["x-ratelimit-reset"] = "1764324030" } }),
        { limit = 50, remaining = 12, reset_ms = 1764324030000 })
    eq(gh.rate_headers({ status = 200, headers = {} }), nil)
end)
