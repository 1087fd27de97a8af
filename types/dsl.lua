---@meta atsflow-dsl
-- The automation language (spec dsl.md, docs/reference.md): the globals a
-- script file in the scripts folder sees. Lua Language Server definitions;
-- not loaded at run time. Point the server at this folder, e.g. in
-- .luarc.json: { "workspace.library": ["types"] }.

---@alias atsflow.NameOrId string|integer A name (exact, case-sensitive) or an id

-- ---------------------------------------------------------------- values

---@class atsflow.Trigger
---@field type string the constructor's name
---@field event atsflow.EventType the canonical event type it fires on
---@field opts table

---@class atsflow.Condition
---@field name "qualified"|"not_qualified"|"cheating_detected"|"cheating_not_detected"

---A condition: a built-in one, or a function of the event (truthy: met).
---@alias atsflow.ConditionLike atsflow.Condition|fun(event: atsflow.Event): any

---@class atsflow.Action
---@field type "send_assessment_invite"|"post_report_details"|"move_to_stage"
---@field opts table

---A custom action: straight-line code using the primitives (ats.*, coderbyte.*, ...).
---@alias atsflow.ActionFunction fun(event: atsflow.Event)

---An action, a custom action, or a list of them (run in order; a failure stops the rest).
---@alias atsflow.ActionLike atsflow.Action|atsflow.ActionFunction|(atsflow.Action|atsflow.ActionFunction)[]

---@class atsflow.AutomationSpec
---@field name string required, unique across all files
---@field trigger atsflow.Trigger
---@field conditions? atsflow.ConditionLike[] none or empty: every event the trigger matches
---@field match? "any"|"all" "any" (default): one condition met is enough
---@field action atsflow.ActionLike
---@field enabled? boolean default true

---@class atsflow.Automation: atsflow.AutomationSpec
---@field file string
---@field line integer

---Options merged into a copy by duplicate(): `trigger` and `action` tables merge
---into the constructor options.
---@class atsflow.DuplicateOverrides
---@field name string required
---@field trigger? table e.g. { job = "Frontend Engineer" }
---@field action? table e.g. { assessment = "Frontend Take-Home" }
---@field conditions? atsflow.ConditionLike[]
---@field match? "any"|"all"
---@field enabled? boolean

-- ---------------------------------------------------------------- declarations

---Declares an automation. Unknown keys, wrong types and missing keys are load
---errors naming the file, the line and the key.
---@param spec atsflow.AutomationSpec
---@return atsflow.Automation
function automation(spec) end

---Clones `a` with `overrides` deep-merged (`name` required).
---@param a atsflow.Automation
---@param overrides atsflow.DuplicateOverrides
---@return atsflow.Automation
function duplicate(a, overrides) end

---Low-level form: runs `handler` for every event of that type (any type an
---adapter emits, e.g. "candidate.hired").
---@param event_type atsflow.EventType
---@param handler fun(event: atsflow.Event)
---@return atsflow.Automation
function on(event_type, handler) end

---Matches every job (applicant_moved_to_stage's `job`); the stage then matches
---by name on any job.
---@type string
any_job = "any_job"

-- ---------------------------------------------------------------- triggers

---@class atsflow.ApplicantMovedToStageOptions
---@field job atsflow.NameOrId|"any_job" job name, job id, or any_job
---@field stage atsflow.NameOrId stage name (looked up within the job) or id
---@field ats? string adapter name; required only when more than one ATS is configured

---Fires on `applicant.moved_to_stage` whose job and new stage match.
---@param opts atsflow.ApplicantMovedToStageOptions
---@return atsflow.Trigger
function applicant_moved_to_stage(opts) end

---@class atsflow.AssessmentCompletedOptions
---@field assessment atsflow.NameOrId Coderbyte assessment name or id

---Fires on `assessment.completed` for that assessment.
---@param opts atsflow.AssessmentCompletedOptions
---@return atsflow.Trigger
function assessment_completed(opts) end

---@class atsflow.AssessmentScorecardUpdatedOptions
---@field assessment atsflow.NameOrId
---@field events atsflow.ScorecardEvent[] non-empty

---Fires on `assessment.scorecard_updated` for that assessment whose
---`scorecard.event` is listed.
---@param opts atsflow.AssessmentScorecardUpdatedOptions
---@return atsflow.Trigger
function assessment_scorecard_updated(opts) end

---Fires on every `interview.finished`. Takes no options.
---@param opts? {}
---@return atsflow.Trigger
function interview_finished(opts) end

---@class atsflow.InterviewScorecardUpdatedOptions
---@field events atsflow.ScorecardEvent[] non-empty

---Fires on `interview.scorecard_updated` whose `scorecard.event` is listed.
---@param opts atsflow.InterviewScorecardUpdatedOptions
---@return atsflow.Trigger
function interview_scorecard_updated(opts) end

-- ---------------------------------------------------------------- conditions

---`event.assessment.qualified` is true.
---@type atsflow.Condition
qualified = nil

---`event.assessment.qualified` is false.
---@type atsflow.Condition
not_qualified = nil

---`event.assessment.cheating_detected` is true.
---@type atsflow.Condition
cheating_detected = nil

---`event.assessment.cheating_detected` is false.
---@type atsflow.Condition
cheating_not_detected = nil

-- ---------------------------------------------------------------- actions

---@class atsflow.SendAssessmentInviteOptions
---@field assessment atsflow.NameOrId
---@field add_tag? string tag put on the candidate once the invite is sent
---@field post_note? boolean leave a note naming the assessment and when

---Invites the candidate to a Coderbyte assessment. Valid after
---applicant_moved_to_stage.
---@param opts atsflow.SendAssessmentInviteOptions
---@return atsflow.Action
function send_assessment_invite(opts) end

---Posts the report link (and the reviewer's recommendation or comment for
---scorecards) as a note. Valid after assessment_completed,
---assessment_scorecard_updated, interview_finished, interview_scorecard_updated.
---@param opts? {}
---@return atsflow.Action
function post_report_details(opts) end

---@class atsflow.MoveToStageOptions
---@field job atsflow.NameOrId
---@field stage atsflow.NameOrId a stage of that job

---Moves the event's application. Valid after any trigger whose event
---identifies an ATS application.
---@param opts atsflow.MoveToStageOptions
---@return atsflow.Action
function move_to_stage(opts) end
