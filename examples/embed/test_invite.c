/* An automation test written in C against libatsflow (include/atsflow.h).
 *
 * Each test opens a fresh runtime with the built-in sandbox ATS and Coderbyte
 * on a virtual clock, loads one automation, makes something happen (a stage
 * move, a webhook, a canonical event), runs the loop until idle and asserts
 * on what the automation did: the requests it sent to the upstreams, the
 * journal's events and runs.
 *
 * Build: cc test_invite.c $(pkg-config --cflags --libs atsflow)
 * Prints one line per test and ends with "N passed, N failed". */
#define _POSIX_C_SOURCE 200809L
#include <atsflow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sandbox_config[] = "ats = { sandbox = {} }\n"
                                     "coderbyte = { sandbox = true }\n";

static const char invite_script[] =
    "automation {\n"
    "    name    = \"Invite backend screen\",\n"
    "    trigger = applicant_moved_to_stage { job = \"Backend Engineer\", stage = \"Technical Screen\" },\n"
    "    action  = send_assessment_invite { assessment = \"Backend Take-Home\",\n"
    "                                       add_tag = \"coderbyte-invited\", post_note = true },\n"
    "}\n";

/* ---- a minimal test runner ---- */

static int failures; /* in the current test */

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printf("    %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);          \
            printf(__VA_ARGS__);                                                         \
            printf("\n");                                                                \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* printf's %s must never see NULL */
static const char *S(const char *s)
{
    return s ? s : "(null)";
}

/* lua-cjson writes "/" as "\/": compare JSON text with that undone. */
static int has(const char *json, const char *needle)
{
    if (!json)
        return 0;
    char *copy = strdup(json), *w = copy;
    for (const char *r = json; *r; r++) {
        if (r[0] == '\\' && r[1] == '/')
            continue;
        *w++ = *r;
    }
    *w = '\0';
    int found = strstr(copy, needle) != NULL;
    free(copy);
    return found;
}

static int count(const char *json, const char *needle)
{
    int n = 0;
    for (const char *p = json; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* A fresh sandbox world with only the given script loaded. */
static atsflow_t *world(const char *script)
{
    atsflow_options o = {0};
    o.no_config_scripts = 1;
    char *err = NULL;
    atsflow_t *af = atsflow_open_string(sandbox_config, &o, &err);
    if (!af) {
        printf("    cannot open: %s\n", err);
        atsflow_free(err);
        return NULL;
    }
    if (script && atsflow_load_source(af, "automation.lua", script) < 0) {
        printf("    cannot load the script: %s\n", atsflow_error(af));
        atsflow_close(af);
        return NULL;
    }
    return af;
}

static char *sandbox(atsflow_t *af, const char *cmd, const char *args)
{
    char *res = atsflow_sandbox(af, cmd, args);
    if (!res)
        printf("    sandbox %s: %s\n", cmd, atsflow_error(af));
    return res;
}

/* ---- tests ---- */

static void moving_ada_to_technical_screen_invites_her(void)
{
    atsflow_t *af = world(invite_script);
    CHECK(af != NULL, "no world");
    if (!af)
        return;
    atsflow_free(sandbox(af, "seed", NULL));
    atsflow_free(sandbox(af, "move", "{\"email\":\"ada@example.com\",\"job\":\"Backend Engineer\","
                                     "\"stage\":\"Technical Screen\"}"));
    CHECK(atsflow_run_until_idle(af, 10000) == 0, "%s", atsflow_error(af));

    char *req = atsflow_requests(af);
    CHECK(req != NULL, "%s", atsflow_error(af));
    CHECK(has(req, "\"path\":\"/sandbox/coderbyte/api/v1/assessments/backend-take-home/invitations\""),
          "no invitation request in %s", S(req));
    CHECK(has(req, "\"email\":\"ada@example.com\""), "the invite is not for Ada: %s", S(req));
    CHECK(has(req, "\"tag\":\"coderbyte-invited\""), "no tag request in %s", S(req));
    atsflow_free(req);

    char *runs = atsflow_runs(af, "succeeded");
    CHECK(runs && count(runs, "\"automation\":\"Invite backend screen\"") == 1,
          "expected one succeeded run: %s", S(runs));
    atsflow_free(runs);

    char *shown = sandbox(af, "show", "{\"email\":\"ada@example.com\"}");
    CHECK(has(shown, "coderbyte-invited"), "Ada is not tagged: %s", S(shown));
    atsflow_free(shown);
    atsflow_close(af);
}

static void a_move_to_another_stage_invites_nobody(void)
{
    atsflow_t *af = world(invite_script);
    CHECK(af != NULL, "no world");
    if (!af)
        return;
    atsflow_free(sandbox(af, "seed", NULL));
    atsflow_free(sandbox(af, "move", "{\"email\":\"ada@example.com\",\"job\":\"Backend Engineer\","
                                     "\"stage\":\"Onsite\"}"));
    CHECK(atsflow_run_until_idle(af, 10000) == 0, "%s", atsflow_error(af));
    char *req = atsflow_requests(af);
    CHECK(req && !has(req, "/invitations"), "unexpected invitation: %s", S(req));
    atsflow_free(req);
    char *ev = atsflow_events(af, "ignored");
    CHECK(ev && has(ev, "\"type\":\"applicant.moved_to_stage\""), "the move is not ignored: %s", S(ev));
    atsflow_free(ev);
    atsflow_close(af);
}

static void a_broken_script_is_refused_and_the_old_one_stays(void)
{
    atsflow_t *af = world(invite_script);
    CHECK(af != NULL, "no world");
    if (!af)
        return;
    int rc = atsflow_load_source(af, "broken.lua",
                                 "automation { name = \"x\", trigger = interview_finished { job = 1 },\n"
                                 "             action = post_report_details {} }\n");
    CHECK(rc == -1, "a broken script was accepted");
    CHECK(strncmp(atsflow_error(af), "broken.lua:1:", 13) == 0, "error does not name the file: %s",
          atsflow_error(af));
    CHECK(strstr(atsflow_error(af), "unknown option 'job'") != NULL, "error: %s", atsflow_error(af));
    atsflow_free(sandbox(af, "seed", NULL));
    atsflow_free(sandbox(af, "move", "{\"email\":\"ada@example.com\",\"job\":\"Backend Engineer\","
                                     "\"stage\":\"Technical Screen\"}"));
    CHECK(atsflow_run_until_idle(af, 10000) == 0, "%s", atsflow_error(af));
    char *req = atsflow_requests(af);
    CHECK(has(req, "/invitations"), "the first script stopped working: %s", S(req));
    atsflow_free(req);
    atsflow_close(af);
}

static void raw_webhooks_are_verified(void)
{
    atsflow_t *af = world(invite_script);
    CHECK(af != NULL, "no world");
    if (!af)
        return;
    const char *headers[] = {"Content-Type: application/json", NULL};
    const char body[] = "{\"action\":\"candidate_stage_change\"}";
    char *res = NULL;
    int st = atsflow_webhook(af, "sandbox", headers, body, strlen(body), &res);
    CHECK(st == 401, "unsigned webhook answered %d (%s) %s", st, S(res), atsflow_error(af));
    atsflow_free(res);
    st = atsflow_webhook(af, "nowhere", NULL, body, strlen(body), NULL);
    CHECK(st == 404, "unknown source answered %d", st);
    atsflow_close(af);
}

static void a_canonical_event_runs_a_low_level_handler(void)
{
    atsflow_t *af = world("on(\"candidate.hired\", function(event)\n"
                          "    store.set(\"last\", event.candidate.name)\n"
                          "    log.info(\"hired %s\", event.candidate.name)\n"
                          "end)\n");
    CHECK(af != NULL, "no world");
    if (!af)
        return;
    char *res = NULL;
    int st = atsflow_emit(af,
                          "{\"id\":\"hr:1:0\",\"type\":\"candidate.hired\",\"source\":\"hr\","
                          "\"candidate\":{\"id\":\"7\",\"name\":\"Grace Hopper\"}}",
                          &res);
    CHECK(st == 202, "POST /events answered %d: %s %s", st, S(res), atsflow_error(af));
    atsflow_free(res);
    CHECK(atsflow_run_until_idle(af, 10000) == 0, "%s", atsflow_error(af));
    char *ev = atsflow_events(af, "processed");
    CHECK(ev && has(ev, "\"name\":\"Grace Hopper\""), "event not processed: %s", S(ev));
    atsflow_free(ev);
    char *runs = atsflow_runs(af, "succeeded");
    CHECK(runs && count(runs, "\"status\":\"succeeded\"") == 1, "runs: %s", S(runs));
    atsflow_free(runs);
    char *logs = atsflow_logs(af);
    CHECK(strstr(logs, "hired Grace Hopper") != NULL, "log line missing: %s", S(logs));
    atsflow_free(logs);
    atsflow_close(af);
}

static void the_virtual_clock_waits_for_a_late_report(void)
{
    atsflow_t *af = world("automation {\n"
                          "    name    = \"Report on completion\",\n"
                          "    trigger = assessment_completed { assessment = \"Backend Take-Home\" },\n"
                          "    action  = post_report_details {},\n"
                          "}\n");
    CHECK(af != NULL, "no world");
    if (!af)
        return;
    atsflow_free(sandbox(af, "seed", NULL));
    int64_t t0 = atsflow_now(af);
    atsflow_free(sandbox(af, "complete", "{\"email\":\"ada@example.com\",\"assessment\":"
                                         "\"Backend Take-Home\",\"score\":91,\"report_ready_after\":2}"));
    CHECK(atsflow_run_until_idle(af, 10000) == 0, "%s", atsflow_error(af));
    char *runs = atsflow_runs(af, NULL);
    CHECK(runs && strcmp(runs, "[]") == 0, "ran before the report was ready: %s", S(runs));
    atsflow_free(runs);
    CHECK(atsflow_advance(af, 10 * 60 * 1000) == 0, "%s", atsflow_error(af));
    CHECK(atsflow_now(af) - t0 >= 10 * 60 * 1000, "the clock did not move");
    runs = atsflow_runs(af, "succeeded");
    CHECK(runs && count(runs, "\"automation\":\"Report on completion\"") == 1, "runs: %s", S(runs));
    atsflow_free(runs);
    char *req = atsflow_requests(af);
    CHECK(has(req, "/notes\""), "no note posted: %s", S(req));
    atsflow_free(req);
    atsflow_close(af);
}

static void config_errors_are_returned(void)
{
    char *err = NULL;
    atsflow_t *af = atsflow_open_string("ats = { sandbox = {} }\nlisten_on = 1\n", NULL, &err);
    CHECK(af == NULL, "a bad config opened");
    CHECK(err && strstr(err, "unknown setting 'listen_on'"), "error: %s", S(err));
    atsflow_free(err);
    atsflow_close(af);
}

int main(void)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"moving Ada to Technical Screen invites her", moving_ada_to_technical_screen_invites_her},
        {"a move to another stage invites nobody", a_move_to_another_stage_invites_nobody},
        {"a broken script is refused and the old one stays",
         a_broken_script_is_refused_and_the_old_one_stays},
        {"raw webhooks are verified", raw_webhooks_are_verified},
        {"a canonical event runs a low-level handler", a_canonical_event_runs_a_low_level_handler},
        {"the virtual clock waits for a late report", the_virtual_clock_waits_for_a_late_report},
        {"config errors are returned", config_errors_are_returned},
    };
    int passed = 0, failed = 0;
    printf("libatsflow %s\n", atsflow_version());
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        failures = 0;
        tests[i].fn();
        printf("%s %s\n", failures ? "FAIL" : "ok  ", tests[i].name);
        if (failures)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
