-- The Coderbyte side and every seed automation type, end to end: each test
-- starts a fresh world (docs/testing.md) — the real engine, journal, HTTP
-- intake with signed webhooks (Standard Webhooks from the sandbox ATS, HS256
-- JWTs from the simulated Coderbyte) and both simulated upstreams over
-- loopback, on a virtual clock — and asserts the exact upstream writes
-- (method, path, JSON body) and that nothing else was written.
--
-- Automations are inline (`sources`); the example scripts have their own
-- tests in scripts_test.lua. Sandbox data: Backend Engineer (job 101) and
-- Frontend Engineer (102), stages <job><1..4> = Application Review,
-- Technical Screen, Onsite, Offer; Ada Lovelace (201, application 301 on
-- Backend), "Ada L." (203, the same email, no application), Grace Hopper
-- (202, application 302 on Frontend); Backend/Frontend Take-Home.

local ADA, GRACE = "ada@example.com", "grace@example.com"
local BACKEND, FRONTEND = "Backend Engineer", "Frontend Engineer"
local CB = "/sandbox/coderbyte/api/v1"
local ATS = "/sandbox/ats"
local TAKE_HOME = "Backend Take-Home"

---------------------------------------------------------------- helpers

local function world_of(sources, opts)
    opts = opts or {}
    opts.sources = type(sources) == "string" and { sources } or sources
    local w = world(opts)
    w.seed()
    w.settle() -- the catalog refresh the seed asks for
    return w
end

local function writes(w)
    local out = {}
    for _, r in ipairs(w.writes()) do
        out[#out + 1] = { method = r.method, path = r.path, json = r.json }
    end
    return out
end

-- Every request (reads too) after the first `since`, as "METHOD path?query".
local function calls_after(w, since)
    local out = {}
    for _, r in ipairs(w.requests()) do
        if r.seq > since then
            local q = {}
            for k, v in pairs(r.query or {}) do q[#q + 1] = k .. "=" .. tostring(v) end
            table.sort(q)
            out[#out + 1] = r.method .. " " .. r.path .. (#q > 0 and ("?" .. table.concat(q, "&")) or "")
        end
    end
    return out
end

local function last_seq(w)
    local list = w.requests()
    return #list > 0 and list[#list].seq or 0
end

local function POST(path, body) return { method = "POST", path = path, json = body } end

local function note(cand, text, run, step)
    return POST(ATS .. "/candidates/" .. cand .. "/notes",
        { body = ("%s\n[atsflow:%d:%d]"):format(text, run, step) })
end

local function tag(cand, name) return POST(ATS .. "/candidates/" .. cand .. "/tags", { tag = name }) end

local function move(app, stage) return POST(ATS .. "/applications/" .. app .. "/move", { stage_id = stage }) end

local function invite(assessment, email, name)
    return POST(CB .. "/assessments/" .. assessment .. "/invitations", { email = email, name = name })
end

local function events_of(w, etype)
    local out = {}
    for _, e in ipairs(w.events()) do
        if e.type == etype then out[#out + 1] = w.event(e.id) end
    end
    table.sort(out, function(a, b) return a.delivery_id < b.delivery_id end)
    return out
end

local function only_event(w, etype)
    local list = events_of(w, etype)
    eq(#list, 1, "one " .. etype .. " event")
    return list[1]
end

local function body_of(ev) return json.decode(ev.body) end
local function decisions_of(ev) return json.decode(ev.decisions) end

local function when(ev)
    return os.date("!%Y-%m-%d %H:%M", ev.received_at // 1000) .. " UTC"
end

local function report_text(what, url, extra)
    return ("Coderbyte report for %s: %s"):format(what, url) .. (extra and ("\n" .. extra) or "")
end

local function runs_of(w)
    local out = {}
    for _, r in ipairs(w.runs()) do out[#out + 1] = { automation = r.automation, status = r.status } end
    table.sort(out, function(a, b) return a.automation < b.automation end)
    return out
end

-- Inline automation sources.
local function invite_src(trigger, action_opts)
    return ([[
automation {
    name    = "Invite",
    trigger = applicant_moved_to_stage { %s },
    action  = send_assessment_invite { assessment = "Backend Take-Home"%s },
}
]]):format(trigger, action_opts or "")
end

local BACKEND_SCREEN = 'job = "Backend Engineer", stage = "Technical Screen"'

local REPORT_ON_COMPLETION = [[
automation {
    name    = "Report",
    trigger = assessment_completed { assessment = "Backend Take-Home" },
    action  = post_report_details {},
}
]]

local function move_on_completion(conditions, match)
    return ([[
automation {
    name       = "Move to Onsite",
    trigger    = assessment_completed { assessment = "Backend Take-Home" },
    conditions = { %s },
    match      = %q,
    action     = move_to_stage { job = "Backend Engineer", stage = "Onsite" },
}
]]):format(conditions, match)
end

---------------------------------------------------------------- applicant moved to stage -> send invite

test("invite: the matching job and stage sends exactly the invite", function()
    local w = world_of(invite_src(BACKEND_SCREEN))
    w.move(ADA, BACKEND, "Technical Screen")
    w.settle()
    eq(writes(w), { invite("backend-take-home", ADA, "Ada Lovelace") })
    local sent = w.requests { method = "POST", path = "/invitations$" }
    eq(sent[1].headers["idempotency-key"], "1:1", "idempotency key <run>:<step>")
    eq(runs_of(w), { { automation = "Invite", status = "succeeded" } })
    eq(w.show(ADA).candidates[1].invitations[1].assessment, TAKE_HOME)
end)

test("invite: another stage of the same job makes no call at all", function()
    local w = world_of(invite_src(BACKEND_SCREEN))
    local before = last_seq(w)
    w.move(ADA, BACKEND, "Onsite")
    w.settle()
    eq(calls_after(w, before), {})
    local ev = only_event(w, "applicant.moved_to_stage")
    eq(ev.status, "ignored")
    eq(decisions_of(ev).automations, { { automation = "Invite", trigger = false, reason = "other stage" } })
    eq(w.runs(), {})
end)

test("invite: the same stage name on another job makes no call at all", function()
    local w = world_of(invite_src(BACKEND_SCREEN))
    local before = last_seq(w)
    w.move(GRACE, FRONTEND, "Technical Screen")
    w.settle()
    eq(calls_after(w, before), {})
    local ev = only_event(w, "applicant.moved_to_stage")
    eq(ev.status, "ignored")
    eq(ev.reason, "no automation refers to this job and stage")
    eq(w.runs(), {})
end)

test("invite: any_job matches the stage by name on every job, and nothing else", function()
    local w = world_of(invite_src('job = any_job, stage = "Technical Screen"'))
    w.move(ADA, BACKEND, "Technical Screen")
    w.settle()
    w.move(GRACE, FRONTEND, "Technical Screen")
    w.settle()
    local before = last_seq(w)
    w.move(ADA, BACKEND, "Offer")
    w.settle()
    eq(calls_after(w, before), {}, "another stage on any job: no call")
    eq(writes(w), {
        invite("backend-take-home", ADA, "Ada Lovelace"),
        invite("backend-take-home", GRACE, "Grace Hopper"),
    })
end)

test("invite: add_tag tags the moved candidate after the invite", function()
    local w = world_of(invite_src(BACKEND_SCREEN, ', add_tag = "cb-invited"'))
    w.move(ADA, BACKEND, "Technical Screen")
    w.settle()
    -- the move names candidate 201: the duplicate 203 is not tagged
    eq(writes(w), { invite("backend-take-home", ADA, "Ada Lovelace"), tag("201", "cb-invited") })
    eq(w.show(ADA).candidates[1].tags, { "cb-invited" })
end)

test("invite: post_note leaves a note naming the assessment and when", function()
    local w = world_of(invite_src(BACKEND_SCREEN, ", post_note = true"))
    w.move(ADA, BACKEND, "Technical Screen")
    w.settle()
    local ev = only_event(w, "applicant.moved_to_stage")
    eq(writes(w), {
        invite("backend-take-home", ADA, "Ada Lovelace"),
        note("201", "Invited to the Coderbyte assessment Backend Take-Home on " .. when(ev) .. ".", 1, 2),
    })
end)

test("invite: a second move to the stage does not invite twice", function()
    local w = world_of(invite_src(BACKEND_SCREEN))
    w.move(ADA, BACKEND, "Technical Screen")
    w.settle()
    w.move(ADA, BACKEND, "Application Review")
    w.settle()
    w.move(ADA, BACKEND, "Technical Screen")
    w.settle()
    -- the second run's POST answers 409 (already invited): the existing
    -- invitation is read back, no new one is made
    eq(writes(w), { invite("backend-take-home", ADA, "Ada Lovelace"), invite("backend-take-home", ADA, "Ada Lovelace") })
    eq(#w.requests { method = "GET", path = "/invitations$" }, 1, "the look-up after the 409")
    eq(#w.show(ADA).candidates[1].invitations, 1)
    eq(runs_of(w), { { automation = "Invite", status = "succeeded" }, { automation = "Invite", status = "succeeded" } })
end)

---------------------------------------------------------------- assessment completed -> post report

test("report: no conditions: runs for everyone, qualified or not, cheating or not", function()
    local w = world_of(REPORT_ON_COMPLETION)
    local a = w.complete(GRACE, TAKE_HOME, { score = 95 })
    w.settle()
    local b = w.complete(GRACE, TAKE_HOME, { score = 12, qualified = false, cheating = "detected" })
    w.settle()
    eq(writes(w), {
        note("202", report_text("assessment Backend Take-Home", a.payload.report_url), 1, 2),
        note("202", report_text("assessment Backend Take-Home", b.payload.report_url), 2, 2),
    })
    eq(runs_of(w), { { automation = "Report", status = "succeeded" }, { automation = "Report", status = "succeeded" } })
end)

test("report: not ready twice, then ready: fetched after 5 s and 10 s more, then the note", function()
    local w = world_of(REPORT_ON_COMPLETION)
    local before = last_seq(w)
    local done = w.complete(GRACE, TAKE_HOME, { score = 88, report_ready_after = 2 })
    eq(done.payload.report_ready, false, "the webhook says the report is not ready")
    w.settle()
    local fetch = "GET " .. CB .. "/assessments/backend-take-home/reports?email=" .. GRACE
    -- the Coderbyte catalog read names the assessment (allowed), then the first fetch
    eq(calls_after(w, before), { "GET " .. CB .. "/assessments", fetch })
    eq(events_of(w, "assessment.completed"), {}, "held: not emitted yet")
    w.advance("4s")
    eq(#w.requests { path = "/reports$" }, 1, "the backoff has not fired yet")
    w.advance("1s")
    eq(#w.requests { path = "/reports$" }, 2, "second fetch after 5 s")
    eq(writes(w), {})
    w.advance("10s")
    eq(#w.requests { path = "/reports$" }, 3, "third fetch 10 s later: ready")
    local ev = only_event(w, "assessment.completed")
    eq(ev.status, "processed")
    local a = body_of(ev).assessment
    eq({ a.score, a.qualified, a.cheating, a.cheating_detected, a.report_incomplete }, { 88, true, "not_detected", false, nil })
    eq(writes(w), { note("202", report_text("assessment Backend Take-Home", done.payload.report_url), 1, 2) })
    eq(calls_after(w, before), {
        "GET " .. CB .. "/assessments", fetch, fetch, fetch,
        "GET " .. ATS .. "/candidates?email=" .. GRACE,
        "POST " .. ATS .. "/candidates/202/notes",
    })
end)

test("report: never ready within report_wait: report_incomplete, qualified conditions not met, and why", function()
    local w = world_of({ REPORT_ON_COMPLETION, move_on_completion("qualified", "all") }, { report_wait = "1m" })
    local done = w.complete(GRACE, TAKE_HOME, { score = 99, report_ready_after = 1000 })
    w.settle()
    for _, step in ipairs({ "5s", "10s", "20s", "25s" }) do w.advance(step) end
    -- fetched at 0, 5, 15, 35 and 60 s, then emitted with what is known
    eq(#w.requests { path = "/reports$" }, 5)
    local ev = only_event(w, "assessment.completed")
    local a = body_of(ev).assessment
    eq(a.report_incomplete, true)
    eq({ a.qualified, a.score, a.cheating_detected }, { nil, nil, nil }, "never guessed")
    local d = decisions_of(ev).automations
    table.sort(d, function(x, y) return x.automation < y.automation end)
    eq(d[1], { automation = "Move to Onsite", trigger = true, met = false, conditions = {
        { condition = "qualified", met = false, note = "report incomplete: qualified is unknown" } } })
    eq(d[2], { automation = "Report", trigger = true, met = true, conditions = {} })
    eq(runs_of(w), { { automation = "Report", status = "succeeded" } }, "no move run")
    eq(writes(w), { note("202", report_text("assessment Backend Take-Home", done.payload.report_url,
        "(The report was not ready in time; score and qualification are unknown.)"), 1, 2) })
end)

test("report: never ready, with only the move automation: ignored, conditions not met, saying why", function()
    local w = world_of(move_on_completion("qualified", "any"), { report_wait = "10s" })
    w.complete(ADA, TAKE_HOME, { score = 99, report_ready_after = 1000 })
    w.settle()
    w.advance("5s")
    w.advance("5s")
    local ev = only_event(w, "assessment.completed")
    eq(ev.status, "ignored")
    eq(ev.reason, "conditions not met")
    eq(decisions_of(ev).automations[1].conditions[1].note, "report incomplete: qualified is unknown")
    eq(writes(w), {})
    eq(w.runs(), {})
end)

---------------------------------------------------------------- assessment completed -> move to stage

-- qualified x cheating for match = "any" and "all" of { qualified, cheating_not_detected }
local COMBOS = {
    { qualified = true, cheating = "not_detected", any = true, all = true },
    { qualified = true, cheating = "detected", any = true, all = false },
    { qualified = false, cheating = "not_detected", any = true, all = false },
    { qualified = false, cheating = "detected", any = false, all = false },
}

for _, match in ipairs({ "any", "all" }) do
    for _, c in ipairs(COMBOS) do
        local moves = c[match]
        test(("move: match = %q, qualified = %s, cheating %s: %s"):format(match, tostring(c.qualified),
            c.cheating, moves and "moves" or "does not move"), function()
            local w = world_of(move_on_completion("qualified, cheating_not_detected", match))
            w.complete(ADA, TAKE_HOME, { score = c.qualified and 90 or 30, qualified = c.qualified, cheating = c.cheating })
            w.settle()
            local ev = only_event(w, "assessment.completed")
            local d = decisions_of(ev).automations[1]
            eq(d.conditions, {
                { condition = "qualified", met = c.qualified },
                { condition = "cheating_not_detected", met = c.cheating == "not_detected" },
            })
            eq(d.met, moves)
            if moves then
                eq(writes(w), { move("301", "1013") })
                eq(w.show(ADA).candidates[1].applications[1].stage.name, "Onsite")
                eq(runs_of(w), { { automation = "Move to Onsite", status = "succeeded" } })
            else
                eq(writes(w), {})
                eq(ev.status, "ignored")
                eq(ev.reason, "conditions not met")
                eq(w.runs(), {})
            end
        end)
    end
end

test("move: a custom Lua filter, score >= 80: 80 moves, 79 does not", function()
    local src = [[
automation {
    name       = "Score at least 80",
    trigger    = assessment_completed { assessment = "Backend Take-Home" },
    conditions = { function(e) return (e.assessment.score or 0) >= 80 end },
    action     = move_to_stage { job = "Backend Engineer", stage = "Onsite" },
}
]]
    local w = world_of(src)
    w.complete(ADA, TAKE_HOME, { score = 79, qualified = true })
    w.settle()
    eq(writes(w), {}, "79")
    w.complete(ADA, TAKE_HOME, { score = 80 })
    w.settle()
    eq(writes(w), { move("301", "1013") }, "80")
    local evs = events_of(w, "assessment.completed")
    eq({ evs[1].status, evs[1].reason, evs[2].status }, { "ignored", "conditions not met", "processed" })
end)

test("move: a custom filter that raises fails that evaluation, recorded, and moves nothing", function()
    local src = [[
automation {
    name       = "Buggy filter",
    trigger    = assessment_completed { assessment = "Backend Take-Home" },
    conditions = { function(e) return e.assessment.no_such.field > 1 end },
    action     = move_to_stage { job = "Backend Engineer", stage = "Onsite" },
}
]]
    local w = world_of(src)
    w.complete(ADA, TAKE_HOME, { score = 90 })
    w.settle()
    eq(writes(w), {})
    local ev = only_event(w, "assessment.completed")
    eq(ev.reason, "conditions not met")
    local c = decisions_of(ev).automations[1].conditions[1]
    eq(c.met, false)
    ok(c.error and c.error:find("no_such", 1, true), "the error is recorded: " .. tostring(c.error))
end)

test("move: likely plagiarism counts as cheating only with likely_counts_as_cheating", function()
    local src = move_on_completion("qualified, cheating_not_detected", "all")
    local w = world_of(src)
    w.complete(ADA, TAKE_HOME, { score = 90, cheating = "likely" })
    w.settle()
    local a = body_of(only_event(w, "assessment.completed")).assessment
    eq({ a.cheating, a.cheating_detected }, { "likely", false })
    eq(writes(w), { move("301", "1013") }, "default: likely is not cheating")

    local w2 = world_of(src, { likely_counts_as_cheating = true })
    w2.complete(ADA, TAKE_HOME, { score = 90, cheating = "likely" })
    w2.settle()
    local ev = only_event(w2, "assessment.completed")
    a = body_of(ev).assessment
    eq({ a.cheating, a.cheating_detected }, { "likely", true })
    eq(ev.reason, "conditions not met")
    eq(writes(w2), {}, "likely_counts_as_cheating = true: no move")
end)

---------------------------------------------------------------- assessment scorecard updated -> post report / move

local SCORECARD_THUMB_UP_REPORT = [[
automation {
    name    = "Thumbs up report",
    trigger = assessment_scorecard_updated { assessment = "Backend Take-Home", events = { "thumb_up" } },
    action  = post_report_details {},
}
]]

test("scorecard: events = { thumb_up }: a thumbs up posts the link and the recommendation", function()
    local w = world_of(SCORECARD_THUMB_UP_REPORT)
    local sc = w.scorecard(GRACE, { assessment = TAKE_HOME, event = "thumb_up", reviewer = "hr@example.com" })
    w.settle()
    eq(writes(w), { note("202", report_text("assessment Backend Take-Home", sc.payload.report_url,
        "hr@example.com gave a thumbs up."), 1, 2) })
    local ev = only_event(w, "assessment.scorecard_updated")
    eq(body_of(ev).scorecard, { event = "thumb_up", reviewer = "hr@example.com" })
end)

test("scorecard: events = { thumb_up }: a thumbs down and a comment do nothing", function()
    local w = world_of(SCORECARD_THUMB_UP_REPORT)
    w.scorecard(GRACE, { assessment = TAKE_HOME, event = "thumb_down" })
    w.settle()
    w.scorecard(GRACE, { assessment = TAKE_HOME, event = "comment_added", comment = "meh" })
    w.settle()
    eq(writes(w), {})
    eq(w.runs(), {})
    local evs = events_of(w, "assessment.scorecard_updated")
    eq(#evs, 2)
    eq(decisions_of(evs[1]).automations[1].reason, "scorecard event 'thumb_down' not listed")
    eq(decisions_of(evs[2]).automations[1].reason, "scorecard event 'comment_added' not listed")
end)

test("scorecard: a comment and a thumbs up, listening to both, run twice", function()
    local w = world_of([[
automation {
    name    = "Scorecard report",
    trigger = assessment_scorecard_updated { assessment = "Backend Take-Home", events = { "comment_added", "thumb_up" } },
    action  = post_report_details {},
}
]])
    local a = w.scorecard(GRACE, { assessment = TAKE_HOME, event = "comment_added", comment = "Solid.",
                                   reviewer = "hr@example.com" })
    w.settle()
    local b = w.scorecard(GRACE, { assessment = TAKE_HOME, event = "thumb_up", reviewer = "hr@example.com" })
    w.settle()
    eq(writes(w), {
        note("202", report_text("assessment Backend Take-Home", a.payload.report_url, "hr@example.com commented: Solid."), 1, 2),
        note("202", report_text("assessment Backend Take-Home", b.payload.report_url, "hr@example.com gave a thumbs up."), 2, 2),
    })
    eq(runs_of(w), { { automation = "Scorecard report", status = "succeeded" },
                     { automation = "Scorecard report", status = "succeeded" } })
end)

test("scorecard: a thumbs up can move the candidate", function()
    local w = world_of([[
automation {
    name    = "Thumbs up to Offer",
    trigger = assessment_scorecard_updated { assessment = "Backend Take-Home", events = { "thumb_up" } },
    action  = move_to_stage { job = "Backend Engineer", stage = "Offer" },
}
]])
    w.scorecard(ADA, { assessment = TAKE_HOME, event = "thumb_down" })
    w.settle()
    eq(writes(w), {})
    w.scorecard(ADA, { assessment = TAKE_HOME, event = "thumb_up" })
    w.settle()
    eq(writes(w), { move("301", "1014") })
end)

---------------------------------------------------------------- interviews

test("interview finished: every interview posts its own report link", function()
    local w = world_of([[
automation { name = "Interview report", trigger = interview_finished {}, action = post_report_details {} }
]])
    local a = w.interview(GRACE, "iv-1")
    w.settle()
    local b = w.interview(ADA, "iv-2")
    w.settle()
    local text_b = report_text("interview iv-2", b.payload.report_url)
    eq(writes(w), {
        note("202", report_text("interview iv-1", a.payload.report_url), 1, 2),
        -- interviews carry no invitation: the email is looked up, both Adas get it
        note("201", text_b, 2, 2),
        note("203", text_b, 2, 3),
    })
end)

local INTERVIEW_SCORECARD = [[
automation {
    name    = "Interview scorecard",
    trigger = interview_scorecard_updated { events = { "thumb_down", "comment_added" } },
    action  = post_report_details {},
}
]]

test("interview scorecard: thumb_down and comment_added are posted; thumb_up is not", function()
    local w = world_of(INTERVIEW_SCORECARD)
    local up = w.scorecard(GRACE, { interview = "iv-5", event = "thumb_up", reviewer = "hr@example.com" })
    w.settle()
    eq(writes(w), {}, "thumb_up is not listed")
    local down = w.scorecard(GRACE, { interview = "iv-5", event = "thumb_down", reviewer = "hr@example.com" })
    w.settle()
    local c = w.scorecard(GRACE, { interview = "iv-5", event = "comment_added", comment = "Needs depth",
                                   reviewer = "cto@example.com" })
    w.settle()
    eq(up.payload.report_url, down.payload.report_url)
    eq(writes(w), {
        note("202", report_text("interview iv-5", down.payload.report_url, "hr@example.com gave a thumbs down."), 1, 2),
        note("202", report_text("interview iv-5", c.payload.report_url, "cto@example.com commented: Needs depth"), 2, 2),
    })
    local evs = events_of(w, "interview.scorecard_updated")
    eq({ evs[1].status, evs[2].status, evs[3].status }, { "ignored", "processed", "processed" })
end)

---------------------------------------------------------------- linking Coderbyte events to the ATS

local INVITE_AND_REPORT = { invite_src(BACKEND_SCREEN), REPORT_ON_COMPLETION,
                            move_on_completion("qualified", "any") }

test("linking: a completion of an assessment atsflow invited goes to exactly the invited application", function()
    local w = world_of(INVITE_AND_REPORT)
    w.move(ADA, BACKEND, "Technical Screen")
    w.settle()
    local before = last_seq(w)
    local done = w.complete(ADA, TAKE_HOME, { score = 90 })
    w.settle()
    local ev = body_of(only_event(w, "assessment.completed"))
    eq({ ev.candidate.id, ev.application.id, ev.ats }, { "201", "301", "sandbox" })
    -- Ada L. (203) shares the email but was not invited: no note for her, and
    -- no email search at all
    local after = {}
    for _, r in ipairs(w.writes()) do
        if r.seq > before then after[#after + 1] = { method = r.method, path = r.path, json = r.json } end
    end
    local text = report_text("assessment Backend Take-Home", done.payload.report_url)
    -- runs 2 (Report) and 3 (Move) of one candidate run in order; the note's
    -- first step is the note itself: the linked candidate needs no search
    eq(after, { note("201", text, 2, 1), move("301", "1013") })
    eq(w.requests { path = "^" .. ATS .. "/candidates$" }, {}, "no email search")
    eq(w.show(ADA).candidates[2].notes, {}, "nothing on the duplicate")
end)

test("linking: without an invitation record, the email search reaches both duplicates", function()
    local w = world_of(REPORT_ON_COMPLETION)
    local done = w.complete(ADA, TAKE_HOME, { score = 90 })
    w.settle()
    local ev = body_of(only_event(w, "assessment.completed"))
    eq(ev.candidate, { emails = { ADA } }, "not linked")
    local text = report_text("assessment Backend Take-Home", done.payload.report_url)
    eq(writes(w), { note("201", text, 1, 2), note("203", text, 1, 3) })
    eq(#w.requests { method = "GET", path = "^" .. ATS .. "/candidates$" }, 1)
end)

---------------------------------------------------------------- scope

test("scope: a completion of an assessment no automation refers to is ignored and calls nothing", function()
    local w = world_of({ REPORT_ON_COMPLETION, invite_src(BACKEND_SCREEN) })
    local before = last_seq(w)
    w.complete(GRACE, "Frontend Take-Home", { score = 90 })
    w.settle()
    -- Only a read of Coderbyte's assessment catalog (to name the assessment
    -- in the event) is allowed: catalog reads are the one call atsflow makes
    -- on its own (spec semantics.md "Scope"). No report fetch, no ATS call.
    eq(calls_after(w, before), { "GET " .. CB .. "/assessments" })
    local ev = only_event(w, "assessment.completed")
    eq(ev.status, "ignored")
    eq(ev.reason, "no automation refers to this assessment")
    eq(body_of(ev).assessment.name, "Frontend Take-Home")
    eq(w.runs(), {})
end)

test("scope: a scorecard for an assessment no automation refers to is ignored and calls nothing", function()
    local w = world_of(SCORECARD_THUMB_UP_REPORT)
    local before = last_seq(w)
    w.scorecard(GRACE, { assessment = "Frontend Take-Home", event = "thumb_up" })
    w.settle()
    -- the Coderbyte catalog read is allowed (see above); nothing else
    eq(calls_after(w, before), { "GET " .. CB .. "/assessments" })
    local ev = only_event(w, "assessment.scorecard_updated")
    eq({ ev.status, ev.reason }, { "ignored", "no automation refers to this assessment" })
end)

test("scope: with no automation at all, Coderbyte events are ignored with zero calls but the catalog read", function()
    local w = world_of([[
automation { name = "Unrelated", trigger = applicant_moved_to_stage { job = "Frontend Engineer", stage = "Offer" },
             action = move_to_stage { job = "Frontend Engineer", stage = "Onsite" } }
]])
    local before = last_seq(w)
    w.complete(ADA, TAKE_HOME, { score = 90, report_ready_after = 3 })
    w.settle()
    w.advance("1h")
    w.interview(ADA, "iv-3")
    w.settle()
    w.scorecard(ADA, { interview = "iv-3", event = "thumb_up" })
    w.settle()
    eq(calls_after(w, before), { "GET " .. CB .. "/assessments" })
    for _, e in ipairs(w.events()) do
        if e.source == "coderbyte" then eq(e.status, "ignored", e.type) end
    end
    eq(#events_of(w, "assessment.completed"), 1, "emitted at once, not held for a report nobody needs")
    eq(w.runs(), {})
end)

---------------------------------------------------------------- webhook intake: JWT

local function api_key()
    return require("host").journal("meta_get", "sandbox_coderbyte_key")[1].value
end

local function completion_body(email)
    return json.encode({ operation = "interview_completed", organization_id = "sandbox", email = email,
                         interview_id = "iv-jwt", report_url = "https://coderbyte.test/report/iv-jwt" })
end

local function hand_token(header, claims, key)
    local input = crypto.base64url_encode(json.encode(header)) .. "." .. crypto.base64url_encode(json.encode(claims))
    return input .. "." .. (key and crypto.base64url_encode(crypto.hmac_sha256(key, input)) or "")
end

test("intake: Coderbyte webhooks with a bad JWT are 401 and never journaled; a good one runs", function()
    local w = world_of([[
automation { name = "Interview report", trigger = interview_finished {}, action = post_report_details {} }
]])
    -- the virtual clock's now, from the event the seed journaled
    local now = w.events()[1].received_at // 1000
    local res = w.webhook("coderbyte", completion_body(GRACE), {})
    local key = api_key()
    local good = { iss = "sandbox", iat = now, exp = now + 300 }
    local cases = {
        ["another key"] = jwt.sign_hs256(good, "not-the-api-key"),
        ["wrong issuer"] = jwt.sign_hs256({ iss = "other-org", exp = now + 300 }, key),
        ["alg none"] = hand_token({ alg = "none", typ = "JWT" }, good, nil),
        ["HS512 header"] = hand_token({ alg = "HS512", typ = "JWT" }, good, key),
    }
    eq(res.status, 401, "no Authorization header")
    for name, token in pairs(cases) do
        local r = w.webhook("coderbyte", completion_body(GRACE), { authorization = "Bearer " .. token,
                                                                   ["content-type"] = "application/json" })
        eq(r.status, 401, name)
    end
    w.settle()
    eq(events_of(w, "interview.finished"), {}, "nothing journaled")
    eq(writes(w), {})
    local r = w.webhook("coderbyte", completion_body(GRACE), { authorization = "Bearer " .. jwt.sign_hs256(good, key),
                                                               ["content-type"] = "application/json" })
    eq(r.status, 200)
    w.settle()
    eq(writes(w), { note("202", report_text("interview iv-jwt", "https://coderbyte.test/report/iv-jwt"), 1, 2) })
end)

test("intake: a token expired beyond the 60 s leeway is 401", function()
    local w = world_of([[
automation { name = "Interview report", trigger = interview_finished {}, action = post_report_details {} }
]])
    -- the virtual clock's now, from an event the world journaled
    local now = w.events()[1].received_at // 1000
    local key = api_key()
    local expired = jwt.sign_hs256({ iss = "sandbox", exp = now - 61 }, key)
    local r = w.webhook("coderbyte", completion_body(GRACE), { authorization = "Bearer " .. expired })
    eq(r.status, 401)
    local within = jwt.sign_hs256({ iss = "sandbox", exp = now - 30 }, key)
    r = w.webhook("coderbyte", completion_body(GRACE), { authorization = "Bearer " .. within })
    eq(r.status, 200, "within the leeway")
    w.settle()
    eq(#events_of(w, "interview.finished"), 1)
end)

test("intake: a redelivered Coderbyte body with the same token is a duplicate and runs once", function()
    local w = world_of([[
automation { name = "Interview report", trigger = interview_finished {}, action = post_report_details {} }
]])
    local now = w.events()[1].received_at // 1000
    local token = jwt.sign_hs256({ iss = "sandbox", exp = now + 300, jti = "j-1" }, api_key())
    local h = { authorization = "Bearer " .. token }
    eq(w.webhook("coderbyte", completion_body(GRACE), h).status, 200)
    eq(w.webhook("coderbyte", completion_body(GRACE), h).status, 200)
    w.settle()
    eq(#events_of(w, "interview.finished"), 1)
    eq(#writes(w), 1)
end)
