-- When anyone completes the backend take-home, post the report link to the
-- candidate in the ATS (no conditions: it runs for everyone).
automation {
    name    = "Post backend take-home report",
    trigger = assessment_completed { assessment = "Backend Take-Home" },
    action  = post_report_details {},
}
