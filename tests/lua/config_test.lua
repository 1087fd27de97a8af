-- The config file (spec config.md): a sandbox with env() and file(),
-- every unknown key rejected with a suggestion, durations and sizes parsed,
-- secrets masked.
local config = require "config"

local BASE = 'ats = { sandbox = {} }\n'

local function parse(text) return config.parse("/etc/atsflow/atsflow.conf.lua", text) end

test("defaults fill what the file leaves out", function()
    local cfg = assert(parse(BASE))
    eq(cfg.listen, "127.0.0.1:8080")
    eq(cfg.scripts, "/etc/atsflow/scripts")
    eq(cfg.database, "/etc/atsflow/var/atsflow.db")
    eq(cfg.limits.max_body, 1048576)
    eq(cfg.limits.dedupe_window, 14 * 86400000)
    eq(cfg.limits.script_memory, 64 * 1048576)
    eq(cfg.coderbyte, { sandbox = true })
end)

test("an unknown top-level key is an error with a suggestion", function()
    local cfg, err = parse(BASE .. 'databse = "x.db"\n')
    eq(cfg, nil)
    ok(err:find("unknown setting 'databse'", 1, true), err)
    ok(err:find("did you mean 'database'", 1, true), err)
end)

test("an unknown key inside a block names the block", function()
    local _, err = parse('ats = { greenhouse = { client_id = "a", client_secret = "b", user_id = "1", webhook_secret = "w", base_ur = "x" } }')
    ok(err:find("unknown key 'base_ur' in ats.greenhouse", 1, true), err)
    ok(err:find("did you mean 'base_url'", 1, true), err)
    local _, err2 = parse(BASE .. 'limits = { max_bdy = "2MB" }')
    ok(err2:find("did you mean 'max_body'", 1, true), err2)
end)

test("an unknown ATS is an error", function()
    local _, err = parse('ats = { greenhose = {} }')
    ok(err:find("unknown ATS 'greenhose'", 1, true), err)
    ok(err:find("did you mean 'greenhouse'", 1, true), err)
end)

test("a missing required ATS key says how to set it", function()
    local _, err = parse('ats = { lever = { api_key = "k", perform_as = "u" } }')
    ok(err:find("ats.lever.signature_token is required", 1, true), err)
end)

test("durations and sizes are parsed, bad ones rejected", function()
    local cfg = assert(parse(BASE .. 'limits = { max_body = "64KB", dedupe_window = "3d", drain_timeout = "500ms" }'))
    eq(cfg.limits.max_body, 65536)
    eq(cfg.limits.dedupe_window, 3 * 86400000)
    eq(cfg.limits.drain_timeout, 500)
    local _, err = parse(BASE .. 'limits = { max_body = "lots" }')
    ok(err:find("limits.max_body", 1, true), err)
    local _, err2 = parse(BASE .. 'limits = { dedupe_window = "2 weeks" }')
    ok(err2:find("not a duration", 1, true), err2)
end)

test("env() reads the environment with a default", function()
    local cfg = assert(parse(BASE .. 'admin_token = env("ATSFLOW_SURELY_UNSET_VAR", "fallback")\nlog_level = env("HOME") and "debug"'))
    eq(cfg.admin_token, "fallback")
    eq(cfg.log_level, "debug")
end)

test("file() reads a secret from a file, trimmed", function()
    local path = os.tmpname()
    local f = io.open(path, "w"); f:write("  s3cr3t-token \n"); f:close()
    local cfg = assert(parse(BASE .. ('admin_token = file(%q)'):format(path)))
    os.remove(path)
    eq(cfg.admin_token, "s3cr3t-token")
end)

test("the config sandbox offers nothing but env() and file()", function()
    local _, err = parse(BASE .. 'x = os.getenv("HOME")')
    ok(err, "os must not be reachable")
    local _, err2 = parse(BASE .. 'io.open("/etc/passwd")')
    ok(err2:find("unknown name 'io'", 1, true), err2)
end)

test("wrong types are errors", function()
    local _, err = parse(BASE .. 'listen = 8080')
    ok(err:find("'listen' must be a string", 1, true), err)
    local _, err2 = parse(BASE .. 'log_format = "xml"')
    ok(err2:find("log_format", 1, true), err2)
end)

test("syntax errors name the file and line", function()
    local _, err = parse(BASE .. '\nlisten = = 1')
    ok(err:find("atsflow.conf.lua", 1, true), err)
end)

test("secrets are collected and masked", function()
    local cfg = assert(parse('admin_token = "adm-token-123"\nats = { greenhouse = { client_id = "cid", client_secret = "gh-secret-value", user_id = "1", webhook_secret = "gh-whsec-value" } }\ncoderbyte = { api_key = "cb-key-value", organization_id = "acme" }'))
    local secrets = config.secrets(cfg)
    local text = config.mask("token adm-token-123 and gh-secret-value, gh-whsec-value, cb-key-value (cid)", secrets)
    eq(text, "token *** and ***, ***, *** (cid)")
end)

test("duplicate_candidates accepts all, first or none only", function()
    ok(parse('ats = { sandbox = { duplicate_candidates = "first" } }'))
    local _, err = parse('ats = { sandbox = { duplicate_candidates = "some" } }')
    ok(err:find("duplicate_candidates", 1, true), err)
end)
