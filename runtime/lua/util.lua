-- util: small helpers shared by the runtime's Lua modules.
local cjson = require "cjson"

local M = {}

-- Levenshtein distance, for "did you mean" suggestions.
local function distance(a, b)
    local prev = {}
    for j = 0, #b do prev[j] = j end
    for i = 1, #a do
        local cur = { [0] = i }
        for j = 1, #b do
            local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
            cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        end
        prev = cur
    end
    return prev[#b]
end

-- The closest of `candidates` to `word`, or nil when nothing is close.
function M.closest(word, candidates)
    local best, bestd
    local lw = word:lower()
    for _, c in ipairs(candidates) do
        local lc = c:lower()
        if #lc >= 4 and (lw:sub(1, #lc) == lc or lc:sub(1, #lw) == lw) then return c end
    end
    for _, c in ipairs(candidates) do
        local d = distance(word:lower(), c:lower())
        if not bestd or d < bestd then best, bestd = c, d end
    end
    if best and bestd <= math.max(2, #word // 3) then return best end
    return nil
end

function M.suggest(word, candidates)
    local c = M.closest(word, candidates)
    return c and (" (did you mean '" .. c .. "'?)") or ""
end

function M.keys(t)
    local out = {}
    for k in pairs(t) do out[#out + 1] = k end
    table.sort(out)
    return out
end

local units_ms = { ms = 1, s = 1000, m = 60000, h = 3600000, d = 86400000 }
function M.duration_ms(s)
    if type(s) == "number" then return s end
    local n, u = tostring(s):match("^(%d+)(%a+)$")
    if not n or not units_ms[u] then return nil end
    return tonumber(n) * units_ms[u]
end

local units_b = { B = 1, KB = 1024, MB = 1048576, GB = 1073741824 }
function M.size_bytes(s)
    if type(s) == "number" then return s end
    local n, u = tostring(s):match("^(%d+)(%a*)$")
    if not n then return nil end
    if u == "" then return tonumber(n) end
    return units_b[u] and tonumber(n) * units_b[u] or nil
end

-- Ids as strings: integral floats lose their ".0"; strings stay as they are.
function M.id(v)
    if v == nil or v == cjson.null then return nil end
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2^63 then
        return string.format("%d", math.tointeger(v))
    end
    return tostring(v)
end

-- string.* directly, not string methods: inside a script's slice those go
-- through the sandbox's priced wrappers (scriptenv.lua)
local sgsub, sformat, sbyte = string.gsub, string.format, string.byte

function M.trim(s)
    return (sgsub(sgsub(tostring(s), "^%s+", ""), "%s+$", ""))
end

local function pct(c) return sformat("%%%02X", sbyte(c)) end
function M.urlencode(s)
    return (sgsub(tostring(s), "[^%w%-%._~]", pct))
end

function M.query(t)
    if not t then return "" end
    local parts = {}
    for _, k in ipairs(M.keys(t)) do
        local v = t[k]
        if v ~= nil then parts[#parts + 1] = M.urlencode(k) .. "=" .. M.urlencode(tostring(v)) end
    end
    return table.concat(parts, "&")
end

function M.deepcopy(v)
    if type(v) ~= "table" then return v end
    local out = {}
    for k, x in pairs(v) do out[k] = M.deepcopy(x) end
    return setmetatable(out, getmetatable(v))
end

-- Deep equality on plain data.
function M.same(a, b)
    if a == b then return true end
    if type(a) ~= "table" or type(b) ~= "table" then return false end
    for k, v in pairs(a) do if not M.same(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
end

-- The date part of the last second formatted: events arrive many a second.
local last_s, last_text
function M.iso8601(ms)
    local s = ms // 1000
    if s ~= last_s then last_s, last_text = s, os.date("!%Y-%m-%dT%H:%M:%S", s) end
    return last_text .. string.format(".%03dZ", ms % 1000)
end

return M
