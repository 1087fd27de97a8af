-- Replays every kept fuzz input (tests/fuzz/regressions/<target>/ and the
-- seed corpora tests/fuzz/corpus/<target>/) through the same checks the
-- fuzzers run (targets.lua), for the Lua targets. `make test` runs it from
-- tests/e2e/test_bad_input.py (`atsflow test tests/fuzz/replay_test.lua`);
-- the httpd inputs are replayed there against a real daemon.
local host = require "host"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/fuzz"
local src = assert(host.read_file(here .. "/targets.lua"))
-- loaded as runtime code, as the fuzz harness does (the instruction budget
-- then stops only the scripts the targets load)
local targets = assert(load(src, "@[atsflow]/tests/fuzz/targets.lua", "t"))()

local function inputs(dir)
    local names = host.list_dir(dir) or {}
    local out = {}
    for _, n in ipairs(names) do out[#out + 1] = { name = n, path = dir .. "/" .. n } end
    return out
end

for _, target in ipairs({ "verify", "parse", "config", "dsl", "journal" }) do
    for _, kind in ipairs({ "regressions", "corpus" }) do
        local list = inputs(here .. "/" .. kind .. "/" .. target)
        if #list > 0 then
            test(("%s: %d kept %s inputs"):format(target, #list, kind), function()
                for _, f in ipairs(list) do
                    local data = assert(host.read_file(f.path))
                    local okr, err = pcall(targets[target], data)
                    if not okr then error(f.path .. ": " .. tostring(err), 0) end
                end
            end)
        end
    end
end

test("cleanup", function() targets.cleanup() end)
