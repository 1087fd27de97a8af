---@meta atsflow-primitives
-- The primitives scripts' conditions and custom actions call (spec dsl.md
-- "Primitives"). Each write is a durable step of the running action: after a
-- crash the action resumes without repeating the steps that succeeded.
-- Primitives that do I/O yield; scripts read as straight-line code.
-- Lua Language Server definitions; not loaded at run time.

---@class atsflow.Candidate
---@field id string
---@field name? string
---@field emails string[]
---@field application_ids string[]

---@class atsflow.CatalogEntry
---@field id string
---@field name string

---@class atsflow.MoveResult
---@field application string
---@field stage string
---@field moved boolean false when the application already was in that stage

---@class atsflow.Invitation
---@field invite_url string
---@field invitation_id? string
---@field assessment atsflow.CatalogEntry

---The ATS the event belongs to.
ats = {}

---Moves the event's application to a stage of a job.
---@param event atsflow.Event
---@param opts { job: atsflow.NameOrId, stage: atsflow.NameOrId }
---@return atsflow.MoveResult
function ats.move_to_stage(event, opts) end

---Adds a note on the event's candidate (every candidate with its email, per the
---ATS's duplicate_candidates policy).
---@param event atsflow.Event
---@param text string
---@return true
function ats.add_note(event, text) end

---Tags the event's candidate (idempotent).
---@param event atsflow.Event
---@param tag string
---@return true
function ats.add_tag(event, tag) end

---Every candidate with this email (duplicates included).
---@param email string
---@return atsflow.Candidate[]
function ats.find_candidates(email) end

---The jobs of the catalog.
---@param ats_name? string which ATS, when more than one is configured
---@return atsflow.CatalogEntry[]
function ats.jobs(ats_name) end

---The stages of a job, in order.
---@param job atsflow.NameOrId
---@param ats_name? string
---@return atsflow.CatalogEntry[]
function ats.stages(job, ats_name) end

coderbyte = {}

---Invites the event's candidate (by email) to an assessment.
---@param event atsflow.Event
---@param opts { assessment: atsflow.NameOrId }
---@return atsflow.Invitation
function coderbyte.invite(event, opts) end

---The report link of the event's assessment or interview.
---@param event atsflow.Event
---@return string?
function coderbyte.report_url(event) end

---Structured log lines tagged with the script, automation, run and event.
log = {}

---@param fmt string string.format pattern
---@param ... any
function log.info(fmt, ...) end

---@param fmt string
---@param ... any
function log.warn(fmt, ...) end

---@param fmt string
---@param ... any
function log.error(fmt, ...) end

---A small durable key-value store, one per script file.
store = {}

---@param key string
---@return any value decoded from JSON, or nil
function store.get(key) end

---@param key string
---@param value any anything JSON can hold
---@return true
function store.set(key, value) end

---The event's processing time in milliseconds since the epoch (the same on
---replay; virtual under `atsflow test`).
---@return integer
function now() end

---lua-cjson.
json = {}

---@param value any
---@return string
function json.encode(value) end

---@param text string
---@return any
function json.decode(text) end

---JSON null.
---@type lightuserdata
json.null = nil
