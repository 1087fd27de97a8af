-- Fuzz targets (tests/fuzz/README.md). One function per target takes the raw
-- input bytes and raises only when an invariant is broken (the harness turns
-- that into a crash report). Loaded by tests/fuzz/harness.c as runtime code
-- and by tests/fuzz/replay_test.lua under `atsflow test`, so a kept input
-- replays through exactly the checks that found it.
local host = require "host"
local cjson = require "cjson"
local json = require "cjson.safe"
local crypto = require "crypto"
local util = require "util"
local upstream = require "upstream"
local jwt = require "jwt"
local stdwebhooks = require "stdwebhooks"

local M = {}

-- The adapters and the secrets every target (and the httpd harness's
-- config) uses. Recognisable, so a leak is easy to grep for.
M.SOURCES = { "greenhouse", "lever", "ashby", "workable", "coderbyte", "sandbox" }
M.NOW = 1764324000000 -- 2025-11-28T10:00:00Z, the adapters' clock in these targets
M.CONFIG = {
    greenhouse = { client_id = "fuzz-gh-client", client_secret = "fuzz-gh-client-secret",
                   user_id = "4080", webhook_secret = "fuzz-gh-webhook-secret",
                   base_url = "http://127.0.0.1:9", auth_url = "http://127.0.0.1:9" },
    lever = { api_key = "fuzz-lever-api-key", perform_as = "fuzz-user",
              signature_token = "fuzz-lever-signature-token", base_url = "http://127.0.0.1:9" },
    ashby = { api_key = "fuzz-ashby-api-key", webhook_secret = "fuzz-ashby-webhook-secret",
              base_url = "http://127.0.0.1:9" },
    workable = { subdomain = "acme", token = "fuzz-workable-token", member_id = "fuzz-member",
                 webhook_secret = "fuzz-workable-webhook-secret", base_url = "http://127.0.0.1:9" },
    coderbyte = { api_key = "fuzz-coderbyte-api-key", organization_id = "acme",
                  base_url = "http://127.0.0.1:9", report_wait = "30m" },
    sandbox = { webhook_secret = "whsec_" .. crypto.base64_encode("fuzz-sandbox-webhook-secret!"),
                base_url = "http://127.0.0.1:9" },
}
M.ADMIN_TOKEN = "fuzz-admin-token-0123456789"

local function secrets()
    local out = { M.ADMIN_TOKEN }
    for _, c in pairs(M.CONFIG) do
        for k, v in pairs(c) do
            if k:match("secret") or k:match("key") or k:match("token") then out[#out + 1] = v end
        end
    end
    return out
end
M.SECRETS = secrets()

local function broken(fmt, ...)
    error("FUZZ INVARIANT: " .. string.format(fmt, ...), 0)
end

-- Lua's own messages for type errors and the like: never acceptable from
-- runtime code, whose failures must be deliberate, readable reasons.
local SLOPPY = { "attempt to ", "bad argument", "stack overflow", "table index is",
                 "number has no integer representation", "invalid value (at index",
                 "C stack overflow" }

-- A deliberate failure is raised without a position (error(msg, 0)); the
-- Lua VM puts "chunk:line:" before its own messages, so one that points
-- into runtime code is an accident. (The phrase alone would also match a
-- reason that quotes upstream text, e.g. "unknown operation attempt to…".)
local function sloppy(msg)
    msg = tostring(msg)
    local located = msg:match("^%[atsflow%][^:]*:%d+: ") ~= nil
    for _, s in ipairs(SLOPPY) do
        -- (a C function's "bad argument #n to …" has no position: it must
        -- then begin the message, not sit in quoted text)
        if msg:find(s, 1, true) and (located or (s == "bad argument" and msg:find("^bad argument #"))) then
            return s
        end
    end
    return nil
end

-- ------------------------------------------------------------ input format
-- "<selector>[ <flags>]\n<Header: value lines>\n\n<body>[\n==api==\n<answer>...]"
-- The selector names an adapter; anything else picks one by its bytes, so
-- mutations of the first line still reach every adapter.

local function pick_source(sel)
    for _, s in ipairs(M.SOURCES) do
        if sel == s then return s end
    end
    local sum = 0
    for i = 1, math.min(#sel, 64) do sum = sum + sel:byte(i) end
    return M.SOURCES[sum % #M.SOURCES + 1]
end

function M.split(data)
    local nl = data:find("\n", 1, true)
    local first = nl and data:sub(1, nl - 1) or data
    local rest = nl and data:sub(nl + 1) or ""
    local sel, flags = first:match("^(%S*)%s*(.-)%s*$")
    local headers, pos = {}, 1
    while true do
        local e = rest:find("\n", pos, true)
        if not e then break end
        local line = rest:sub(pos, e - 1)
        pos = e + 1
        if line == "" or line == "\r" then break end
        local k, v = line:match("^([^:]+):[ \t]*(.-)\r?$")
        if k then headers[k:lower()] = v end
    end
    local tail = rest:sub(pos)
    local parts, p = {}, 1
    while true do
        local s, e = tail:find("\n==api==\n", p, true)
        if not s then break end
        parts[#parts + 1] = tail:sub(p, s - 1)
        p = e + 1
    end
    parts[#parts + 1] = tail:sub(p)
    local body = table.remove(parts, 1)
    return { source = pick_source(sel or ""), flags = flags or "", headers = headers,
             body = body, answers = parts }
end

-- ------------------------------------------------------------ adapters

-- A ctx like the engine's, on a fixed clock, whose upstream answers come
-- from the input (each answer in turn, the last one repeated).
function M.ctx(source, answers)
    local mod = require("adapters." .. source)
    local cfg = util.deepcopy(M.CONFIG[source])
    for k, v in pairs(mod.config and mod.config.defaults or {}) do
        if cfg[k] == nil then cfg[k] = v end
    end
    local now, n = M.NOW, 0
    answers = answers or {}
    local calls = { n = 0 }
    local ctx = upstream.ctx(source, mod, cfg, {
        no_bucket = true,
        now = function() return now end,
        sleep = function(ms) now = now + math.max(0, math.tointeger(ms) or 0) end,
        send = function(wire)
            n = n + 1
            calls.n = n
            if n > 64 then return { status = 0, error = "fuzz: too many upstream calls" } end
            local body = answers[math.min(n, #answers)]
            if not body then return { status = 404, headers = {}, body = "" } end
            local status, rest = body:match("^(%d%d%d) (.*)$")
            return { status = tonumber(status) or 200, headers = {}, body = rest or body }
        end,
    })
    return mod, ctx, calls
end

local function hex_hmac(key, msg) return crypto.hex(crypto.hmac_sha256(key, msg)) end

-- Rewrites the request so that it carries a valid signature the way the
-- upstream signs; returns false when the body cannot be signed (Lever signs
-- fields of a JSON object body).
function M.sign(source, req, now_ms)
    local c, h = M.CONFIG[source], req.headers
    if source == "greenhouse" then
        h.signature = "sha256 " .. hex_hmac(c.webhook_secret, req.body)
    elseif source == "ashby" then
        h["ashby-signature"] = "sha256=" .. hex_hmac(c.webhook_secret, req.body)
    elseif source == "workable" then
        h["x-workable-signature"] = hex_hmac(c.webhook_secret, req.body)
    elseif source == "sandbox" then
        local id = h["webhook-id"]
        if type(id) ~= "string" or id == "" then id = "msg_fuzz" end
        h["webhook-id"] = id
        h["webhook-timestamp"] = tostring(now_ms // 1000)
        h["webhook-signature"] = stdwebhooks.sign(c.webhook_secret, id, now_ms // 1000, req.body)
    elseif source == "coderbyte" then
        local claims = { iss = c.organization_id, iat = now_ms // 1000, exp = now_ms // 1000 + 300 }
        local jti = h["x-fuzz-jti"]
        if jti and jti ~= "" then claims.jti = jti end
        h.authorization = "Bearer " .. jwt.sign_hs256(claims, c.api_key)
    elseif source == "lever" then
        local b = json.decode(req.body)
        if type(b) ~= "table" then return false end
        local token = type(b.token) == "string" and b.token or "fuzztoken"
        b.token, b.triggeredAt = token, now_ms
        b.signature = hex_hmac(c.signature_token, token .. string.format("%d", now_ms))
        local ok, text = pcall(cjson.encode, b)
        if not ok then return false end
        req.body = text
    end
    return true
end

-- An independent, strict reading of each scheme: whatever an adapter
-- accepts must pass it too (no bypass).
local function b64url_nopad(s) return (crypto.base64url_encode(s):gsub("=", "")) end

function M.reference_accepts(source, req, now_ms)
    local c, h, body = M.CONFIG[source], req.headers, req.body
    if source == "greenhouse" then
        local hex = (h.signature or ""):match("^%s*sha256%s+(%x+)%s*$")
        return hex ~= nil and hex:lower() == hex_hmac(c.webhook_secret, body)
    elseif source == "ashby" then
        local hex = (h["ashby-signature"] or ""):match("^%s*sha256=(%x+)%s*$")
        return hex ~= nil and hex:lower() == hex_hmac(c.webhook_secret, body)
    elseif source == "workable" then
        local v = (h["x-workable-signature"] or ""):match("^%s*(.-)%s*$")
        return v:lower() == hex_hmac(c.webhook_secret, body)
    elseif source == "sandbox" then
        local id, ts, sigs = h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"]
        if not (id and ts and sigs and ts:match("^%d+$") and #ts <= 15) then return false end
        if math.abs(now_ms // 1000 - tonumber(ts)) > 300 then return false end
        local key = crypto.base64_decode(c.webhook_secret:sub(7))
        local want = crypto.base64_encode(crypto.hmac_sha256(key, id .. "." .. ts .. "." .. body))
        for entry in sigs:gmatch("%S+") do
            if entry == "v1," .. want then return true end
        end
        return false
    elseif source == "coderbyte" then
        local tok = (h.authorization or ""):match("^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
        local h64, p64, s64 = (tok or ""):match("^([^.]+)%.([^.]+)%.([^.]*)$")
        if not h64 then return false end
        local want = b64url_nopad(crypto.hmac_sha256(c.api_key, h64 .. "." .. p64))
        if s64:gsub("=", "") ~= want then return false end
        local hdr = json.decode(crypto.base64url_decode(h64) or "")
        local claims = json.decode(crypto.base64url_decode(p64) or "")
        if type(hdr) ~= "table" or hdr.alg ~= "HS256" or type(claims) ~= "table" then return false end
        if claims.iss ~= c.organization_id then return false end
        local now = now_ms // 1000
        if claims.exp ~= nil and (type(claims.exp) ~= "number" or claims.exp + 60 < now) then return false end
        if claims.nbf ~= nil and (type(claims.nbf) ~= "number" or claims.nbf - 60 > now) then return false end
        return true
    elseif source == "lever" then
        local b = json.decode(body)
        if type(b) ~= "table" or type(b.token) ~= "string" or type(b.signature) ~= "string" then return false end
        local ts = b.triggeredAt
        if math.type(ts) == "float" and ts == math.floor(ts) and ts >= 0 and ts < 2^63 then ts = math.tointeger(ts) end
        if math.type(ts) == "integer" then ts = string.format("%d", ts) end
        if type(ts) ~= "string" or not ts:match("^%d+$") then return false end
        if b.signature:lower() ~= hex_hmac(c.signature_token, b.token .. ts) then return false end
        return math.abs(now_ms - tonumber(ts)) <= 24 * 3600 * 1000
    end
    return false
end

-- What of a secret, the body or a header value `text` gives away, or nil.
-- A secret counts only when the input did not carry it (the fuzzer learns
-- them from comparisons and plants them); a header value only when the
-- text follows it (`again` re-runs with that value reversed: a fixed reason
-- that merely happens to contain the value does not change).
local function leaks(text, req, data, again)
    text = tostring(text)
    for _, s in ipairs(M.SECRETS) do
        if text:find(s, 1, true) and not data:find(s, 1, true) then return "a secret" end
    end
    if #req.body >= 64 and text:find(req.body, 1, true) then return "the body" end
    for k, v in pairs(again and req.headers or {}) do
        if #v >= 16 and v ~= v:reverse() and text:find(v, 1, true) then
            local other = again(k, v:reverse())
            if type(other) == "string" and other:find(v:reverse(), 1, true) then return "header " .. k end
        end
    end
    return nil
end

-- verify: signature / token / JWT checks on arbitrary headers and bodies.
-- Flag "sign": the harness signs the (fuzzed) body first and the delivery
-- must then be accepted.
function M.verify(data)
    local req = M.split(data)
    local r = { method = "POST", path = "/webhooks/" .. req.source, query = {},
                headers = req.headers, body = req.body }
    local mod, ctx = M.ctx(req.source)
    local signed = req.flags:find("sign", 1, true) and M.sign(req.source, r, M.NOW)
    local ok, good, why = pcall(mod.verify, ctx, r)
    if not ok then broken("%s.verify raised: %s", req.source, tostring(good)) end
    if good ~= true and good ~= false then broken("%s.verify returned %s", req.source, tostring(good)) end
    if good then
        if not M.reference_accepts(req.source, r, M.NOW) then
            broken("%s.verify accepted a delivery the reference check rejects", req.source)
        end
        local dok, key = pcall(mod.delivery_id, ctx, r)
        if not dok then broken("%s.delivery_id raised: %s", req.source, tostring(key)) end
        if type(key) ~= "string" or key == "" then
            broken("%s.delivery_id returned %s for a verified delivery", req.source, tostring(key))
        end
    else
        if type(why) ~= "string" or why == "" then
            broken("%s.verify rejected without a reason", req.source)
        end
        local what = leaks(why, r, data, function(k, v)
            local h = util.deepcopy(r.headers)
            h[k] = v
            local _, _, why2 = pcall(mod.verify, ctx, { method = r.method, path = r.path, query = {},
                                                        headers = h, body = r.body })
            return why2
        end)
        if what then broken("%s.verify's reason holds %s: %q", req.source, what, why) end
        if #why > 200 then broken("%s.verify's reason is %d bytes long", req.source, #why) end
        if signed then broken("%s.verify rejected a correctly signed delivery: %s", req.source, why) end
    end
end

-- ------------------------------------------------------------ parse

local MEMBERS = { "candidate", "application", "job", "stage", "previous_stage", "assessment",
                  "interview", "scorecard" }

local function check_event(source, i, ev)
    if type(ev) ~= "table" then broken("%s.parse: event %d is a %s", source, i, type(ev)) end
    if type(ev.type) ~= "string" or ev.type == "" then broken("%s.parse: event %d has no type", source, i) end
    for _, m in ipairs(MEMBERS) do
        local v = ev[m]
        if v ~= nil then
            if type(v) ~= "table" then broken("%s.parse: event %d: %s is a %s", source, i, m, type(v)) end
            if v.id ~= nil and type(v.id) ~= "string" then
                broken("%s.parse: event %d: %s.id is a %s, not a string", source, i, m, type(v.id))
            end
        end
    end
    -- a stage change names the application and the stage it moved to
    -- (spec events.md); a webhook-only adapter must not emit one without
    if ev.type == "applicant.moved_to_stage" and not (ev.application and ev.application.id
        and ev.stage and ev.stage.id) then
        broken("%s.parse: event %d: a stage change without application.id or stage.id", source, i)
    end
    local c = ev.candidate
    if c and c.emails ~= nil then
        if type(c.emails) ~= "table" then broken("%s.parse: event %d: candidate.emails is not a list", source, i) end
        for _, e in pairs(c.emails) do
            if type(e) ~= "string" then broken("%s.parse: event %d: an email is a %s", source, i, type(e)) end
        end
    end
    -- the canonical part must always be journal-encodable; raw is the
    -- upstream's own payload (the engine refuses what it cannot store)
    local copy = {}
    for k, v in pairs(ev) do if k ~= "raw" then copy[k] = v end end
    local ok, err = pcall(cjson.encode, copy)
    if not ok then broken("%s.parse: event %d cannot be encoded: %s", source, i, tostring(err)) end
end

-- parse: payload -> canonical events, with upstream answers (Lever's
-- re-fetch, Coderbyte's report data) taken from the input. Only verified
-- deliveries are parsed, so the request is signed first (what the
-- signature covers is then consistent, e.g. the sandbox's webhook-id).
function M.parse(data)
    local req = M.split(data)
    local r = { method = "POST", path = "/webhooks/" .. req.source, query = {},
                headers = req.headers, body = req.body }
    M.sign(req.source, r, M.NOW)
    local mod, ctx, calls = M.ctx(req.source, req.answers)
    local ok, res = pcall(mod.parse, ctx, r)
    if not ok then
        local msg = type(res) == "table" and res.message or res
        if type(msg) ~= "string" then broken("%s.parse raised a %s", req.source, type(res)) end
        local s = sloppy(msg)
        -- the webhook body is anyone's: it must never trip a Lua error. The
        -- upstream's API answers are trusted more; odd ones may end in one
        -- (the delivery is then failed with that message, and replayable).
        -- (unless the body itself carries the phrase, echoed in a reason)
        if s and calls.n == 0 and not data:find(s, 1, true) then broken("%s.parse failed with a Lua error (%s): %s", req.source, s, msg) end
        if leaks(msg, { body = r.body, headers = {} }, data) then broken("%s.parse's error holds a secret or the body", req.source) end
        return
    end
    if type(res) ~= "table" then broken("%s.parse returned a %s", req.source, type(res)) end
    if res.ping then
        if type(res.reply) ~= "table" or math.type(res.reply.status) ~= "integer" then
            broken("%s.parse: a ping without a reply status", req.source)
        end
        return
    end
    for i, ev in ipairs(res) do check_event(req.source, i, ev) end
    for k in pairs(res) do
        if math.type(k) ~= "integer" then broken("%s.parse: the event list has key %s", req.source, tostring(k)) end
    end
end

-- ------------------------------------------------------------ config

local CONFIG_PATH = "/nonexistent-fuzz/atsflow.conf.lua"

-- config: the loader on arbitrary text. It must answer a config or one
-- clean message, whatever the text does (its file() cannot read anything
-- here: a config may name any path, and /dev/stdin would block).
function M.config(data)
    local config = require "config"
    local open = io.open
    io.open = function() return nil, "no files while fuzzing" end
    local limits = host.state()
    host.limits(limits.mem_used + 64 * 1024 * 1024, 1000000)
    host.slice("config")
    local ok, cfg, err = pcall(config.parse, CONFIG_PATH, data)
    host.limits(limits.mem_cap, limits.budget)
    io.open = open
    if not ok then broken("config.parse raised: %s", tostring(cfg)) end
    if cfg == nil then
        if type(err) ~= "string" or err == "" then broken("config.parse failed without a message") end
        if err:find("[atsflow]", 1, true) and not data:find("[atsflow]", 1, true) then
            broken("config error points into the runtime: %s", err)
        end
        if not err:find("^/nonexistent%-fuzz/atsflow%.conf%.lua") then
            -- every message names the file
            if not (err:find("not enough memory") or err:find("instruction budget")) then
                broken("config error does not name the file: %s", err)
            end
        end
        return
    end
    if type(cfg) ~= "table" then broken("config.parse returned a %s", type(cfg)) end
    for _, k in ipairs({ "listen", "database", "scripts", "log_format", "log_level" }) do
        if type(cfg[k]) ~= "string" then broken("config: %s is a %s", k, type(cfg[k])) end
    end
    if type(cfg.limits) ~= "table" or type(cfg.ats) ~= "table" or next(cfg.ats) == nil then
        broken("config: limits or ats missing")
    end
    for k, v in pairs(cfg.limits) do
        if type(v) ~= "number" then broken("config: limits.%s is a %s", k, type(v)) end
    end
    local sok, list = pcall(config.secrets, cfg)
    if not sok then broken("config.secrets raised: %s", tostring(list)) end
    local mok, masked = pcall(config.mask, "x " .. table.concat(list, " ") .. " y", list)
    if not mok then broken("config.mask raised: %s", tostring(masked)) end
    for _, s in ipairs(list) do
        if #s >= 4 and masked:find(s, 1, true) then broken("config.mask left a secret in place") end
    end
end

-- ------------------------------------------------------------ dsl

local dsl_dir, dsl_n

-- dsl: the script loader on random scripts, under the engine's limits
-- (memory cap, instruction budget). It must never raise; every error must
-- name the script (never a runtime file) and be one line of text.
function M.dsl(data)
    local scriptenv = require "scriptenv"
    if not dsl_dir then
        dsl_dir = os.tmpname()
        os.remove(dsl_dir)
        assert(os.execute("mkdir -p '" .. dsl_dir .. "'"))
        dsl_n = 0
    end
    dsl_n = dsl_n + 1
    local path = dsl_dir .. "/fuzz.lua"
    local f = io.open(path, "wb")
    if not f then -- the scratch folder went away (tmp cleaners): again
        assert(os.execute("mkdir -p '" .. dsl_dir .. "'"))
        f = assert(io.open(path, "wb"))
    end
    f:write(data)
    f:close()
    local limits = host.state()
    host.limits(limits.mem_used + 64 * 1024 * 1024, 1000000)
    local ok, set = pcall(scriptenv.load, dsl_dir, { path })
    host.limits(limits.mem_cap, limits.budget)
    host.slice("")
    if not ok then
        local msg = tostring(set)
        -- running out of the memory cap inside the loader itself is the cap working
        if msg:find("not enough memory", 1, true) then return end
        broken("scriptenv.load raised: %s", msg)
    end
    if type(set) ~= "table" or type(set.errors) ~= "table" or type(set.list) ~= "table" then
        broken("scriptenv.load returned no set")
    end
    for _, e in ipairs(set.errors) do
        if type(e) ~= "string" then broken("a load error is a %s", type(e)) end
        if (e:find("[atsflow]/runtime", 1, true) or e:find("[atsflow]/adapters", 1, true))
            and not data:find("[atsflow]/", 1, true) then
            broken("a load error points into the runtime: %s", e)
        end
    end
    for _, a in ipairs(set.list) do
        if type(a.name) ~= "string" or a.name == "" then broken("an automation without a name") end
    end
end

-- Removes the dsl target's scratch folder (replay_test.lua, at the end).
function M.cleanup()
    if dsl_dir then
        os.execute("rm -rf '" .. dsl_dir .. "'")
        dsl_dir = nil
    end
end

-- ------------------------------------------------------------ journal

local jcount = 0

local function num_close(a, b)
    if a == b then return true end
    if a ~= a and b ~= b then return true end
    local d = math.abs(a - b)
    return d <= 1e-13 * math.max(math.abs(a), math.abs(b))
end

local function same(a, b, depth)
    depth = depth or 0
    if type(a) == "number" and type(b) == "number" then return num_close(a, b) end
    if type(a) ~= type(b) then return false end
    if type(a) ~= "table" then return a == b end
    if depth > 1100 then return true end
    for k, v in pairs(a) do if not same(v, b[k], depth + 1) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
end

-- journal: a delivery's exact bytes and an event's JSON encoding survive
-- the journal unchanged (deliveries byte for byte; events decode to the
-- same value, numbers within the encoder's precision).
function M.journal(data)
    jcount = jcount + 1
    if jcount % 2000 == 1 then
        local okj, err = host.open_journal(":memory:") -- a fresh one now and then: memory stays flat
        if not okj then broken("cannot open a journal: %s", tostring(err)) end
    end
    local key = crypto.hex(crypto.sha256(data))
    local headers = cjson.encode({ ["content-type"] = data:sub(1, 40), ["x-fuzz"] = data:sub(-20) })
    local id = host.journal("delivery_add", "fuzz", key .. ":" .. jcount, M.NOW, headers, data).last_id
    local row = host.journal("delivery_get", id)[1]
    if not row or row.body ~= data then broken("delivery body changed in the journal (%d bytes)", #data) end
    if row.headers ~= headers then broken("delivery headers changed in the journal") end
    local hv = json.decode(row.headers)
    if type(hv) ~= "table" or hv["content-type"] ~= data:sub(1, 40) then broken("headers do not decode back") end

    local ev = json.decode(data)
    if type(ev) ~= "table" then return end
    local ok, text = pcall(cjson.encode, ev)
    if not ok then return end -- not storable: the engine marks such deliveries failed
    local evid = type(ev.id) == "string" and ev.id or ("fuzz:" .. key .. ":" .. jcount)
    local etype = type(ev.type) == "string" and ev.type or "fuzz.event"
    host.journal("event_put", evid .. "#" .. jcount, id, etype, "fuzz", M.NOW, text, "processed", nil, "{}", "fuzz")
    local erow = host.journal("event_get", evid .. "#" .. jcount)[1]
    if not erow or erow.body ~= text then broken("event JSON changed in the journal") end
    local back = json.decode(erow.body)
    if not same(ev, back) then broken("event does not decode to the value that was stored") end
    local again = json.decode(cjson.encode(back))
    if not same(back, again) then broken("a second round trip changes the event") end
end

-- ------------------------------------------------------------ httpd helpers

-- The raw HTTP request the httpd harness sends for a "SIGN source" or
-- "EVENTS" input (the rest of the input is the body).
function M.http_request(data, now_ms)
    local first, body = data:match("^([^\n]*)\n(.*)$")
    if not first then return data end
    local kind, source = first:match("^(%u+)%s*(%S*)")
    local headers = { ["content-type"] = "application/json" }
    local path
    if kind == "SIGN" then
        source = pick_source(source or "")
        local r = { headers = headers, body = body }
        if source == "coderbyte" then headers["x-fuzz-jti"] = crypto.hex(crypto.sha256(body)):sub(1, 12) end
        M.sign(source, r, now_ms)
        headers["x-fuzz-jti"] = nil
        if source == "greenhouse" then headers["greenhouse-event-id"] = crypto.hex(crypto.sha256(r.body)):sub(1, 16) end
        body = r.body
        path = "/webhooks/" .. source
    elseif kind == "EVENTS" then
        headers.authorization = "Bearer " .. M.ADMIN_TOKEN
        path = "/events"
    else
        return data
    end
    local lines = { "POST " .. path .. " HTTP/1.1", "Host: fuzz", "Content-Length: " .. #body }
    for _, k in ipairs(util.keys(headers)) do lines[#lines + 1] = k .. ": " .. headers[k] end
    return table.concat(lines, "\r\n") .. "\r\n\r\n" .. body
end

-- The config file of the httpd harness: every adapter, the admin token,
-- one automation per trigger type.
function M.httpd_config(dir)
    local function block(t)
        local parts = {}
        for _, k in ipairs(util.keys(t)) do parts[#parts + 1] = ("%s = %q"):format(k, t[k]) end
        return "{ " .. table.concat(parts, ", ") .. " }"
    end
    local ats = {}
    for _, s in ipairs({ "greenhouse", "lever", "ashby", "workable", "sandbox" }) do
        ats[#ats + 1] = ("  %s = %s,"):format(s, block(M.CONFIG[s]))
    end
    return table.concat({
        'listen = "127.0.0.1:0"',
        'database = ":memory:"',
        ("scripts = %q"):format(dir .. "/scripts"),
        ("admin_token = %q"):format(M.ADMIN_TOKEN),
        'log_level = "error"',
        "ats = {", table.concat(ats, "\n"), "}",
        "coderbyte = " .. block(M.CONFIG.coderbyte),
        'limits = { max_body = "256KB", drain_timeout = "1s" }',
        "",
    }, "\n")
end

M.HTTPD_SCRIPT = [[
automation {
    name = "fuzz on stage",
    trigger = applicant_moved_to_stage { ats = "greenhouse", job = any_job, stage = "Technical Screen" },
    action = function(event) end,
}
on("assessment.completed", function(event) end)
on("interview.scorecard_updated", function(event) end)
]]

return M
