automation { name = "", trigger = interview_finished { x = 1 }, action = post_report_details {} }
automation { name = "Q", trigger = interview_finished {}, conditions = { qualified }, action = send_assessment_invite { assessment = 1 } }
automation { name = "Q", trigger = applicant_moved_to_stage { job = any_job, stage = 5 }, action = move_to_stage { job = {1, a = 2}, stage = "x" } }
local t = {} t.t = t
automation { name = "R", trigger = applicant_moved_to_stage { job = "J", stage = "S" }, action = move_to_stage { job = t, stage = "x" } }
