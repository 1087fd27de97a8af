-- jwt: verifies and signs HS256 JSON Web Tokens, the Coderbyte webhook auth
-- (spec/coderbyte.md). Relies on the C module "crypto" (l_crypto.c) for
-- HMAC, constant-time compare and base64url, and on a private cjson.safe
-- instance with a depth limit for the untrusted JSON. Failure reasons are
-- short fixed strings: they never echo the token, the key or a claim.

local crypto = require "crypto"

local json = require("cjson.safe").new()
json.decode_max_depth(16)
json.decode_invalid_numbers(false)
json.encode_invalid_numbers(false)

local jwt = {}

local DEFAULT_LEEWAY = 60

-- Decoded JSON text -> Lua table when it holds a JSON object, else nil.
local function decode_object(raw)
    if not raw:match("^%s*{") then
        return nil
    end
    local obj = json.decode(raw)
    if type(obj) ~= "table" then
        return nil
    end
    return obj
end

-- Splits "h.p.s" and decodes the three parts' base64url; nil when malformed.
local function split(token)
    local h64, p64, s64 = token:match("^([^.]*)%.([^.]*)%.([^.]*)$")
    if not h64 or h64 == "" or p64 == "" then
        return nil
    end
    local header = crypto.base64url_decode(h64)
    local payload = crypto.base64url_decode(p64)
    local sig = crypto.base64url_decode(s64)
    if not (header and payload and sig) then
        return nil
    end
    return { h64 = h64, p64 = p64, header = header, payload = payload, sig = sig }
end

local function check_header(header)
    if header.alg ~= "HS256" then
        return nil, "alg must be HS256"
    end
    local typ = header.typ
    if typ ~= nil and (type(typ) ~= "string" or typ:upper() ~= "JWT") then
        return nil, "typ must be JWT"
    end
    if header.crit ~= nil then
        return nil, "unsupported crit header"
    end
    return true
end

local function check_claims(claims, opts)
    if opts.issuer ~= nil and claims.iss ~= opts.issuer then
        return nil, "wrong issuer"
    end
    local now = opts.now or os.time()
    local leeway = opts.leeway or DEFAULT_LEEWAY
    local exp, nbf = claims.exp, claims.nbf
    if exp ~= nil and type(exp) ~= "number" then
        return nil, "exp must be a number"
    end
    if nbf ~= nil and type(nbf) ~= "number" then
        return nil, "nbf must be a number"
    end
    if exp and exp + leeway < now then
        return nil, "token expired"
    end
    if nbf and nbf - leeway > now then
        return nil, "token not yet valid"
    end
    return true
end

-- jwt.verify_hs256(token, key, opts) -> claims | nil, reason
-- opts: issuer (required iss when set), now (seconds, default os.time()),
-- leeway (seconds, default 60) for exp and nbf.
function jwt.verify_hs256(token, key, opts)
    if type(key) ~= "string" then
        error("jwt.verify_hs256: key must be a string", 2)
    end
    opts = opts or {}
    if key == "" then
        return nil, "no key configured"
    end
    if type(token) ~= "string" then
        return nil, "malformed token"
    end
    local parts = split(token)
    local header = parts and decode_object(parts.header)
    if not header then
        return nil, "malformed token"
    end
    local ok, why = check_header(header)
    if not ok then
        return nil, why
    end
    local mac = crypto.hmac_sha256(key, parts.h64 .. "." .. parts.p64)
    if not crypto.equal(parts.sig, mac) then
        return nil, "bad signature"
    end
    -- only now is the payload authentic enough to parse and read
    local claims = decode_object(parts.payload)
    if not claims then
        return nil, "malformed token"
    end
    ok, why = check_claims(claims, opts)
    if not ok then
        return nil, why
    end
    return claims
end

-- jwt.sign_hs256(claims, key, extra_header) -> token
-- extra_header fields are merged over { alg = "HS256", typ = "JWT" }.
function jwt.sign_hs256(claims, key, extra_header)
    if type(claims) ~= "table" or type(key) ~= "string" then
        error("jwt.sign_hs256: expects a claims table and a key string", 2)
    end
    local header = { alg = "HS256", typ = "JWT" }
    for k, v in pairs(extra_header or {}) do
        header[k] = v
    end
    local hjson, herr = json.encode(header)
    local pjson, perr = json.encode(claims)
    if not (hjson and pjson) then
        error("jwt.sign_hs256: " .. tostring(herr or perr), 2)
    end
    local input = crypto.base64url_encode(hjson) .. "." .. crypto.base64url_encode(pjson)
    return input .. "." .. crypto.base64url_encode(crypto.hmac_sha256(key, input))
end

-- jwt.bearer(headers) -> token | nil, reason
-- headers: a table with lower-cased names (reads `authorization`), or the
-- header value itself. Accepts "Bearer <token>", any case, spaces around.
function jwt.bearer(headers)
    local value = headers
    if type(headers) == "table" then
        value = headers.authorization
    end
    if value == nil then
        return nil, "missing authorization header"
    end
    if type(value) ~= "string" then
        return nil, "malformed authorization header"
    end
    local scheme, token = value:match("^%s*(%S+)%s+(%S+)%s*$")
    if not scheme or scheme:lower() ~= "bearer" then
        return nil, "authorization is not a Bearer token"
    end
    return token
end

return jwt
