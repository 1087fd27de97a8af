-- The automation language's load-time rules (spec dsl.md): every error
-- names the file and the line of the offending call.

local INVITE = [[
automation {
    name = "Invite",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = send_assessment_invite { assessment = "Backend Take-Home" },
}
]]

local function only_error(res)
    eq(#res.errors, 1, "exactly one error: " .. json.encode(res.errors))
    return res.errors[1]
end

test("a valid file loads its automations", function()
    local res = load_scripts { INVITE }
    eq(res.errors, {})
    eq(res.names, { "Invite" })
end)

test("an unknown automation key is an error with file, line and a suggestion", function()
    local e = only_error(load_scripts { "\n\nautomation { name = 'x', trigger = interview_finished {}, action = post_report_details {}, condtions = {} }" })
    ok(e:find("^01%.lua:3: "), e)
    ok(e:find("unknown key 'condtions'", 1, true), e)
    ok(e:find("did you mean 'conditions'", 1, true), e)
end)

test("an unknown trigger option is an error naming the option", function()
    local e = only_error(load_scripts { "automation { name = 'x', trigger = applicant_moved_to_stage { job = 'J', stage = 'S', stag = 1 }, action = post_report_details {} }" })
    ok(e:find("unknown option 'stag'", 1, true), e)
end)

test("interview_finished takes no options", function()
    local e = only_error(load_scripts { "automation { name = 'x', trigger = interview_finished { job = 1 }, action = post_report_details {} }" })
    ok(e:find("takes no options", 1, true), e)
end)

test("missing required keys are errors", function()
    local res = load_scripts {
        "automation { trigger = interview_finished {}, action = post_report_details {} }",
        "automation { name = 'n', action = post_report_details {} }",
        "automation { name = 'm', trigger = interview_finished {} }",
        "automation { name = 'k', trigger = assessment_completed {}, action = post_report_details {} }",
    }
    eq(#res.errors, 4, json.encode(res.errors))
    ok(res.errors[1]:find("'name' is required", 1, true))
    ok(res.errors[2]:find("'trigger' is required", 1, true))
    ok(res.errors[3]:find("'action' is required", 1, true))
    ok(res.errors[4]:find("option 'assessment' is required", 1, true))
end)

test("qualified with not_qualified under match = all contradicts", function()
    local e = only_error(load_scripts { [[automation { name = 'x', trigger = assessment_completed { assessment = 'A' },
        conditions = { qualified, not_qualified }, match = "all", action = post_report_details {} }]] })
    ok(e:find("contradict", 1, true), e)
end)

test("the same pair under match = any is allowed", function()
    eq(load_scripts { [[automation { name = 'x', trigger = assessment_completed { assessment = 'A' },
        conditions = { qualified, not_qualified }, action = post_report_details {} }]] }.errors, {})
end)

test("a built-in condition on an event without an assessment is an error", function()
    local e = only_error(load_scripts { "automation { name = 'x', trigger = interview_finished {}, conditions = { qualified }, action = post_report_details {} }" })
    ok(e:find("needs an assessment", 1, true), e)
end)

test("an action not valid after its trigger is an error", function()
    local e = only_error(load_scripts { "automation { name = 'x', trigger = interview_finished {}, action = send_assessment_invite { assessment = 'A' } }" })
    ok(e:find("send_assessment_invite is not valid after interview_finished", 1, true), e)
    local e2 = only_error(load_scripts { "automation { name = 'x', trigger = applicant_moved_to_stage { job = 'J', stage = 'S' }, action = post_report_details {} }" })
    ok(e2:find("post_report_details is not valid after applicant_moved_to_stage", 1, true), e2)
end)

test("duplicate names across files are an error naming both places", function()
    local res = load_scripts { INVITE, (INVITE:gsub("Backend Take%-Home", "Other")) }
    local e = only_error(res)
    ok(e:find("^02%.lua:1: automation name 'Invite' is already used at"), e)
end)

test("identical automations are an error asking to change one option", function()
    local res = load_scripts { INVITE, (INVITE:gsub('"Invite"', '"Invite again"')) }
    local e = only_error(res)
    ok(e:find("change at least one option", 1, true), e)
end)

test("a disabled identical automation is allowed", function()
    local res = load_scripts { INVITE, (INVITE:gsub('"Invite"', '"Invite again"'):gsub("}%s*$", "enabled = false }")) }
    eq(res.errors, {})
end)

test("duplicate() merges trigger and action options", function()
    local res = load_scripts { [[
local a = automation { name = "B", trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = send_assessment_invite { assessment = "Backend Take-Home", add_tag = "t" } }
duplicate(a, { name = "F", trigger = { job = "Frontend Engineer" }, action = { assessment = "Frontend Take-Home" } })
]] }
    eq(res.errors, {})
    local f = res.set.by_name.F
    eq(f.trigger.opts, { job = "Frontend Engineer", stage = "Technical Screen" })
    eq(f.action.opts, { assessment = "Frontend Take-Home", add_tag = "t" })
end)

test("duplicate() without overrides is an identical automation", function()
    local e = only_error(load_scripts { "local a = automation { name = 'A', trigger = interview_finished {}, action = post_report_details {} }\nduplicate(a, { name = 'B' })" })
    ok(e:find("identical", 1, true), e)
end)

test("scorecard events must be listed and known", function()
    local e = only_error(load_scripts { "automation { name = 'x', trigger = interview_scorecard_updated { events = { 'thumbs_up' } }, action = post_report_details {} }" })
    ok(e:find("did you mean 'thumb_up'", 1, true), e)
    local e2 = only_error(load_scripts { "automation { name = 'x', trigger = interview_scorecard_updated { events = {} }, action = post_report_details {} }" })
    ok(e2:find("non-empty list", 1, true), e2)
end)

test("match must be any or all", function()
    local e = only_error(load_scripts { "automation { name = 'x', trigger = interview_finished {}, match = 'most', action = post_report_details {} }" })
    ok(e:find('"any" or "all"', 1, true), e)
end)

test("on(type, fn) declares a low-level automation", function()
    local res = load_scripts { "on('candidate.hired', function(e) end)" }
    eq(res.errors, {})
    ok(res.names[1]:find("on candidate.hired", 1, true))
end)

test("an unknown global is an error with a suggestion", function()
    local e = only_error(load_scripts { "\nautomaton { name = 'x' }" })
    ok(e:find("^01%.lua:2: unknown global 'automaton'"), e)
    ok(e:find("did you mean 'automation'", 1, true), e)
end)

test("a syntax error names file and line", function()
    local e = only_error(load_scripts { "\n\nautomation {" })
    ok(e:find("^01%.lua:%d+:"), e)
end)

test("one bad file does not hide the errors of another", function()
    local res = load_scripts { "error('boom')", "automation { name = 1 }" }
    eq(#res.errors, 2, json.encode(res.errors))
end)

test("files cannot see each other's globals", function()
    local res = load_scripts { "shared_value = 1", "if shared_value then error('leak') end" }
    eq(#res.errors, 1)
    ok(res.errors[1]:find("unknown global 'shared_value'", 1, true), res.errors[1])
end)
