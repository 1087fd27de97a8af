-- Qualified and no cheating detected: move the candidate to Onsite.
automation {
    name       = "Move qualified backend candidates to Onsite",
    trigger    = assessment_completed { assessment = "Backend Take-Home" },
    conditions = { qualified, cheating_not_detected },
    match      = "all",
    action     = move_to_stage { job = "Backend Engineer", stage = "Onsite" },
}
