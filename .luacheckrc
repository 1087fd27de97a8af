-- luacheck configuration (Debian package lua-check); `make lint` runs it on
-- scripts/, adapters/ and runtime/lua/. The globals each folder's code really
-- has: automation scripts see only the sandbox (runtime/lua/scriptenv.lua)
-- and the DSL (spec dsl.md); tests see the test kit (docs/testing.md). Editor
-- completion and types for the same names: types/ (Lua Language Server).

std = "lua54"
max_line_length = false -- layout is the formatter's business
unused_args = false     -- callbacks keep their documented signatures
exclude_files = { "build/**", ".git/**", "tests/fuzz/corpus/**" } -- fuzz inputs are meant to be broken

-- What a script file's environment offers besides the DSL (scriptenv.lua
-- SAFE_BASE, SAFE_STRING, and the tables it copies).
stds.atsflow_sandbox = {
    read_globals = {
        "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber",
        "tostring", "type", "xpcall", "rawequal", "rawlen", "rawget", "getmetatable",
        "setmetatable", "print", "load", "_VERSION", "_G",
        string = { fields = { "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower",
                              "match", "rep", "reverse", "sub", "upper", "pack", "packsize", "unpack" } },
        table = { fields = { "concat", "insert", "move", "pack", "remove", "sort", "unpack" } },
        math = { fields = { "abs", "acos", "asin", "atan", "ceil", "cos", "deg", "exp", "floor",
                            "fmod", "huge", "log", "max", "maxinteger", "min", "mininteger", "modf",
                            "pi", "rad", "random", "randomseed", "sin", "sqrt", "tan", "tointeger",
                            "type", "ult" } },
        utf8 = { fields = { "char", "charpattern", "codepoint", "codes", "len", "offset" } },
        os = { fields = { "clock", "date", "time" } },
        coroutine = { fields = { "close", "create", "isyieldable", "resume", "running", "status",
                                 "wrap", "yield" } },
    },
}

-- The automation language and its primitives (spec dsl.md).
stds.atsflow_dsl = {
    read_globals = {
        -- declarations
        "automation", "duplicate", "on", "any_job",
        -- triggers
        "applicant_moved_to_stage", "assessment_completed", "assessment_scorecard_updated",
        "interview_finished", "interview_scorecard_updated",
        -- conditions
        "qualified", "not_qualified", "cheating_detected", "cheating_not_detected",
        -- actions
        "send_assessment_invite", "post_report_details", "move_to_stage",
        -- primitives
        ats = { fields = { "move_to_stage", "add_note", "add_tag", "find_candidates", "jobs", "stages" } },
        coderbyte = { fields = { "invite", "report_url" } },
        log = { fields = { "info", "warn", "error" } },
        store = { fields = { "get", "set" } },
        json = { fields = { "encode", "decode", "null" } },
        "now",
    },
}

-- `atsflow test` files: the test kit (runtime/lua/testkit.lua) over _G.
stds.atsflow_testkit = {
    read_globals = {
        "test", "eq", "ok", "raises", "fixture", "world", "adapter", "load_scripts",
        "json", "crypto", "jwt", "stdwebhooks",
    },
}

-- Config files (spec config.md): env() and file(), and the settings.
stds.atsflow_config = {
    read_globals = { "env", "file" },
    globals = { "listen", "database", "scripts", "admin_token", "log_format", "log_level",
                "ats", "coderbyte", "limits" },
}

files["scripts/"] = { std = "atsflow_sandbox+atsflow_dsl" }
files["adapters/"] = { std = "lua54" }
files["runtime/lua/"] = { std = "lua54" }
files["tests/lua/"] = { std = "lua54+atsflow_testkit" }
files["examples/*.conf.lua"] = { std = "atsflow_config" }
files["atsflow.conf.lua"] = { std = "atsflow_config" }
-- Lua Language Server definition files declare the globals above.
-- (only their syntax is checked: they are declarations, never run)
files["types/"] = { std = "lua54", ignore = { "1", "2", "631" } }
