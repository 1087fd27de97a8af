automation {
  name       = "Invite backend screen",          -- required, unique across all files
  trigger    = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
  conditions = { qualified, function(e) return e.assessment.score >= 80 end },  -- optional
  match      = "all",                             -- "any" (default) or "all"
  action     = send_assessment_invite { assessment = "Backend Take-Home", add_tag = "cb-invited", post_note = true },
  enabled    = true,                              -- optional, default true
}
