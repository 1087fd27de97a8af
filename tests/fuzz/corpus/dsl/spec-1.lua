local screen = automation { name = "Backend screen", trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" }, action = send_assessment_invite { assessment = "Backend Take-Home" } }
duplicate(screen, { name = "Frontend screen", trigger = { job = "Frontend Engineer" } })
