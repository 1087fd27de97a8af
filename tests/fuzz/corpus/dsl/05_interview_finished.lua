-- Every finished Coderbyte interview: post the report link.
automation {
    name    = "Post interview reports",
    trigger = interview_finished {},
    action  = post_report_details {},
}
