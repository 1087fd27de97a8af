---@meta atsflow-event
-- The canonical event (spec events.md): what conditions, custom actions,
-- on() handlers, the journal, `atsflow test` and POST /events all speak.
-- Lua Language Server definitions; not loaded at run time.

---@alias atsflow.EventType
---| "applicant.moved_to_stage"     # ATS stage-change webhook
---| "assessment.started"           # Coderbyte candidate_joined
---| "assessment.completed"         # Coderbyte assessment_completed (+ report data)
---| "assessment.scorecard_updated" # Coderbyte scorecard_updated with an assessment
---| "interview.finished"           # Coderbyte interview_completed
---| "interview.scorecard_updated"  # Coderbyte scorecard_updated with an interview
---| string                         # adapters may emit more (application.created, candidate.hired, ...)

---@alias atsflow.Cheating "not_detected"|"likely"|"detected"

---@alias atsflow.ScorecardEvent "thumb_up"|"thumb_down"|"comment_added"

---@class atsflow.EventCandidate
---@field id? string ATS candidate id (absent on Coderbyte events until linked)
---@field name? string
---@field emails? string[]

---@class atsflow.EventRef
---@field id string
---@field name? string

---@class atsflow.EventAssessment
---@field id string Coderbyte assessment id
---@field name? string
---@field score? number
---@field qualified? boolean from Coderbyte's report data; never guessed
---@field cheating_detected? boolean true for "detected", and for "likely" when likely_counts_as_cheating
---@field cheating? atsflow.Cheating
---@field time_expired? boolean
---@field report_url? string

---@class atsflow.EventInterview
---@field id string
---@field report_url? string

---@class atsflow.EventScorecard
---@field event atsflow.ScorecardEvent
---@field comment? string
---@field reviewer? string

---@class atsflow.Event
---@field id string `<source>:<upstream delivery or event id>:<n>`, stable across redeliveries
---@field type atsflow.EventType
---@field source string adapter name: greenhouse, lever, ashby, workable, coderbyte, sandbox, events
---@field received_at string ISO-8601 UTC, e.g. 2026-11-28T10:00:00.123Z
---@field candidate? atsflow.EventCandidate
---@field application? atsflow.EventRef
---@field job? atsflow.EventRef
---@field stage? atsflow.EventRef the new stage
---@field previous_stage? atsflow.EventRef present when known
---@field assessment? atsflow.EventAssessment
---@field interview? atsflow.EventInterview
---@field scorecard? atsflow.EventScorecard
---@field ats? string the ATS an event belongs to, when it is not its source
---@field raw? table the adapter's parsed upstream payload (read-only)
