-- Tests for every example automation in scripts/ (docs/testing.md): each test
-- loads exactly one script into a fresh world (the real engine, journal,
-- signed-webhook intake and the simulated ATS and Coderbyte on loopback, on a
-- virtual clock) and asserts the exact writes the automations sent upstream,
-- and that nothing else was written.
--
-- The sandbox's default data: Backend Engineer (job 101) and Frontend
-- Engineer (job 102), stages <job id><1..4> = Application Review, Technical
-- Screen, Onsite, Offer; Ada Lovelace (201, application 301 on Backend) and a
-- duplicate "Ada L." (203, same email, no application); Grace Hopper (202,
-- application 302 on Frontend); assessments backend-take-home and
-- frontend-take-home.

local ADA, GRACE = "ada@example.com", "grace@example.com"
local BACKEND, FRONTEND = "Backend Engineer", "Frontend Engineer"
local CB = "/sandbox/coderbyte/api/v1"
local ATS = "/sandbox/ats"

---------------------------------------------------------------- helpers

-- A fresh world running only `script`, seeded, its catalog reads done.
local function world_with(script, opts)
    opts = opts or {}
    opts.scripts = { "scripts/" .. script }
    local w = world(opts)
    w.seed()
    w.settle()
    return w
end

-- The non-GET requests the automations sent, as { method, path, json }.
local function writes(w)
    local out = {}
    for _, r in ipairs(w.writes()) do
        out[#out + 1] = { method = r.method, path = r.path, json = r.json }
    end
    return out
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

-- Journaled events of a type, oldest first.
local function events_of(w, etype)
    local out = {}
    for _, e in ipairs(w.events()) do
        if e.type == etype then out[#out + 1] = e end
    end
    table.sort(out, function(a, b) return a.delivery_id < b.delivery_id end)
    return out
end

local function only_event(w, etype)
    local list = events_of(w, etype)
    eq(#list, 1, "one " .. etype .. " event")
    return list[1]
end

-- "YYYY-MM-DD HH:MM UTC" of when atsflow received the event (the invite note).
local function when(ev)
    return os.date("!%Y-%m-%d %H:%M", ev.received_at // 1000) .. " UTC"
end

local function runs_by_status(w)
    local out = {}
    for _, r in ipairs(w.runs()) do
        out[#out + 1] = { automation = r.automation, status = r.status }
    end
    table.sort(out, function(a, b) return a.automation < b.automation end)
    return out
end

local function report_note(what, url, extra)
    return ("Coderbyte report for %s: %s"):format(what, url) .. (extra and ("\n" .. extra) or "")
end

---------------------------------------------------------------- 01_invite_on_stage.lua

test("01: Ada reaching Technical Screen on Backend is invited to Backend Take-Home, tagged, noted", function()
    local w = world_with("01_invite_on_stage.lua")
    w.move(ADA, BACKEND, "Technical Screen")
    w.settle()
    local ev = only_event(w, "applicant.moved_to_stage")
    eq(ev.status, "processed")
    eq(writes(w), {
        invite("backend-take-home", ADA, "Ada Lovelace"),
        tag("201", "coderbyte-invited"),
        note("201", "Invited to the Coderbyte assessment Backend Take-Home on " .. when(ev) .. ".", 1, 3),
    })
    -- the invite carries the run's idempotency key
    local sent = w.requests { method = "POST", path = "/invitations$" }
    eq(sent[1].headers["idempotency-key"], "1:1")
    eq(runs_by_status(w), { { automation = "Invite backend screen", status = "succeeded" } })
    local show = w.show(ADA).candidates[1]
    eq(show.tags, { "coderbyte-invited" })
    eq(#show.invitations, 1)
end)

test("01: the duplicated frontend automation invites Grace to Frontend Take-Home", function()
    local w = world_with("01_invite_on_stage.lua")
    w.move(GRACE, FRONTEND, "Technical Screen")
    w.settle()
    local ev = only_event(w, "applicant.moved_to_stage")
    eq(writes(w), {
        invite("frontend-take-home", GRACE, "Grace Hopper"),
        tag("202", "coderbyte-invited"),
        note("202", "Invited to the Coderbyte assessment Frontend Take-Home on " .. when(ev) .. ".", 1, 3),
    })
    eq(runs_by_status(w), { { automation = "Invite frontend screen", status = "succeeded" } })
end)

test("01: another stage of the job invites nobody and calls nothing", function()
    local w = world_with("01_invite_on_stage.lua")
    local before = #w.requests()
    w.move(ADA, BACKEND, "Onsite")
    w.settle()
    eq(#w.requests(), before, "no upstream call")
    eq(writes(w), {})
    local ev = only_event(w, "applicant.moved_to_stage")
    eq(ev.status, "ignored")
    eq(w.runs(), {})
end)

---------------------------------------------------------------- 02_report_on_completion.lua

test("02: a completed Backend Take-Home posts the report link to every candidate with the email", function()
    local w = world_with("02_report_on_completion.lua")
    local done = w.complete(ADA, "Backend Take-Home", { score = 40 })
    w.settle()
    local url = done.payload.report_url
    local text = report_note("assessment Backend Take-Home", url)
    -- nobody was invited by atsflow: the email is looked up, both Adas get it
    eq(writes(w), { note("201", text, 1, 2), note("203", text, 1, 3) })
    eq(#w.requests { method = "GET", path = "^" .. ATS .. "/candidates$" }, 1, "one email search")
    eq(runs_by_status(w), { { automation = "Post backend take-home report", status = "succeeded" } })
end)

test("02: no conditions: it runs for a low score and for cheating alike", function()
    local w = world_with("02_report_on_completion.lua")
    w.complete(GRACE, "Backend Take-Home", { score = 10, cheating = "detected", qualified = false })
    w.settle()
    local ev = only_event(w, "assessment.completed")
    eq(ev.status, "processed")
    local url = json.decode(w.event(ev.id).body).assessment.report_url
    eq(writes(w), { note("202", report_note("assessment Backend Take-Home", url), 1, 2) })
end)

test("02: a completed Frontend Take-Home is ignored and writes nothing", function()
    local w = world_with("02_report_on_completion.lua")
    w.complete(GRACE, "Frontend Take-Home", { score = 95 })
    w.settle()
    eq(writes(w), {})
    eq(only_event(w, "assessment.completed").status, "ignored")
    eq(w.runs(), {})
end)

---------------------------------------------------------------- 03_move_qualified.lua

test("03: qualified without cheating moves Ada's application to Onsite", function()
    local w = world_with("03_move_qualified.lua")
    w.complete(ADA, "Backend Take-Home", { score = 91 })
    w.settle()
    eq(writes(w), { move("301", "1013") })
    eq(w.show(ADA).candidates[1].applications[1].stage, { id = "1013", name = "Onsite" })
    eq(runs_by_status(w), { { automation = "Move qualified backend candidates to Onsite", status = "succeeded" } })
end)

test("03: not qualified does not move", function()
    local w = world_with("03_move_qualified.lua")
    w.complete(ADA, "Backend Take-Home", { score = 50 })
    w.settle()
    eq(writes(w), {})
    local ev = only_event(w, "assessment.completed")
    eq(ev.status, "ignored")
    eq(ev.reason, "conditions not met")
    eq(w.runs(), {})
end)

test("03: qualified but cheating detected does not move", function()
    local w = world_with("03_move_qualified.lua")
    w.complete(ADA, "Backend Take-Home", { score = 95, cheating = "detected" })
    w.settle()
    eq(writes(w), {})
    eq(only_event(w, "assessment.completed").reason, "conditions not met")
end)

test("03: Likely plagiarism is not cheating by default, so it moves", function()
    local w = world_with("03_move_qualified.lua")
    w.complete(ADA, "Backend Take-Home", { score = 95, cheating = "likely" })
    w.settle()
    eq(writes(w), { move("301", "1013") })
end)

---------------------------------------------------------------- 04_assessment_scorecard.lua

test("04: a thumbs up on the backend scorecard posts the link and the recommendation", function()
    local w = world_with("04_assessment_scorecard.lua")
    local sc = w.scorecard(GRACE, { assessment = "Backend Take-Home", event = "thumb_up", reviewer = "hr@example.com" })
    w.settle()
    eq(writes(w), { note("202", report_note("assessment Backend Take-Home", sc.payload.report_url,
        "hr@example.com gave a thumbs up."), 1, 2) })
end)

test("04: a thumbs down posts the link and the thumbs down", function()
    local w = world_with("04_assessment_scorecard.lua")
    local sc = w.scorecard(GRACE, { assessment = "Backend Take-Home", event = "thumb_down", reviewer = "hr@example.com" })
    w.settle()
    eq(writes(w), { note("202", report_note("assessment Backend Take-Home", sc.payload.report_url,
        "hr@example.com gave a thumbs down."), 1, 2) })
end)

test("04: a comment posts the link and the reviewer's comment", function()
    local w = world_with("04_assessment_scorecard.lua")
    local sc = w.scorecard(GRACE, { assessment = "Backend Take-Home", event = "comment_added",
                                    comment = "Clean code, weak tests.", reviewer = "lead@example.com" })
    w.settle()
    eq(writes(w), { note("202", report_note("assessment Backend Take-Home", sc.payload.report_url,
        "lead@example.com commented: Clean code, weak tests."), 1, 2) })
end)

test("04: a scorecard on the Frontend Take-Home writes nothing", function()
    local w = world_with("04_assessment_scorecard.lua")
    w.scorecard(GRACE, { assessment = "Frontend Take-Home", event = "thumb_up" })
    w.settle()
    eq(writes(w), {})
    eq(only_event(w, "assessment.scorecard_updated").status, "ignored")
end)

---------------------------------------------------------------- 05_interview_finished.lua

test("05: a finished interview posts its report link", function()
    local w = world_with("05_interview_finished.lua")
    local iv = w.interview(GRACE, "iv-77")
    w.settle()
    eq(writes(w), { note("202", report_note("interview iv-77", iv.payload.report_url), 1, 2) })
    eq(runs_by_status(w), { { automation = "Post interview reports", status = "succeeded" } })
end)

test("05: every interview: each of two interviews posts its own link", function()
    local w = world_with("05_interview_finished.lua")
    local a = w.interview(GRACE, "iv-1")
    w.settle()
    local b = w.interview(GRACE, "iv-2")
    w.settle()
    eq(writes(w), {
        note("202", report_note("interview iv-1", a.payload.report_url), 1, 2),
        note("202", report_note("interview iv-2", b.payload.report_url), 2, 2),
    })
end)

---------------------------------------------------------------- 06_interview_scorecard.lua

test("06: an interview thumbs down is posted with the recommendation", function()
    local w = world_with("06_interview_scorecard.lua")
    local sc = w.scorecard(GRACE, { interview = "iv-9", event = "thumb_down", reviewer = "hr@example.com" })
    w.settle()
    eq(writes(w), { note("202", report_note("interview iv-9", sc.payload.report_url,
        "hr@example.com gave a thumbs down."), 1, 2) })
end)

test("06: an interview comment is posted with the comment", function()
    local w = world_with("06_interview_scorecard.lua")
    local sc = w.scorecard(GRACE, { interview = "iv-9", event = "comment_added", comment = "Great communicator",
                                    reviewer = "hr@example.com" })
    w.settle()
    eq(writes(w), { note("202", report_note("interview iv-9", sc.payload.report_url,
        "hr@example.com commented: Great communicator"), 1, 2) })
end)

test("06: an interview thumbs up is not posted", function()
    local w = world_with("06_interview_scorecard.lua")
    w.scorecard(GRACE, { interview = "iv-9", event = "thumb_up" })
    w.settle()
    eq(writes(w), {})
    local ev = only_event(w, "interview.scorecard_updated")
    eq(ev.status, "ignored")
    eq(w.runs(), {})
end)

---------------------------------------------------------------- 07_custom_filter.lua

test("07: a frontend score of 80 without cheating moves Grace to Onsite and tags her", function()
    local w = world_with("07_custom_filter.lua")
    w.complete(GRACE, "Frontend Take-Home", { score = 80 })
    w.settle()
    eq(writes(w), { move("302", "1023"), tag("202", "fast-track") })
    eq(runs_by_status(w), { { automation = "Fast-track strong frontend candidates", status = "succeeded" } })
end)

test("07: a frontend score of 79 does nothing, even though it qualifies", function()
    local w = world_with("07_custom_filter.lua")
    w.complete(GRACE, "Frontend Take-Home", { score = 79, qualified = true })
    w.settle()
    eq(writes(w), {})
    local ev = only_event(w, "assessment.completed")
    eq(ev.reason, "conditions not met")
    local d = json.decode(w.event(ev.id).decisions).automations[1]
    eq(d.met, false)
    eq(d.conditions[1].met, false, "scored_well")
    eq(d.conditions[2], { condition = "cheating_not_detected", met = true })
end)

test("07: a score of 95 with cheating detected does nothing", function()
    local w = world_with("07_custom_filter.lua")
    w.complete(GRACE, "Frontend Take-Home", { score = 95, cheating = "detected" })
    w.settle()
    eq(writes(w), {})
    eq(only_event(w, "assessment.completed").reason, "conditions not met")
end)

test("07: the Backend Take-Home is not fast-tracked", function()
    local w = world_with("07_custom_filter.lua")
    w.complete(ADA, "Backend Take-Home", { score = 99 })
    w.settle()
    eq(writes(w), {})
    eq(only_event(w, "assessment.completed").status, "ignored")
end)
