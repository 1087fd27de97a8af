-- The test kit's scripted upstream: answer 429 twice then succeed, fail
-- permanently, or return a page of data the simulator would not.

local INVITE = [[
automation {
    name = "Invite",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = send_assessment_invite { assessment = "Backend Take-Home" },
}
]]

local INVITES = "^/sandbox/coderbyte/api/v1/assessments/[^/]+/invitations$"

local function posts(w, pattern)
    local out = {}
    for _, r in ipairs(w.requests { method = "POST" }) do
        if r.path:find(pattern) then out[#out + 1] = r end
    end
    return out
end

test("429 twice with Retry-After, then the invite goes through on the third attempt", function()
    local w = world { sources = { INVITE } }
    w.seed()
    w.faults { { method = "POST", path = INVITES, status = 429, times = 2, retry_after = 5 } }
    w.move("ada@example.com", "Backend Engineer", "Technical Screen")
    w.settle()
    eq(w.runs()[1].status, "retrying")
    eq(#posts(w, INVITES), 1)
    w.advance("5s")
    eq(#posts(w, INVITES), 2, "the second attempt waits for Retry-After")
    w.advance("1m")
    local run = w.runs()[1]
    eq(run.status, "succeeded")
    eq(run.attempts, 3)
    eq(#posts(w, INVITES), 3)
end)

test("a permanent refusal makes the run dead at once with the upstream's status", function()
    local w = world { sources = { INVITE } }
    w.seed()
    w.faults { { method = "POST", path = INVITES, status = 403, times = -1 } }
    w.move("ada@example.com", "Backend Engineer", "Technical Screen")
    w.settle()
    local run = w.runs()[1]
    eq(run.status, "dead")
    eq(run.attempts, 1)
    ok(run.last_error:find("HTTP 403", 1, true), run.last_error)
    w.advance("1h")
    eq(#posts(w, INVITES), 1, "never retried")
end)

test("a scripted page of candidates is what the automation sees", function()
    local w = world { sources = { [[
automation { name = "Report", trigger = interview_finished {}, action = post_report_details {} }
]] } }
    w.seed()
    w.faults { { method = "GET", path = "^/sandbox/ats/candidates$", status = 200, json = {
        { id = "201", name = "Ada Lovelace", emails = { "grace@example.com" }, application_ids = { "301" } },
        { id = "202", name = "Grace Hopper", emails = { "grace@example.com" }, application_ids = { "302" } },
    } } }
    w.interview("grace@example.com", "iv-7")
    w.settle()
    local notes = posts(w, "^/sandbox/ats/candidates/%d+/notes$")
    eq(#notes, 2)
    eq(notes[1].path, "/sandbox/ats/candidates/201/notes")
    eq(notes[2].path, "/sandbox/ats/candidates/202/notes")
end)

-- ---------------------------------------------------------------- time-outs
-- A `timeout = true` rule never answers: the client gives up after its
-- request time-out (30 s) measured on the virtual clock.

local function invite_step(w, run_id)
    for _, s in ipairs(w.steps(run_id)) do
        if s.kind == "invite" then return s, json.decode(s.request) end
    end
end

test("a time-out, then the invite goes through after the backoff on the virtual clock", function()
    local w = world { sources = { INVITE } }
    w.seed()
    w.faults { { method = "POST", path = INVITES, timeout = true } }
    w.move("ada@example.com", "Backend Engineer", "Technical Screen")
    w.settle() -- returns while the request waits for an answer that never comes
    local first = posts(w, INVITES)
    eq(#first, 1)
    eq(first[1].timed_out, true, "recorded, marked as timed out")
    eq(w.runs()[1].status, "running")
    w.advance(30000 - 1 - (w.now() - first[1].at))
    eq(w.runs()[1].status, "running", "not before the request time-out")
    w.advance(1)
    local run = w.runs()[1]
    ok(run.last_error:find("timed out after 30000 milliseconds", 1, true), run.last_error)
    if run.status == "retrying" then -- the jittered backoff drew more than 0 ms
        eq(#posts(w, INVITES), 1, "no retry before the backoff")
        ok(run.next_at - w.now() <= 1000, "attempt 1 waits at most retry_base")
        w.advance(run.next_at - w.now() - 1)
        eq(#posts(w, INVITES), 1, "no retry before the backoff")
        w.advance(1)
    end
    run = w.runs()[1]
    eq(run.status, "succeeded")
    eq(run.attempts, 2)
    local sent = posts(w, INVITES)
    eq(#sent, 2)
    eq(sent[2].timed_out, nil)
    local gap = sent[2].at - sent[1].at
    ok(gap >= 30000 and gap <= 31000, "retried " .. gap .. " ms after the first request")
end)

test("an upstream that always times out leaves the run dead after action_attempts, naming the time-out", function()
    local w = world { sources = { INVITE }, action_attempts = 3 }
    w.seed()
    w.faults { { method = "POST", path = INVITES, timeout = true, times = -1 } }
    w.move("ada@example.com", "Backend Engineer", "Technical Screen")
    w.advance("10m")
    local run = w.runs()[1]
    eq(run.status, "dead")
    eq(run.attempts, 3)
    ok(run.last_error:find("POST .- failed: Operation timed out after 30000 milliseconds"), run.last_error)
    local sent = posts(w, INVITES)
    eq(#sent, 3)
    for i, r in ipairs(sent) do
        eq(r.timed_out, true)
        if i > 1 then ok(r.at - sent[i - 1].at >= 30000, "each attempt waited out the time-out") end
    end
    -- classified as production classifies curl's time-out (upstream.lua)
    local step, detail = invite_step(w, run.id)
    eq(step.status, "failed")
    eq(detail.http[#detail.http].status, 0)
    eq(detail.http[#detail.http].timed_out, true)
end)

test("time-outs cost virtual time only: ten attempts take five virtual minutes and little real time", function()
    local host = require "host"
    local w = world { sources = { INVITE } }
    w.seed()
    w.faults { { method = "POST", path = INVITES, timeout = true, times = -1 } }
    local real0, virtual0 = host.mono(), w.now()
    w.move("ada@example.com", "Backend Engineer", "Technical Screen")
    w.advance("2h")
    local run = w.runs()[1]
    eq(run.status, "dead")
    eq(run.attempts, 10)
    local sent = posts(w, INVITES)
    ok(sent[10].at - sent[1].at >= 9 * 30000, "nine time-outs between the first and the last attempt")
    ok(w.now() - virtual0 >= 2 * 3600000)
    local real = host.mono() - real0
    ok(real < 10000, ("took %d ms of real time"):format(real))
end)

test("a read that times out is retried too; a test may end with a request still stalled", function()
    local w = world { sources = { [[
automation { name = "Report", trigger = interview_finished {}, action = post_report_details {} }
]] } }
    w.seed()
    w.faults { { method = "GET", path = "^/sandbox/ats/candidates$", timeout = true, times = -1 } }
    w.interview("grace@example.com", "iv-7")
    w.settle()
    eq(#w.requests { method = "GET", path = "^/sandbox/ats/candidates$" }, 1)
    eq(w.runs()[1].status, "running")
    w.advance("30s")
    local run = w.runs()[1]
    ok(run.last_error:find("GET .- failed: Operation timed out"), run.last_error)
    -- retrying, or (a backoff of 0 ms) the retry is stalled in turn
    local gets = #w.requests { method = "GET", path = "^/sandbox/ats/candidates$" }
    ok(run.status == "retrying" and gets == 1 or run.status == "running" and gets == 2, run.status)
    eq(#w.writes(), 0, "nothing was sent")
end)

test("a fault rule needs a status or timeout = true, not both", function()
    local w = world { sources = { INVITE } }
    raises(function() w.faults { { path = INVITES } } end, "either a status or timeout = true")
    raises(function() w.faults { { path = INVITES, status = 503, timeout = true } } end, "either a status or timeout = true")
end)
