-- adapters.common: helpers the ATS adapters share — webhook signature checks,
-- JSON values (cjson nulls, float ids), event lists, ISO times, durations and
-- rate-limit headers. Pure functions over the host's ctx (adapters/README.md);
-- keeps no state. adapters/sandbox.lua uses it too.
local M = {}

-- A string value or nil (cjson decodes JSON null as a lightuserdata).
function M.str(v)
    if type(v) == "string" then
        return v
    end
    return nil
end

-- A table value or nil.
function M.tab(v)
    if type(v) == "table" then
        return v
    end
    return nil
end

-- An id as a string (ctx.id turns 4012.0 into "4012"), nil for null/absent.
function M.id(ctx, v)
    if type(v) == "number" or type(v) == "string" then
        return ctx.id(v)
    end
    return nil
end

-- The items of a JSON array (or an empty list when it is absent or null).
function M.list(v)
    if type(v) == "table" then
        return v
    end
    return {}
end

-- "First Last", skipping missing parts; nil when both are missing.
function M.full_name(first, last)
    local parts = {}
    for _, p in ipairs { M.str(first) or "", M.str(last) or "" } do
        if p ~= "" then
            parts[#parts + 1] = p
        end
    end
    if #parts == 0 then
        return nil
    end
    return table.concat(parts, " ")
end

-- Appends every string in `values` to `list` once, keeping order.
function M.add_unique(list, values)
    for _, v in ipairs(values) do
        if type(v) == "string" and v ~= "" then
            local seen = false
            for _, have in ipairs(list) do
                if have == v then
                    seen = true
                    break
                end
            end
            if not seen then
                list[#list + 1] = v
            end
        end
    end
    return list
end

-- The `value` of every `{ value = … }` item of an array, e.g. email lists.
function M.values(items)
    local out = {}
    for _, it in ipairs(M.list(items)) do
        if type(it) == "table" then
            M.add_unique(out, { it.value })
        end
    end
    return out
end

function M.copy(t)
    local out = {}
    for k, v in pairs(t or {}) do
        out[k] = v
    end
    return out
end

-- Base URL from config without trailing slashes.
function M.base(url)
    return (url:gsub("/+$", ""))
end

-- A path segment made from an id (ids from scripts are not trusted to be
-- URL-safe).
function M.seg(ctx, id)
    return ctx.urlencode(tostring(id))
end

-- Checks a received hex HMAC-SHA256 over `msg` in constant time.
-- Returns true, or false and a reason that never contains the body.
function M.check_hex(ctx, key, msg, got)
    if type(key) ~= "string" or key == "" then
        return false, "webhook secret is not configured"
    end
    if type(got) ~= "string" or got == "" then
        return false, "missing signature"
    end
    local want = ctx.crypto.hex(ctx.crypto.hmac_sha256(key, msg))
    if not ctx.crypto.equal(want, got:lower()) then
        return false, "signature mismatch"
    end
    return true
end

-- Decodes a verified webhook body; a body that is not a JSON object is
-- "payload not understood" (the host journals the delivery as failed).
function M.decode(ctx, body)
    local t = ctx.json.decode(body or "")
    if type(t) ~= "table" then
        error("payload not understood: body is not a JSON object", 0)
    end
    return t
end

-- Stand-in delivery id for a delivery that carries none: the body's digest
-- is stable across redeliveries of the same bytes.
function M.body_digest(ctx, body)
    return "sha256-" .. ctx.crypto.hex(ctx.crypto.sha256(body or ""))
end

-- Gives each event its canonical id (`<source>:<delivery>:<n>`), source and
-- raw payload, for adapters that want them set before the host's own
-- stamping (which keeps what is already there).
function M.stamp(source, delivery, events, raw)
    for i, ev in ipairs(events) do
        ev.id = source .. ":" .. delivery .. ":" .. (i - 1)
        ev.source = source
        ev.raw = raw
    end
    return events
end

-- The list parse returns: the event (if any) with its raw payload. The
-- host stamps id (`<source>:<delivery_id>:<n>`), source and received_at.
function M.events(ev, raw)
    if not ev then
        return {}
    end
    ev.raw = raw
    return { ev }
end

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
-- days_from_civil), so no local time zone is involved.
local function days_from_civil(y, m, d)
    if m <= 2 then
        y = y - 1
    end
    local era = (y >= 0 and y or y - 399) // 400
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = (153 * mp + 2) // 5 + d - 1
    local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
end

-- Milliseconds since the epoch of an ISO 8601 time ("2026-11-28T10:00:00Z",
-- fractions and +hh:mm offsets allowed, no zone = UTC); nil if malformed.
function M.iso_ms(s)
    if type(s) ~= "string" then
        return nil
    end
    local y, mo, d, h, mi, sec, frac, zone =
        s:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
    if not y then
        return nil
    end
    local offset = 0
    if zone ~= "" and zone ~= "Z" and zone ~= "z" then
        local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
        if not sign then
            return nil
        end
        offset = (tonumber(zh) * 60 + tonumber(zm)) * 60 * (sign == "+" and 1 or -1)
    end
    local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
    local secs = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) - offset
    local ms = 0
    if #frac > 1 then
        ms = math.floor(tonumber("0" .. frac) * 1000 + 0.5)
    end
    return secs * 1000 + ms
end

local UNIT_MS = { ms = 1, s = 1000, m = 60000, h = 3600000, d = 86400000 }

-- A config duration ("500ms", "30s", "15m", "24h", "14d"; a bare number is
-- seconds) in milliseconds; nil if malformed.
function M.duration_ms(v)
    if type(v) == "number" then
        return v * 1000
    end
    if type(v) ~= "string" then
        return nil
    end
    local n, unit = v:match("^%s*(%d+%.?%d*)%s*(%a+)%s*$")
    if not n or not UNIT_MS[unit] then
        return nil
    end
    return math.floor(tonumber(n) * UNIT_MS[unit])
end

-- `{ limit, remaining, reset_ms }` from three rate-limit headers whose reset
-- is in epoch seconds; nil when the response does not carry them.
function M.rate_headers(res, limit_h, remaining_h, reset_h)
    local h = res and res.headers or {}
    local limit, remaining = tonumber(h[limit_h]), tonumber(h[remaining_h])
    if not limit or not remaining then
        return nil
    end
    local reset = tonumber(h[reset_h])
    return {
        limit = limit,
        remaining = remaining,
        reset_ms = reset and math.floor(reset * 1000) or nil,
    }
end

return M
