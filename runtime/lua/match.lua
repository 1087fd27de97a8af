-- match: which automations an event triggers, and why (the decisions are
-- journaled with the event and shown by `atsflow show`).
local host = require "host"

local M = {}

local function same(want, id, name)
    if want == nil then return true end
    want = tostring(want)
    return want == tostring(id) or want == name
end

-- Trigger match: returns true, or false with a reason.
local function trigger_matches(a, ev, S)
    local t = a.trigger
    if t.event ~= ev.type then return false, "other event type" end
    local o = t.opts
    if t.type == "applicant_moved_to_stage" then
        local ats = o.ats or (#S.ats_names == 1 and S.ats_names[1]) or nil
        if ats and ats ~= ev.source then return false, "other ATS" end
        local job, stage = ev.job or {}, ev.stage or {}
        if o.job ~= "any_job" and not same(o.job, job.id, job.name) then return false, "other job" end
        if not same(o.stage, stage.id, stage.name) then return false, "other stage" end
    elseif t.type == "assessment_completed" or t.type == "assessment_scorecard_updated" then
        local as = ev.assessment or {}
        if not same(o.assessment, as.id, as.name) then return false, "other assessment" end
    end
    if o.events then
        local e = ev.scorecard and ev.scorecard.event
        local listed = false
        for _, x in ipairs(o.events) do if x == e then listed = true end end
        if not listed then return false, "scorecard event '" .. tostring(e) .. "' not listed" end
    end
    return true
end

local BUILTIN = {
    qualified = function(ev) return ev.assessment and ev.assessment.qualified == true end,
    not_qualified = function(ev) return ev.assessment and ev.assessment.qualified == false end,
    cheating_detected = function(ev) return ev.assessment and ev.assessment.cheating_detected == true end,
    cheating_not_detected = function(ev) return ev.assessment and ev.assessment.cheating_detected == false end,
}

-- Read-only view of the event for user code (events are immutable).
local function frozen(v, cache)
    if type(v) ~= "table" then return v end
    cache = cache or {}
    if cache[v] then return cache[v] end
    local proxy = setmetatable({}, {
        __index = function(_, k) return frozen(v[k], cache) end,
        __newindex = function() error("events are read-only", 2) end,
        __len = function() return #v end,
        __pairs = function()
            return function(_, k)
                local nk, nv = next(v, k)
                return nk, frozen(nv, cache)
            end, nil, nil
        end,
        __metatable = false,
    })
    cache[v] = proxy
    return proxy
end
M.frozen = frozen

local function describe(c)
    if type(c) == "table" then return c.name end
    local info = debug.getinfo(c, "S")
    return ("function at %s:%d"):format(info.short_src, info.linedefined)
end

-- Evaluates the conditions; returns met, results.
-- view(): the event's read-only view, made on first use (most events meet
-- no condition written as a function).
local function conditions_met(a, ev, view)
    if #a.conditions == 0 then return true, {} end
    local results, any, all = {}, false, true
    for _, c in ipairs(a.conditions) do
        local r = { condition = describe(c) }
        local ok, v
        if type(c) == "table" then
            ok, v = true, BUILTIN[c.name](ev)
            if c.name:find("qualified") and ev.assessment and ev.assessment.report_incomplete then
                r.note = "report incomplete: qualified is unknown"
            end
        else
            host.slice(a.name .. " (" .. a.file .. ":" .. a.line .. ")")
            ok, v = pcall(c, view())
            -- the error's text while the slice still runs (its __tostring
            -- is script code), then back to runtime code, unlimited
            if not ok then v = require("scriptenv").error_text(v) end
            require("scriptenv").end_slice()
        end
        if not ok then
            r.error = tostring(v)
            host.metric("add", "atsflow_script_errors_total", ('automation="%s"'):format(a.name))
            v = false
        end
        r.met = v and true or false
        results[#results + 1] = r
        any = any or r.met
        all = all and r.met
    end
    -- not `(a.match == "all") and all or any`: when all is false that is any
    local met = any
    if a.match == "all" then met = all end
    return met, results
end

-- The automations whose trigger is on event type `etype`, in load order,
-- built once per loaded set: an event is judged against these only (every
-- other trigger answers "other event type", which is not recorded).
local by_type = setmetatable({}, { __mode = "k" })
local function on_type(S, etype)
    local list = S.set.list
    local idx = by_type[list]
    if not idx or idx.n ~= #list then
        idx = { n = #list, lists = {} }
        for _, a in ipairs(list) do
            local e = a.trigger.event
            if e ~= nil then
                idx.lists[e] = idx.lists[e] or {}
                table.insert(idx.lists[e], a)
            end
        end
        by_type[list] = idx
    end
    return idx.lists[etype] or {}
end

-- Whether an enabled automation's trigger matches the event, conditions
-- aside: adapters ask before fetching data for an event (spec semantics.md
-- "Scope": an event no automation refers to causes no upstream call).
function M.refers(S, ev)
    if not S.set then return true end
    for _, a in ipairs(on_type(S, ev.type)) do
        if a.enabled and trigger_matches(a, ev, S) then return true end
    end
    return false
end

function M.decide(S, ev)
    local decisions, matched = { automations = {} }, {}
    local fv
    local function view() fv = fv or frozen(ev); return fv end
    local refer = false
    for _, a in ipairs(on_type(S, ev.type)) do
        local ok, why = trigger_matches(a, ev, S)
        if ok then refer = true end
        if ok and not a.enabled then ok, why = false, "disabled" end
        local d = { automation = a.name, trigger = ok }
        if ok then
            local met, results = conditions_met(a, ev, view)
            d.conditions, d.met = results, met
            if met then matched[#matched + 1] = a end
        else
            d.reason = why
        end
        if ok or why ~= "other event type" then decisions.automations[#decisions.automations + 1] = d end
    end
    if not refer then
        decisions.reason = ("no automation refers to this %s"):format(
            ev.type == "applicant.moved_to_stage" and "job and stage"
            or (ev.assessment and "assessment") or (ev.interview and "interview") or "event type")
    elseif #matched == 0 then
        decisions.reason = "conditions not met"
    end
    return decisions, matched
end

return M
