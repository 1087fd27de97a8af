-- The demo: the built-in simulated ATS and Coderbyte (make run).
listen   = "127.0.0.1:8080"
database = "../var/atsflow.db"
scripts  = "../scripts"
admin_token = env("ATSFLOW_ADMIN_TOKEN", "demo-admin-token")

ats = { sandbox = {} }
coderbyte = { sandbox = true }
