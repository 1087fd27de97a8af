-- cli_sandbox: `atsflow sandbox …`, which drives the built-in simulated ATS
-- and Coderbyte of a RUNNING daemon through its /sandbox/ctl/ endpoints
-- (runtime/lua/sim.lua). The simulator lives in the daemon so that its
-- webhooks go through the real intake; this command is only a client.
-- Runs as a task (host.http yields). Returns the exit code: 0 done, 1 the
-- daemon is unreachable or refused, 2 usage error.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"

local USAGE = [[
usage: atsflow sandbox COMMAND
  seed                          load the demo data (replaces all sandbox data)
  move EMAIL JOB STAGE          move the candidate's application on JOB to STAGE
  complete EMAIL ASSESSMENT [--score N] [--cheating not_detected|likely|detected]
                                [--not-ready N]   (N report fetches answer "not ready")
  scorecard EMAIL (--assessment A | --interview I)
            --event thumb_up|thumb_down|comment_added [--comment C] [--reviewer R]
  interview EMAIL [ID]          a finished Coderbyte interview
  show [EMAIL]                  candidates with job, stage, tags, notes, invitations
  requests                      the API requests atsflow made to the simulators
  reset                         remove all sandbox data
Each command except show and requests posts a signed webhook to the running
daemon (`atsflow serve`, or `make run`).
]]

local CHEATING = { not_detected = true, likely = true, detected = true }
local EVENTS = { thumb_up = true, thumb_down = true, comment_added = true }

-- positional names (min..max) and allowed flags per command
local COMMANDS = {
    seed = { args = {}, optional = {} },
    reset = { args = {}, optional = {} },
    move = { args = { "email", "job", "stage" }, optional = {} },
    complete = { args = { "email", "assessment" }, optional = {},
                 flags = { score = true, cheating = true, ["not-ready"] = true } },
    scorecard = { args = { "email" }, optional = {},
                  flags = { assessment = true, interview = true, event = true, comment = true, reviewer = true } },
    interview = { args = { "email" }, optional = { "interview_id" } },
    show = { args = {}, optional = { "email" } },
    requests = { args = {}, optional = {} },
}

local function out(fmt, ...)
    io.stdout:write(fmt:format(...), "\n")
end

local function err(fmt, ...)
    io.stderr:write(fmt:format(...), "\n")
end

local function usage_error(fmt, ...)
    err("atsflow sandbox: " .. fmt, ...)
    io.stderr:write(USAGE)
    return 2
end

---------------------------------------------------------------- arguments

-- args -> command, positional values, flags; or nil, message.
local function parse_args(args)
    local cmd = args[1]
    local spec = COMMANDS[cmd or ""]
    if not spec then
        return nil, cmd and ("unknown command '" .. cmd .. "'") or "missing command"
    end
    local pos, flags, i = {}, {}, 2
    while i <= #args do
        local a = args[i]
        local name, value = a:match("^%-%-([%w-]+)=(.*)$")
        name = name or a:match("^%-%-([%w-]+)$")
        if name then
            if not (spec.flags or {})[name] then
                return nil, ("%s takes no --%s"):format(cmd, name)
            end
            if value == nil then
                i = i + 1
                value = args[i]
                if value == nil then
                    return nil, "--" .. name .. " needs a value"
                end
            end
            flags[name] = value
        else
            pos[#pos + 1] = a
        end
        i = i + 1
    end
    if #pos < #spec.args or #pos > #spec.args + #spec.optional then
        return nil, cmd .. ": wrong number of arguments"
    end
    return cmd, pos, flags
end

local function whole(v)
    local n = tonumber(v)
    return n and math.tointeger(n) and n >= 0 and math.tointeger(n) or nil
end

-- The JSON body for one command, or nil, message (a usage error).
local BODIES = {
    move = function(p)
        return { email = p[1], job = p[2], stage = p[3] }
    end,
    complete = function(p, f)
        local b = { email = p[1], assessment = p[2], cheating = f.cheating }
        if f.score then
            b.score = tonumber(f.score)
            if not b.score then return nil, "--score must be a number" end
        end
        if f.cheating and not CHEATING[f.cheating] then
            return nil, "--cheating must be not_detected, likely or detected"
        end
        if f["not-ready"] then
            b.report_ready_after = whole(f["not-ready"])
            if not b.report_ready_after then return nil, "--not-ready must be a whole number" end
        end
        return b
    end,
    scorecard = function(p, f)
        if (f.assessment == nil) == (f.interview == nil) then
            return nil, "scorecard needs one of --assessment or --interview"
        end
        if not EVENTS[f.event or ""] then
            return nil, "--event must be thumb_up, thumb_down or comment_added"
        end
        return { email = p[1], assessment = f.assessment, interview = f.interview, event = f.event,
                 comment = f.comment, reviewer = f.reviewer }
    end,
    interview = function(p)
        return { email = p[1], interview_id = p[2] }
    end,
}

---------------------------------------------------------------- HTTP

-- The daemon's address from `listen`; a wildcard host is reached on
-- loopback (the sandbox answers only there).
local function base_url(listen)
    local addr, port = tostring(listen or "127.0.0.1:8080"):match("^%[?(.-)%]?:(%d+)$")
    if not port then
        return "http://" .. tostring(listen)
    end
    if addr == "" or addr == "0.0.0.0" or addr == "::" or addr == "*" then
        addr = "127.0.0.1"
    end
    if addr:find(":", 1, true) then
        addr = "[" .. addr .. "]"
    end
    return "http://" .. addr .. ":" .. port
end

local function urlencode(s)
    return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- → status, decoded answer (or raw text); nil when the daemon is unreachable.
local function call(base, method, path, body)
    local res = host.http {
        method = method, url = base .. "/sandbox/ctl/" .. path, timeout_ms = 30000,
        headers = { ["content-type"] = "application/json" },
        body = body and cjson.encode(body) or nil,
    }
    if not res or (res.status or 0) == 0 then
        return nil
    end
    return res.status, json.decode(res.body or "") or (res.body or "")
end

---------------------------------------------------------------- output

local function named(x)
    if type(x) ~= "table" then
        return "?"
    end
    return tostring(x.name or x.id)
end

-- JSON numbers decode as floats: 91.0 prints as 91.
local function num(v)
    if type(v) ~= "number" then
        return tostring(v)
    end
    return tostring(math.tointeger(v) or v)
end

local function list_text(t, sep)
    local parts = {}
    for _, v in ipairs(type(t) == "table" and t or {}) do
        parts[#parts + 1] = tostring(v)
    end
    return #parts > 0 and table.concat(parts, sep or ", ") or "none"
end

-- The webhook line shared by every command that sends one; 0 when the
-- daemon accepted it.
local function webhook_result(what, wh)
    if type(wh) ~= "table" then
        return 1
    end
    local id = wh.id and (" " .. wh.id) or ""
    if wh.status >= 200 and wh.status < 300 then
        out("Sent %s%s to the daemon: HTTP %d.", what, id, wh.status)
        return 0
    end
    err("atsflow sandbox: the daemon refused the %s webhook%s: HTTP %d: %s", what, id, wh.status,
        (tostring(wh.body or ""):gsub("%s+$", "")))
    return 1
end

-- Seeding still worked when the refresh did not: say so, exit 0.
local function catalog_result(wh)
    if type(wh) ~= "table" then
        return
    end
    if wh.status >= 200 and wh.status < 300 then
        out("Asked the daemon to refresh its catalog (catalog.changed, HTTP %d).", wh.status)
    else
        err("atsflow sandbox: the daemon did not take catalog.changed (HTTP %d: %s); "
            .. "run `atsflow catalog refresh`", wh.status, (tostring(wh.body or ""):gsub("%s+$", "")))
    end
end

local SHOW = {}

function SHOW.seed(b)
    out("Seeded the sandbox (all earlier sandbox data removed).")
    out("Jobs:")
    for _, j in ipairs(b.jobs or {}) do
        local stages = {}
        for _, s in ipairs(j.stages or {}) do stages[#stages + 1] = named(s) end
        out("  %s (%s): %s", named(j), j.id, list_text(stages, " -> "))
    end
    out("Candidates:")
    for _, c in ipairs(b.candidates or {}) do
        out("  %s <%s> (%s)", named(c), list_text(c.emails), c.id)
    end
    out("Assessments:")
    for _, a in ipairs(b.assessments or {}) do
        out("  %s (%s)", named(a), a.id)
    end
    catalog_result(b.catalog)
    out('Next: atsflow sandbox move ada@example.com "Backend Engineer" "Technical Screen"')
    return 0
end

function SHOW.reset(b)
    out("Removed all sandbox data (atsflow sandbox seed loads the demo data again).")
    catalog_result(b.catalog)
    return 0
end

function SHOW.move(b)
    local ev = b.event or {}
    out("Moved %s (application %s) on %s: %s -> %s.", named(ev.candidate), named(ev.application),
        named(ev.job), named(ev.previous_stage), named(ev.stage))
    return webhook_result("applicant.moved_to_stage", b.webhook)
end

function SHOW.complete(b)
    local r, p = b.report or {}, b.payload or {}
    local ready = p.report_ready and "ready now" or "not ready yet (held until it is)"
    out("Completed %s for %s: score %s, %s, plagiarism %s; report %s.", named(b.assessment),
        tostring(p.email), num(r.final_score), r.qualified and "qualified" or "not qualified",
        tostring(r.plagiarism), ready)
    return webhook_result("assessment_completed", b.webhook)
end

function SHOW.scorecard(b)
    local p = b.payload or {}
    local on = p.assessment_id and ("assessment " .. p.assessment_id) or ("interview " .. tostring(p.interview_id))
    local what = p.trigger == "comment" and ("comment \"" .. tostring(p.comment) .. "\"") or tostring(p.recommendation)
    out("Scorecard %s on %s for %s by %s.", what, on, tostring(p.email), tostring(p.email_admin))
    return webhook_result("scorecard_updated", b.webhook)
end

function SHOW.interview(b)
    local p = b.payload or {}
    out("Interview %s finished for %s; report %s.", tostring(p.interview_id), tostring(p.email),
        tostring(p.report_url))
    return webhook_result("interview_completed", b.webhook)
end

local function show_notes(notes)
    if #notes == 0 then
        return out("  notes: none")
    end
    out("  notes:")
    for _, n in ipairs(notes) do
        local text = tostring(n.body):gsub("\n", "\n        ")
        out("    - %s", text)
    end
end

local function show_coderbyte(c)
    for _, inv in ipairs(c.invitations or {}) do
        out("  invited: %s (%s) %s", named({ name = inv.assessment, id = inv.assessment_id }),
            tostring(inv.invitation_id), tostring(inv.invite_url))
    end
    for _, r in ipairs(c.reports or {}) do
        out("  report: %s score %s, %s, plagiarism %s, %s (%d fetches)", tostring(r.assessment),
            num(r.final_score), r.qualified and "qualified" or "not qualified", tostring(r.plagiarism),
            r.report_ready and "ready" or "not ready", math.tointeger(r.fetches or 0) or 0)
    end
    for _, iv in ipairs(c.interviews or {}) do
        out("  interview: %s %s", tostring(iv.id), tostring(iv.report_url))
    end
end

function SHOW.show(b)
    local cands = b.candidates or {}
    if #cands == 0 then
        out("No candidates (atsflow sandbox seed loads the demo data).")
        return 0
    end
    for i, c in ipairs(cands) do
        if i > 1 then out("") end
        out("%s <%s> (candidate %s)", named(c), list_text(c.emails), tostring(c.id))
        for _, a in ipairs(c.applications or {}) do
            out("  %s: %s (application %s, %s)", named(a.job), named(a.stage), tostring(a.id), tostring(a.status))
        end
        if #(c.applications or {}) == 0 then out("  no applications") end
        out("  tags: %s", list_text(c.tags))
        show_notes(c.notes or {})
        if #(c.invitations or {}) == 0 then out("  invitations: none") end
        show_coderbyte(c)
    end
    return 0
end

local function query_text(q)
    local parts = {}
    for k, v in pairs(type(q) == "table" and q or {}) do
        parts[#parts + 1] = k .. "=" .. tostring(v)
    end
    table.sort(parts)
    return #parts > 0 and ("?" .. table.concat(parts, "&")) or ""
end

function SHOW.requests(list)
    if #list == 0 then
        out("No API requests recorded since the last seed.")
        return 0
    end
    for _, r in ipairs(list) do
        local key = type(r.headers) == "table" and r.headers["idempotency-key"]
        out("#%d %s %s%s%s%s", math.tointeger(r.seq) or 0, tostring(r.method), tostring(r.path),
            query_text(r.query), r.json ~= nil and ("  " .. (json.encode(r.json) or "")) or "",
            key and ("  (Idempotency-Key " .. key .. ")") or "")
    end
    return 0
end

---------------------------------------------------------------- main

local GET = { show = true, requests = true }

local function path_of(cmd, pos)
    if cmd == "show" and pos[1] then
        return "show?email=" .. urlencode(pos[1])
    end
    return cmd
end

return function(cfg, args)
    args = args or {}
    if args[1] == "sandbox" then
        args = table.move(args, 2, #args, 1, {})
    end
    for _, a in ipairs(args) do
        if a == "--help" or a == "-h" then
            io.stdout:write(USAGE)
            return 0
        end
    end
    local cmd, pos, flags = parse_args(args)
    if not cmd then
        return usage_error("%s", pos)
    end
    local body, why
    if BODIES[cmd] then
        body, why = BODIES[cmd](pos, flags)
        if not body then
            return usage_error("%s", why)
        end
    end
    local base = base_url((cfg or {}).listen)
    local status, answer = call(base, GET[cmd] and "GET" or "POST", path_of(cmd, pos), body or (not GET[cmd] and {} or nil))
    if not status then
        err("cannot reach the daemon at %s: is `atsflow serve` (make run) running?", base)
        return 1
    end
    if type(answer) ~= "table" then
        err("atsflow sandbox %s: HTTP %d: %s", cmd, status, (tostring(answer):gsub("%s+$", "")))
        return 1
    end
    if answer.error and not answer.webhook then
        err("atsflow sandbox %s: %s", cmd, tostring(answer.error))
        return 1
    end
    return SHOW[cmd](answer)
end
