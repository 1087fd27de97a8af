/* journal: named operations, group commit and its waiters, dedupe. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"

static char path[64];

static struct journal_value text(const char *s)
{
    return (struct journal_value){JV_TEXT, 0, s, strlen(s)};
}

static struct journal_value num(int64_t i)
{
    return (struct journal_value){JV_INT, i, NULL, 0};
}

static int setup(void **state)
{
    strcpy(path, "/tmp/atsflow-journal-XXXXXX");
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    return 0;
}

static int teardown(void **state)
{
    char wal[80], shm[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    return 0;
}

static int count_rows(void *arg, int ncol, const char *const *names,
                      const struct journal_value *vals)
{
    (*(int *)arg)++;
    return 0;
}

static int dedupe(struct journal *j, const char *key)
{
    struct journal_value v[3] = {text("greenhouse"), text(key), num(1000)};
    char *err = NULL;
    assert_int_equal(journal_exec(j, "dedupe_add", v, 3, NULL, NULL, &err), 0);
    return journal_changes(j);
}

static void a_delivery_id_is_accepted_once(void **state)
{
    char *err = NULL;
    struct journal *j = journal_open(path, NULL, &err);
    assert_non_null(j);
    assert_int_equal(dedupe(j, "evt-1"), 1);
    assert_int_equal(dedupe(j, "evt-1"), 0);
    assert_int_equal(dedupe(j, "evt-2"), 1);
    journal_close(j);
}

static void purge_forgets_ids_older_than_the_window(void **state)
{
    char *err = NULL;
    struct journal *j = journal_open(path, NULL, &err);
    dedupe(j, "old");
    struct journal_value cut = num(2000);
    assert_int_equal(journal_exec(j, "dedupe_purge", &cut, 1, NULL, NULL, &err), 0);
    assert_int_equal(journal_changes(j), 1);
    assert_int_equal(dedupe(j, "old"), 1); /* accepted again after the window */
    journal_close(j);
}

static int commits_seen, last_ok;

static void on_commit(void *arg, int ok)
{
    commits_seen++;
    last_ok = ok;
}

static void waiters_run_after_the_group_commit_and_writes_are_durable(void **state)
{
    struct event_base *base = event_base_new();
    char *err = NULL;
    struct journal *j = journal_open(path, base, &err);
    commits_seen = 0;
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        dedupe(j, key);
        journal_on_commit(j, on_commit, NULL);
    }
    assert_int_equal(commits_seen, 0); /* nothing before the loop turns */
    assert_true(journal_busy(j));
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(commits_seen, 50);
    assert_int_equal(last_ok, 1);
    uint64_t commits, writes;
    journal_stats(j, &commits, &writes);
    assert_int_equal(commits, 1); /* fifty writes, one commit */
    assert_int_equal(writes, 50);
    journal_close(j);
    /* a second connection sees every row: they were committed */
    j = journal_open(path, NULL, &err);
    assert_int_equal(dedupe(j, "k49"), 0);
    journal_close(j);
    event_base_free(base);
}

/* A write nobody waits for costs no commit of its own: it joins the next
 * commit someone waits for, or the flush timer commits it soon after. */
static void unwaited_writes_join_the_next_commit_or_the_timer(void **state)
{
    struct event_base *base = event_base_new();
    char *err = NULL;
    struct journal *j = journal_open(path, base, &err);
    uint64_t commits, writes;
    dedupe(j, "alone");
    event_base_loop(base, EVLOOP_NONBLOCK);
    journal_stats(j, &commits, &writes);
    assert_int_equal(commits, 0); /* a loop turn alone does not commit it */
    assert_true(journal_busy(j));
    dedupe(j, "waited");
    journal_on_commit(j, on_commit, NULL);
    event_base_loop(base, EVLOOP_NONBLOCK);
    journal_stats(j, &commits, &writes);
    assert_int_equal(commits, 1); /* both in the commit someone waited for */
    dedupe(j, "later");
    for (int i = 0; i < 50 && journal_busy(j); i++) {
        usleep(2000);
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    journal_stats(j, &commits, &writes);
    assert_int_equal(commits, 2); /* the timer's */
    struct journal *other = journal_open(path, NULL, &err);
    assert_int_equal(dedupe(other, "later"), 0);
    journal_close(other);
    journal_close(j);
    event_base_free(base);
}

/* The checkpointer thread copies the WAL back while the loop only commits. */
static void the_wal_is_checkpointed_off_the_loop(void **state)
{
    struct event_base *base = event_base_new();
    char *err = NULL;
    struct journal *j = journal_open(path, base, &err);
    for (int c = 0; c < 20; c++) {
        for (int i = 0; i < 100; i++) {
            char key[32];
            snprintf(key, sizeof key, "k%d.%d", c, i);
            dedupe(j, key);
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    for (int i = 0; i < 100 && journal_checkpoints(j) == 0; i++)
        usleep(20000);
    assert_true(journal_checkpoints(j) > 0);
    journal_close(j);
    j = journal_open(path, NULL, &err); /* no loop: SQLite checkpoints itself */
    assert_int_equal(dedupe(j, "k19.99"), 0);
    assert_int_equal(journal_checkpoints(j), 0);
    journal_close(j);
    event_base_free(base);
}

static void an_unknown_operation_is_an_error(void **state)
{
    char *err = NULL;
    struct journal *j = journal_open(path, NULL, &err);
    assert_int_equal(journal_exec(j, "drop_everything", NULL, 0, NULL, NULL, &err), -1);
    assert_non_null(strstr(err, "unknown operation"));
    free(err);
    assert_int_equal(journal_op_writes("drop_everything"), -1);
    assert_int_equal(journal_op_writes("event_get"), 0);
    assert_int_equal(journal_op_writes("event_put"), 1);
    journal_close(j);
}

static void reads_return_rows_and_integrity_is_ok(void **state)
{
    char *err = NULL;
    struct journal *j = journal_open(path, NULL, &err);
    struct journal_value d[5] = {text("sandbox"), text("m1"), num(5), text("{}"),
                                 (struct journal_value){JV_BLOB, 0, "a\0b", 3}};
    assert_int_equal(journal_exec(j, "delivery_add", d, 5, NULL, NULL, &err), 0);
    int rows = 0;
    assert_int_equal(journal_exec(j, "deliveries_unfinished", NULL, 0, count_rows, &rows, &err), 0);
    assert_int_equal(rows, 1);
    assert_int_equal(journal_flush(j, &err), 0);
    rows = 0;
    assert_int_equal(journal_exec(j, "integrity", NULL, 0, count_rows, &rows, &err), 0);
    assert_int_equal(rows, 1);
    journal_close(j);
}

static void a_database_that_cannot_be_created_says_so(void **state)
{
    char *err = NULL;
    struct journal *j = journal_open("/nonexistent-dir/x/atsflow.db", NULL, &err);
    assert_null(j);
    assert_non_null(strstr(err, "/nonexistent-dir/x/atsflow.db"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_delivery_id_is_accepted_once, setup, teardown),
        cmocka_unit_test_setup_teardown(purge_forgets_ids_older_than_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(waiters_run_after_the_group_commit_and_writes_are_durable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(the_wal_is_checkpointed_off_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(unwaited_writes_join_the_next_commit_or_the_timer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_unknown_operation_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(reads_return_rows_and_integrity_is_ok, setup, teardown),
        cmocka_unit_test(a_database_that_cannot_be_created_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
