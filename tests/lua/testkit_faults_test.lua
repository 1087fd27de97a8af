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
