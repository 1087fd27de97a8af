ats = { sandbox = { webhook_secret = env({}) } }
admin_token = file(42)
