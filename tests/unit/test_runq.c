/* Unit tests for runq: per-key order across owners (script versions), the
 * shared bound, and the holds that keep an owner alive while it has runs
 * waiting. Owners here are plain structs that record what runq asked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "runq.h"

struct owner {
    long started[4096];
    int nstarted;
    int holds;
};

static long order[4096]; /* every start, all owners, in order */
static int norder;

static void start(void *o, long id)
{
    struct owner *ow = o;

    ow->started[ow->nstarted++] = id;
    order[norder++] = id;
}

static void hold(void *o)
{
    ((struct owner *)o)->holds++;
}

static void release(void *o)
{
    ((struct owner *)o)->holds--;
}

static const struct runq_owner_ops ops = {start, hold, release};

static int setup(void **state)
{
    (void)state;
    norder = 0;
    memset(order, 0, sizeof(order));
    return 0;
}

static void
test_a_later_version_waits_for_the_earlier_versions_run_of_the_same_key(void **state)
{
    struct runq *q = runq_new(&ops);
    struct owner a = {0}, b = {0};

    (void)state;
    assert_int_equal(runq_add(q, "cand-x", 1, &a, 8),
                     0); /* version A runs X's first event */
    assert_int_equal(runq_add(q, "cand-x", 2, &b, 8), 0); /* B, after a reload: X again */
    assert_int_equal(runq_add(q, "cand-y", 3, &b, 8), 0); /* B: another candidate */
    assert_int_equal(a.nstarted, 1);
    assert_int_equal(b.nstarted, 1);
    assert_int_equal(b.started[0], 3); /* Y is not held up by X */
    assert_int_equal(b.holds, 1);      /* B must stay alive for run 2 */
    assert_int_equal(runq_waiting(q), 1);
    assert_int_equal(runq_running(q), 2);

    assert_int_equal(runq_done(q, "cand-x", 1, 8), 0);
    assert_int_equal(b.nstarted, 2);
    assert_int_equal(b.started[1], 2); /* started in the version that queued it */
    assert_int_equal(b.holds, 0);
    assert_int_equal(a.holds, 0);
    runq_free(q);
}

static void test_only_the_started_head_can_end(void **state)
{
    struct runq *q = runq_new(&ops);
    struct owner a = {0};

    (void)state;
    runq_add(q, "k", 1, &a, 8);
    runq_add(q, "k", 2, &a, 8);
    assert_int_equal(runq_done(q, "k", 2, 8), -1);
    assert_int_equal(runq_done(q, "other", 1, 8), -1);
    assert_int_equal(runq_add(q, "k", 2, &a, 8), -1); /* already queued */
    assert_int_equal(runq_done(q, "k", 1, 8), 0);
    assert_int_equal(runq_done(q, "k", 1, 8), -1); /* twice */
    assert_int_equal(runq_done(q, "k", 2, 8), 0);
    assert_int_equal(norder, 2);
    assert_int_equal(runq_running(q), 0);
    runq_free(q);
}

static void test_the_bound_counts_every_owner_and_frees_in_ready_order(void **state)
{
    struct runq *q = runq_new(&ops);
    struct owner a = {0}, b = {0};
    char key[32];

    (void)state;
    for (long i = 1; i <= 6; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        runq_add(q, key, i, i % 2 ? &a : &b, 2);
    }
    assert_int_equal(norder, 2);
    assert_int_equal(runq_waiting(q), 4);
    assert_int_equal(a.holds + b.holds, 4);
    /* a run sleeping before a retry gives its slot up, then takes it back */
    runq_slot(q, -1, 2);
    assert_int_equal(norder, 3);
    runq_slot(q, 1, 2);
    assert_int_equal(runq_running(q), 3);
    assert_int_equal(runq_done(q, "k1", 1, 2), 0);
    assert_int_equal(norder, 3); /* still 2 running: at the bound */
    assert_int_equal(runq_done(q, "k2", 2, 2), 0);
    assert_int_equal(norder, 4);
    for (int i = 0; i < norder; i++)
        assert_int_equal(order[i], i + 1);
    runq_free(q); /* drops the waiting runs, releasing their owners */
    assert_int_equal(a.holds + b.holds, 0);
}

static void test_many_keys_keep_their_own_fifo(void **state)
{
    struct runq *q = runq_new(&ops);
    struct owner a = {0};
    char key[32];

    (void)state;
    for (long i = 0; i < 3000; i++) { /* 1000 keys, three runs each: the table grows */
        snprintf(key, sizeof(key), "c%ld", i % 1000);
        assert_int_equal(runq_add(q, key, i, &a, 100000), 0);
    }
    assert_int_equal(runq_running(q), 1000);
    for (long round = 0; round < 3; round++) {
        for (long k = 0; k < 1000; k++) {
            snprintf(key, sizeof(key), "c%ld", k);
            assert_int_equal(runq_done(q, key, round * 1000 + k, 100000), 0);
        }
    }
    assert_int_equal(norder, 3000);
    assert_int_equal(runq_running(q), 0);
    assert_int_equal(runq_waiting(q), 0);
    assert_int_equal(a.holds, 0);
    runq_free(q);
}

#define TEST(fn) cmocka_unit_test_setup(fn, setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_a_later_version_waits_for_the_earlier_versions_run_of_the_same_key),
        TEST(test_only_the_started_head_can_end),
        TEST(test_the_bound_counts_every_owner_and_frees_in_ready_order),
        TEST(test_many_keys_keep_their_own_fifo),
    };

    return cmocka_run_group_tests_name("runq", tests, NULL, NULL);
}
