-- When a candidate reaches Technical Screen on Backend Engineer, invite them
-- to the take-home, tag them and leave a note.
local screen = automation {
    name    = "Invite backend screen",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action  = send_assessment_invite {
        assessment = "Backend Take-Home", add_tag = "coderbyte-invited", post_note = true,
    },
}

-- The same for frontend: copy it and change what differs.
duplicate(screen, {
    name    = "Invite frontend screen",
    trigger = { job = "Frontend Engineer" },
    action  = { assessment = "Frontend Take-Home" },
})
