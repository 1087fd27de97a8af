-- stdwebhooks: the Standard Webhooks signature scheme used by the sandbox
-- adapter and in-house ATSs (spec/adapters.md, Sandbox): headers webhook-id,
-- webhook-timestamp, webhook-signature ("v1,<base64>" entries), secrets
-- "whsec_<base64>", HMAC-SHA256 over id.timestamp.body. Relies on the C
-- module "crypto" (l_crypto.c). Reasons never echo the secret or a signature.

local crypto = require "crypto"

local stdwebhooks = {}

local DEFAULT_TOLERANCE = 300
local SECRET_PREFIX = "whsec_"

-- secret_bytes(secret) -> raw key | nil, reason
function stdwebhooks.secret_bytes(secret)
    if type(secret) ~= "string" then
        error("stdwebhooks.secret_bytes: secret must be a string", 2)
    end
    if secret:sub(1, #SECRET_PREFIX) == SECRET_PREFIX then
        secret = secret:sub(#SECRET_PREFIX + 1)
    end
    local key = crypto.base64_decode(secret)
    if not key or key == "" then
        return nil, "invalid webhook secret"
    end
    return key
end

-- Timestamps are signed as decimal seconds: numbers with an integer value are
-- formatted as such, strings are used verbatim.
local function timestamp_text(timestamp)
    if type(timestamp) == "string" then
        return timestamp
    end
    local int = math.tointeger(timestamp)
    if not int then
        error("stdwebhooks: timestamp must be integer seconds", 3)
    end
    return string.format("%d", int)
end

local function signature(key, id, timestamp, body)
    local mac = crypto.hmac_sha256(key, id .. "." .. timestamp .. "." .. body)
    return crypto.base64_encode(mac)
end

-- sign(secret, id, timestamp, body) -> "v1,<base64>"
function stdwebhooks.sign(secret, id, timestamp, body)
    local key, err = stdwebhooks.secret_bytes(secret)
    if not key then
        error("stdwebhooks.sign: " .. err, 2)
    end
    if type(id) ~= "string" or type(body) ~= "string" then
        error("stdwebhooks.sign: id and body must be strings", 2)
    end
    return "v1," .. signature(key, id, timestamp_text(timestamp), body)
end

-- Reads the three headers; returns id, timestamp text, signature list, or
-- nil, reason.
local function read_headers(headers)
    local names = { "webhook-id", "webhook-timestamp", "webhook-signature" }
    local values = {}
    for i, name in ipairs(names) do
        local v = headers[name]
        if type(v) ~= "string" or v == "" then
            return nil, "missing " .. name .. " header"
        end
        values[i] = v
    end
    if not values[2]:match("^%d+$") or #values[2] > 15 then
        return nil, "invalid webhook-timestamp header"
    end
    return values[1], values[2], values[3]
end

-- True when any "v1,<sig>" entry of the space-separated list matches; every
-- entry is compared in constant time, and the loop does not stop early.
local function any_match(list, expected)
    local found = false
    for entry in list:gmatch("%S+") do
        local version, sig = entry:match("^([^,]*),(.*)$")
        if version == "v1" and crypto.equal(sig, expected) then
            found = true
        end
    end
    return found
end

-- verify(secret, headers, body, now_seconds, tolerance_seconds)
--   -> true | false, reason
-- headers: lower-cased names. now defaults to os.time(), tolerance to 300 s,
-- applied both to old and to future timestamps.
function stdwebhooks.verify(secret, headers, body, now, tolerance)
    if type(headers) ~= "table" or type(body) ~= "string" then
        error("stdwebhooks.verify: expects a headers table and a body string", 2)
    end
    local key, kerr = stdwebhooks.secret_bytes(secret)
    if not key then
        return false, kerr
    end
    local id, ts, list = read_headers(headers)
    if not id then
        return false, ts
    end
    now = now or os.time()
    tolerance = tolerance or DEFAULT_TOLERANCE
    if math.abs(now - tonumber(ts)) > tolerance then
        return false, "timestamp outside tolerance"
    end
    if not any_match(list, signature(key, id, ts, body)) then
        return false, "no matching signature"
    end
    return true
end

-- new_secret() -> "whsec_" .. base64 of 24 random bytes
function stdwebhooks.new_secret()
    local bytes = assert(crypto.random(24))
    return SECRET_PREFIX .. crypto.base64_encode(bytes)
end

return stdwebhooks
