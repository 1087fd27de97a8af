local a = automation { name = "A", trigger = assessment_completed { assessment = "X" },
  conditions = { qualified, cheating_not_detected, function(e) return e.assessment.score > 80 end }, match = "all",
  action = { post_report_details {}, move_to_stage { job = "J", stage = "S" } } }
duplicate(a, { name = "B", trigger = { assessment = "Y" } })
automation { name = "C", trigger = interview_scorecard_updated { events = { "thumb_up", "comment_added" } },
  action = function(e) ats.add_note(e, "x") end }
on("candidate.hired", function(e) log.info("%s", e.id) end)
