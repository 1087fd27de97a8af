---@meta atsflow-config
-- The config file (atsflow.conf.lua, spec config.md): a Lua sandbox with
-- only env() and file(); the settings are plain assignments. Lua Language
-- Server definitions; not loaded at run time.

---An environment variable, or `default` when it is unset or empty.
---@param name string
---@param default? string
---@return string?
function env(name, default) end

---The contents of a file, trimmed (e.g. a secret mounted as a file).
---@param path string
---@return string
function file(path) end

---"address:port" of the webhook listener (default "127.0.0.1:8080").
---@type string
listen = nil

---The journal (SQLite), relative to the config's folder (default "var/atsflow.db").
---@type string
database = nil

---The scripts folder, relative to the config's folder (default "scripts").
---@type string
scripts = nil

---Bearer token for /events and /admin/*.
---@type string
admin_token = nil

---@type "logfmt"|"json"
log_format = nil

---@type "debug"|"info"|"warn"|"error"
log_level = nil

---One block per ATS: greenhouse, lever, ashby, workable, or sandbox = {}.
---@type table<string, table>
ats = nil

---{ api_key, organization_id, base_url?, likely_counts_as_cheating?, report_wait? }
---or { sandbox = true }.
---@type table
coderbyte = nil

---@class atsflow.Limits
---@field max_body? string "1MB"
---@field script_budget? integer 1000000 instructions
---@field script_memory? string "64MB"
---@field action_attempts? integer 10
---@field dedupe_window? string "14d"
---@field concurrency? integer 64 runs in flight
---@field catalog_refresh? string "10m"
---@field drain_timeout? string "10s"
---@field max_connections? integer 1024
---@field retry_base? string "1s"
---@field retry_cap? string "5m"

---@type atsflow.Limits
limits = nil
