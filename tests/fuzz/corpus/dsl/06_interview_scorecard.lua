-- Interview scorecards: only thumbs down and comments are posted (a thumbs
-- up shows in the next stage anyway).
automation {
    name    = "Post interview thumbs down and comments",
    trigger = interview_scorecard_updated { events = { "thumb_down", "comment_added" } },
    action  = post_report_details {},
}
