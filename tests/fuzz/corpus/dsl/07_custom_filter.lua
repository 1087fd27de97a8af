-- Custom filters are plain Lua functions of the event. Frontend candidates
-- who score at least 80 go straight to Onsite and are tagged.
local MIN_SCORE = 80

local function scored_well(event)
    return (event.assessment.score or 0) >= MIN_SCORE
end

automation {
    name       = "Fast-track strong frontend candidates",
    trigger    = assessment_completed { assessment = "Frontend Take-Home" },
    conditions = { scored_well, cheating_not_detected },
    match      = "all",
    action     = {
        move_to_stage { job = "Frontend Engineer", stage = "Onsite" },
        function(event) ats.add_tag(event, "fast-track") end,
    },
}
