---@meta atsflow-testkit
-- The globals of `atsflow test` files (docs/testing.md,
-- docs/testkit-adapters.md, runtime/lua/testkit.lua), on top of the standard
-- library. Lua Language Server definitions; not loaded at run time.

---Declares a test; it fails when fn raises. Each test gets fresh state.
---@param name string
---@param fn fun()
function test(name, fn) end

---Deep equality; a failure prints both values as JSON.
---@param actual any
---@param expected any
---@param msg? string
function eq(actual, expected, msg) end

---Fails unless v is truthy; returns v.
---@generic T
---@param v T
---@param msg? string
---@return T
function ok(v, msg) end

---Fails unless fn raises (an error containing `text`, when given); returns the
---error's text.
---@param fn fun()
---@param text? string
---@return string
function raises(fn, text) end

---Reads tests/fixtures/<path>.
---@param path string
---@return string
function fixture(path) end

---@class atsflow.WorldOptions
---@field scripts? string[] script files to load (relative to the project root)
---@field sources? string[] inline scripts
---@field likely_counts_as_cheating? boolean
---@field report_wait? string e.g. "30m"
---@field action_attempts? integer

---@class atsflow.RecordedRequest
---@field method string
---@field path string
---@field query table<string, string>
---@field headers table<string, string>
---@field json? any
---@field seq integer
---@field at integer when it arrived, virtual ms since the epoch
---@field timed_out? true a `timeout = true` fault held it unanswered

---A scripted upstream answer (w.faults): either `status` or `timeout = true`.
---@class atsflow.FaultRule
---@field path string Lua pattern over the request path, e.g. "/invitations$"
---@field method? string only requests with this method
---@field status? integer answer this status instead of the simulator
---@field timeout? boolean never answer: the client times out after its request time-out (30 s) on the virtual clock
---@field times? integer how many matching requests (default 1; -1: every one)
---@field retry_after? integer seconds, sent as Retry-After
---@field json? any the body instead of { error = "scripted fault N" }

---@class atsflow.HttpResponse
---@field status integer
---@field body string
---@field headers table<string, string>

---@class atsflow.CompleteOptions
---@field score? number
---@field cheating? atsflow.Cheating
---@field qualified? boolean
---@field report_ready_after? integer the report is "not ready" that many times first
---@field time_expired? boolean

---@class atsflow.ScorecardOptions
---@field assessment? string
---@field interview? string
---@field event atsflow.ScorecardEvent
---@field comment? string
---@field reviewer? string

---The real engine, in-process, with the sandbox ATS and Coderbyte, on a virtual clock.
---@class atsflow.World
---@field url string the world's listener
---@field dir string its private folder
local World = {}

---Loads the sandbox's default data set (or `data`'s jobs, candidates, assessments).
---@param data? table
---@return table
function World.seed(data) end

---Moves the candidate; the simulated ATS posts its signed webhook.
---@param email string
---@param job string
---@param stage string
---@return table
function World.move(email, job, stage) end

---Coderbyte posts assessment_completed.
---@param email string
---@param assessment string
---@param opts? atsflow.CompleteOptions
---@return table
function World.complete(email, assessment, opts) end

---Coderbyte posts scorecard_updated.
---@param email string
---@param opts atsflow.ScorecardOptions
---@return table
function World.scorecard(email, opts) end

---Coderbyte posts interview_completed.
---@param email string
---@param id? string
---@return table
function World.interview(email, id) end

---Posts a canonical event (or a list) to POST /events.
---@param event atsflow.Event|atsflow.Event[]|table
---@return atsflow.HttpResponse
function World.emit(event) end

---Posts raw bytes to /webhooks/{source}.
---@param source string
---@param body string
---@param headers? table<string, string>
---@return atsflow.HttpResponse
function World.webhook(source, body, headers) end

---Scripted upstream answers for the simulated ATS and Coderbyte (replacing
---the rules set before); matching requests are still recorded.
---@param rules atsflow.FaultRule[]
---@return { rules: integer }
function World.faults(rules) end

---Waits until nothing is runnable and nothing is in flight (a request to a
---stalled upstream waits for the clock and does not count).
function World.settle() end

---Moves the virtual clock, firing due timers in order (retries, backoff,
---report waits, request time-outs) and settling after each.
---@param duration string|integer "10m", "30s", or milliseconds
function World.advance(duration) end

---The virtual clock.
---@return integer ms since the epoch
function World.now() end

---What was sent to the simulated upstreams, in order.
---@param filter? { method?: string, path?: string } path is a Lua pattern
---@return atsflow.RecordedRequest[]
function World.requests(filter) end

---Every non-GET request the automations made.
---@return atsflow.RecordedRequest[]
function World.writes() end

---The journal's runs (newest first).
---@param status? "pending"|"running"|"retrying"|"succeeded"|"dead"
---@return table[]
function World.runs(status) end

---The journal's events (newest first).
---@param status? string
---@return table[]
function World.events(status) end

---One journaled event row.
---@param id string
---@return table
function World.event(id) end

---The steps of a run.
---@param run_id integer
---@return table[]
function World.steps(run_id) end

---The simulated ATS's view: stage, notes, tags, invitations.
---@param email? string
---@return table
function World.show(email) end

---Starts a world.
---@param opts? atsflow.WorldOptions
---@return atsflow.World
function world(opts) end

---@class atsflow.AdapterUnderTest
---@field requests { method: string, url: string, headers: table<string, string>, body?: string, json?: any }[]
---@field sleeps integer[]
---@field ctx table the adapter's ctx
---@field advance fun(ms: integer)

---An adapter bound to a scripted upstream, recording the requests it makes;
---every adapter function is available without its ctx argument.
---@param name string adapter module name, e.g. "greenhouse"
---@param cfg? table its config block
---@param opts? { responder?: fun(req: table): { status?: integer, headers?: table, body?: string, json?: any }?, now?: integer }
---@return atsflow.AdapterUnderTest|table
function adapter(name, cfg, opts) end

---Loads script sources as `atsflow check` would, without a catalog.
---@param sources string[]
---@return { errors: string[], warnings: string[], names: string[], set: table }
function load_scripts(sources) end

---lua-cjson.
json = {}
---@param value any
---@return string
function json.encode(value) end
---@param text string
---@return any
function json.decode(text) end

---The runtime's crypto module (runtime/l_crypto.c). Raw bytes are strings.
crypto = {}

---@param key string
---@param msg string
---@return string mac 32 raw bytes
function crypto.hmac_sha256(key, msg) end

---@param msg string
---@return string digest 32 raw bytes
function crypto.sha256(msg) end

---@param raw string
---@return string hex lower-case
function crypto.hex(raw) end

---@param hex string
---@return string? raw
---@return string? err "odd-length hex" or "invalid hex"
function crypto.unhex(hex) end

---Constant time in the content.
---@param a string
---@param b string
---@return boolean
function crypto.equal(a, b) end

---@param n integer 1 to 4096
---@return string? bytes from the CSPRNG
---@return string? err
function crypto.random(n) end

---@param s string
---@return string padded standard base64
function crypto.base64_encode(s) end

---Strict: padding required.
---@param s string
---@return string? raw
---@return string? err
function crypto.base64_decode(s) end

---@param s string
---@return string URL-safe base64 without padding
function crypto.base64url_encode(s) end

---Padding optional.
---@param s string
---@return string? raw
---@return string? err
function crypto.base64url_decode(s) end

---HS256 JSON Web Tokens (Coderbyte's webhook auth).
jwt = {}

---@param token string
---@param key string
---@param opts? { issuer?: string, now?: integer, leeway?: integer } seconds
---@return table? claims
---@return string? reason
function jwt.verify_hs256(token, key, opts) end

---@param claims table
---@param key string
---@param extra_header? table merged over { alg = "HS256", typ = "JWT" }
---@return string token
function jwt.sign_hs256(claims, key, extra_header) end

---The token of "Bearer <token>".
---@param headers table<string, string>|string lower-cased headers, or the header value
---@return string? token
---@return string? reason
function jwt.bearer(headers) end

---Standard Webhooks signing and verification.
stdwebhooks = {}

---@param secret string "whsec_<base64>"
---@return string? key raw bytes
---@return string? reason
function stdwebhooks.secret_bytes(secret) end

---@param secret string
---@param id string webhook-id
---@param timestamp integer|string webhook-timestamp, seconds
---@param body string
---@return string signature "v1,<base64>"
function stdwebhooks.sign(secret, id, timestamp, body) end

---@param secret string
---@param headers table<string, string> lower-cased names
---@param body string
---@param now? integer seconds (default os.time())
---@param tolerance? integer seconds (default 300), both ways
---@return boolean ok
---@return string? reason
function stdwebhooks.verify(secret, headers, body, now, tolerance) end

---@return string secret "whsec_" .. base64 of 24 random bytes
function stdwebhooks.new_secret() end
