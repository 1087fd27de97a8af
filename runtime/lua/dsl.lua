-- dsl: the automation language of spec dsl.md. Builds the constructors a
-- script file sees, checks every load-time rule, and returns the loaded set:
-- automations, errors ("file:line: message") and warnings.
local util = require "util"

local M = {}

local TRIGGERS = {
    applicant_moved_to_stage = { event = "applicant.moved_to_stage",
        keys = { job = "required", stage = "required", ats = "optional" }, assessment = false },
    assessment_completed = { event = "assessment.completed",
        keys = { assessment = "required" }, assessment = true },
    assessment_scorecard_updated = { event = "assessment.scorecard_updated",
        keys = { assessment = "required", events = "required" }, assessment = true },
    interview_finished = { event = "interview.finished", keys = {}, assessment = false },
    interview_scorecard_updated = { event = "interview.scorecard_updated",
        keys = { events = "required" }, assessment = false },
}

local ACTIONS = {
    send_assessment_invite = { keys = { assessment = "required", add_tag = "optional", post_note = "optional" },
        after = { applicant_moved_to_stage = true } },
    post_report_details = { keys = {},
        after = { assessment_completed = true, assessment_scorecard_updated = true,
                  interview_finished = true, interview_scorecard_updated = true } },
    move_to_stage = { keys = { job = "required", stage = "required" }, after = "all" },
}

local CONDITIONS = { "qualified", "not_qualified", "cheating_detected", "cheating_not_detected" }
local CONTRADICTIONS = { qualified = "not_qualified", cheating_detected = "cheating_not_detected" }
local AUTOMATION_KEYS = { name = true, trigger = true, conditions = true, match = true,
                          action = true, enabled = true }
local SCORECARD_EVENTS = { thumb_up = true, thumb_down = true, comment_added = true }

M.TRIGGERS, M.ACTIONS = TRIGGERS, ACTIONS

-- Where the script called us: "file:line".
local function caller(level)
    local info = debug.getinfo(level + 1, "Sl")
    if not info then return "?", 0 end
    return info.short_src, info.currentline
end

local function is(v, kind) return type(v) == "table" and rawget(v, "_kind") == kind end

-- A load error that stops the current constructor; the loader records it.
local function raise(where, msg) error({ dsl_error = where .. ": " .. msg }, 0) end

local function check_opts(where, what, opts, keys)
    if opts == nil then opts = {} end
    if type(opts) ~= "table" then raise(where, what .. " takes a table of options") end
    for k in pairs(opts) do
        if keys[k] == nil then
            local valid = util.keys(keys)
            raise(where, ("%s: unknown option '%s'%s"):format(what, tostring(k),
                #valid > 0 and util.suggest(tostring(k), valid) or " (it takes no options)"))
        end
    end
    for k, need in pairs(keys) do
        if need == "required" and opts[k] == nil then
            raise(where, ("%s: option '%s' is required"):format(what, k))
        end
    end
    return opts
end

local function check_trigger_opts(where, name, opts)
    if opts.events ~= nil then
        if type(opts.events) ~= "table" or #opts.events == 0 then
            raise(where, name .. ": 'events' must be a non-empty list of \"thumb_up\", \"thumb_down\", \"comment_added\"")
        end
        for _, e in ipairs(opts.events) do
            if not SCORECARD_EVENTS[e] then
                raise(where, ("%s: unknown scorecard event '%s'%s"):format(name, tostring(e),
                    util.suggest(tostring(e), util.keys(SCORECARD_EVENTS))))
            end
        end
    end
    for _, k in ipairs({ "job", "stage", "assessment", "ats" }) do
        local v = opts[k]
        if v ~= nil and type(v) ~= "string" and type(v) ~= "number" then
            raise(where, ("%s: '%s' must be a name or an id"):format(name, k))
        end
    end
end

local function make_trigger(name, opts, file, line)
    local spec = TRIGGERS[name]
    local where = file .. ":" .. line
    opts = check_opts(where, name, opts, spec.keys)
    check_trigger_opts(where, name, opts)
    return { _kind = "trigger", type = name, event = spec.event, opts = opts,
             file = file, line = line }
end

local function make_action(name, opts, file, line)
    local where = file .. ":" .. line
    opts = check_opts(where, name, opts, ACTIONS[name].keys)
    if name == "send_assessment_invite" then
        if opts.add_tag ~= nil and type(opts.add_tag) ~= "string" then
            raise(where, "send_assessment_invite: 'add_tag' must be a tag name")
        end
        if opts.post_note ~= nil and type(opts.post_note) ~= "boolean" then
            raise(where, "send_assessment_invite: 'post_note' must be true or false")
        end
    end
    return { _kind = "action", type = name, opts = opts, file = file, line = line }
end

-- Canonical text of a value, for "identical automations" detection.
-- Script values may hold keys of any type, cycles, deep nesting and
-- metatables: keys are ordered by type then value (raw access only, so no
-- metamethod of the script runs here); a table already written (a cycle,
-- or one shared many times) and deep nesting are written as {...}.
local function key_text(k)
    local t = type(k)
    if t == "string" or t == "number" or t == "boolean" then return t .. ":" .. tostring(k) end
    return t
end

local function canon(v, seen, depth)
    local t = type(v)
    if t == "function" then return "fn:" .. tostring(v) end
    if t ~= "table" then return t .. ":" .. tostring(v) end
    seen, depth = seen or {}, depth or 0
    if seen[v] or depth > 64 then return "{...}" end
    seen[v] = true
    local keys, texts = {}, {}
    for k in next, v do
        if k ~= "file" and k ~= "line" then keys[#keys + 1] = k; texts[k] = key_text(k) end
    end
    table.sort(keys, function(a, b) return texts[a] < texts[b] end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = texts[k] .. "=" .. canon(rawget(v, k), seen, depth + 1) end
    return "{" .. table.concat(parts, ",") .. "}"
end

local function action_list(a)
    if type(a) == "function" or is(a, "action") then return { a } end
    return a
end

local function check_action(where, trig, action)
    if action == nil then raise(where, "automation: 'action' is required") end
    local list = action_list(action)
    if type(list) ~= "table" or #list == 0 then
        raise(where, "automation: 'action' must be an action, a function, or a list of them")
    end
    for _, a in ipairs(list) do
        if type(a) ~= "function" then
            if not is(a, "action") then
                raise(where, "automation: 'action' list holds something that is not an action or a function")
            end
            local after = ACTIONS[a.type].after
            if trig and after ~= "all" and not after[trig.type] then
                raise(where, ("%s is not valid after %s (it works after %s)"):format(a.type, trig.type,
                    table.concat(util.keys(after), ", ")))
            end
        end
    end
end

local function check_conditions(where, trig, conds, match)
    if conds == nil then return {} end
    if type(conds) == "function" or is(conds, "condition") then conds = { conds } end
    if type(conds) ~= "table" then raise(where, "automation: 'conditions' must be a list") end
    local builtins = {}
    for _, c in ipairs(conds) do
        if is(c, "condition") then
            if trig and not TRIGGERS[trig.type].assessment then
                raise(where, ("condition '%s' needs an assessment, but %s events have none"):format(c.name, trig.type))
            end
            builtins[c.name] = true
        elseif type(c) ~= "function" then
            raise(where, "automation: each condition must be a built-in condition or a function(event)")
        end
    end
    if match == "all" then
        for a, b in pairs(CONTRADICTIONS) do
            if builtins[a] and builtins[b] then
                raise(where, ("conditions '%s' and '%s' contradict each other with match = \"all\""):format(a, b))
            end
        end
    end
    return conds
end

-- Validates an automation table; returns the normalized automation.
local function build_automation(t, file, line)
    local where = file .. ":" .. line
    if type(t) ~= "table" then raise(where, "automation takes a table") end
    for k in pairs(t) do
        if not AUTOMATION_KEYS[k] then
            raise(where, ("automation: unknown key '%s'%s"):format(tostring(k),
                util.suggest(tostring(k), util.keys(AUTOMATION_KEYS))))
        end
    end
    if type(t.name) ~= "string" or util.trim(t.name) == "" then
        raise(where, "automation: 'name' is required (a non-empty string)")
    end
    if not is(t.trigger, "trigger") then
        raise(where, "automation: 'trigger' is required and must be a trigger such as applicant_moved_to_stage { … }")
    end
    local match = t.match or "any"
    if match ~= "any" and match ~= "all" then
        raise(where, "automation: 'match' must be \"any\" or \"all\"")
    end
    if t.enabled ~= nil and type(t.enabled) ~= "boolean" then
        raise(where, "automation: 'enabled' must be true or false")
    end
    local conds = check_conditions(where, t.trigger, t.conditions, match)
    check_action(where, t.trigger, t.action)
    return { _kind = "automation", name = util.trim(t.name), trigger = t.trigger,
             conditions = conds, match = match, action = t.action,
             enabled = t.enabled ~= false, file = file, line = line }
end

-- Deep-merges overrides into a copy of base (tables merge, values replace).
local function merge(base, over)
    local out = {}
    for k, v in pairs(base) do out[k] = v end
    for k, v in pairs(over) do
        if type(v) == "table" and type(out[k]) == "table" and not is(v, "condition") then
            out[k] = merge(out[k], v)
        else
            out[k] = v
        end
    end
    return out
end

local function duplicate_of(set, a, over, file, line)
    local where = file .. ":" .. line
    if not is(a, "automation") then raise(where, "duplicate: the first argument must be an automation") end
    if type(over) ~= "table" or type(over.name) ~= "string" then
        raise(where, "duplicate: overrides need a new 'name'")
    end
    local t = { name = over.name, match = a.match, enabled = a.enabled,
                conditions = a.conditions, trigger = a.trigger, action = a.action }
    for k, v in pairs(over) do
        if k == "trigger" and type(v) == "table" and not is(v, "trigger") then
            t.trigger = make_trigger(a.trigger.type, merge(a.trigger.opts, v), file, line)
        elseif k == "action" and type(v) == "table" and is(a.action, "action") and not is(v, "action") then
            t.action = make_action(a.action.type, merge(a.action.opts, v), file, line)
        elseif k ~= "name" then
            t[k] = v
        end
    end
    return build_automation(t, file, line)
end

-- The DSL globals for one file; automations go into `set`.
function M.globals(set)
    local g = {}
    local function guarded(fn)
        return function(...)
            local file, line = caller(2)
            local ok, res = pcall(fn, file, line, ...)
            if ok then return res end
            if type(res) == "table" and res.dsl_error then
                set.errors[#set.errors + 1] = res.dsl_error
                return setmetatable({ _kind = "invalid" }, { __index = function() return nil end })
            end
            error(res, 0)
        end
    end
    for name in pairs(TRIGGERS) do
        g[name] = guarded(function(file, line, opts) return make_trigger(name, opts, file, line) end)
    end
    for name in pairs(ACTIONS) do
        g[name] = guarded(function(file, line, opts) return make_action(name, opts, file, line) end)
    end
    for _, name in ipairs(CONDITIONS) do
        g[name] = setmetatable({ _kind = "condition", name = name }, { __newindex = function()
            error("built-in conditions are read-only", 2) end })
    end
    g.any_job = "any_job"
    g.automation = guarded(function(file, line, t)
        if type(t) == "table" then
            for _, v in pairs(t) do if is(v, "invalid") then return v end end
        end
        local a = build_automation(t, file, line)
        M.add(set, a, file, line)
        return a
    end)
    g.duplicate = guarded(function(file, line, a, over)
        if is(a, "invalid") then return a end
        local d = duplicate_of(set, a, over, file, line)
        M.add(set, d, file, line)
        return d
    end)
    g.on = guarded(function(file, line, etype, fn)
        if type(etype) ~= "string" or type(fn) ~= "function" then
            raise(file .. ":" .. line, "on(type, function(event) … end) needs an event type and a function")
        end
        local a = { _kind = "automation", name = ("on %s (%s:%d)"):format(etype, file, line),
                    trigger = { _kind = "trigger", type = "on", event = etype, opts = {} },
                    conditions = {}, match = "any", action = fn, enabled = true,
                    file = file, line = line, low_level = true }
        M.add(set, a, file, line)
        return a
    end)
    return g
end

function M.add(set, a, file, line)
    local where = file .. ":" .. line
    local prev = set.by_name[a.name]
    if prev then
        set.errors[#set.errors + 1] = ("%s: automation name '%s' is already used at %s:%d"):format(
            where, a.name, prev.file, prev.line)
        return
    end
    set.by_name[a.name] = a
    set.list[#set.list + 1] = a
end

-- Two enabled automations with the same trigger, conditions and action.
function M.check_identical(set)
    local seen = {}
    for _, a in ipairs(set.list) do
        if a.enabled then
            local key = canon({ a.trigger, a.conditions, a.match, a.action })
            local b = seen[key]
            if b then
                set.errors[#set.errors + 1] = ("%s:%d: automations '%s' and '%s' (%s:%d) are identical: they would fire twice — change at least one option"):format(
                    a.file, a.line, a.name, b.name, b.file, b.line)
            else
                seen[key] = a
            end
        end
    end
end

function M.new_set()
    return { list = {}, by_name = {}, errors = {}, warnings = {} }
end

M.action_list = action_list
M.is = is
return M
