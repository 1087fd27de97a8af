-- actions: the built-in actions of the DSL, written on the same primitives
-- scripts use (api.lua), each primitive call a durable step.
local api = require "api"

local M = {}

local RECOMMENDATION = { thumb_up = "a thumbs up", thumb_down = "a thumbs down" }

-- The note text per trigger (spec dsl.md, "Note contents").
function M.report_note(ev)
    local url = api.report_url(ev) or "(no report link)"
    local what = ev.assessment and ("assessment " .. (ev.assessment.name or ev.assessment.id))
        or ("interview " .. tostring(ev.interview and ev.interview.id))
    local lines = { ("Coderbyte report for %s: %s"):format(what, url) }
    local sc = ev.scorecard
    if sc then
        local who = sc.reviewer or "A reviewer"
        if sc.event == "comment_added" then
            lines[#lines + 1] = ("%s commented: %s"):format(who, tostring(sc.comment or ""))
        else
            lines[#lines + 1] = ("%s gave %s."):format(who, RECOMMENDATION[sc.event] or tostring(sc.event))
        end
    end
    if ev.assessment and ev.assessment.report_incomplete then
        lines[#lines + 1] = "(The report was not ready in time; score and qualification are unknown.)"
    end
    return table.concat(lines, "\n")
end

function M.send_assessment_invite(S, ev, opts)
    local inv = api.invite(ev, { assessment = opts.assessment })
    if opts.add_tag then api.add_tag(ev, opts.add_tag) end
    if opts.post_note then
        local name = inv.assessment and inv.assessment.name or opts.assessment
        api.add_note(ev, ("Invited to the Coderbyte assessment %s on %s."):format(
            name, ((ev.received_at or ""):sub(1, 16):gsub("T", " ")) .. " UTC"))
    end
end

function M.post_report_details(S, ev)
    api.add_note(ev, M.report_note(ev))
end

function M.move_to_stage(S, ev, opts)
    api.move_to_stage(ev, opts)
end

return M
