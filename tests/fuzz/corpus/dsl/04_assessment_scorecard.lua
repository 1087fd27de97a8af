-- A reviewer thumbs an assessment scorecard up or down, or comments on it:
-- post the report link with the recommendation or the comment.
automation {
    name    = "Post backend scorecard updates",
    trigger = assessment_scorecard_updated {
        assessment = "Backend Take-Home", events = { "thumb_up", "thumb_down", "comment_added" },
    },
    action  = post_report_details {},
}
