/* lstate: the instruction budget cannot be swallowed by pcall, xpcall or
 * coroutines; the memory cap fails the call, not the process. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "lstate.h"

static struct host h;
static struct event_base *base;

static int setup(void **state)
{
    base = event_base_new();
    memset(&h, 0, sizeof h);
    host_init(&h, base, 1);
    return 0;
}

static int teardown(void **state)
{
    host_cleanup(&h);
    if (h.ready_ev)
        event_free(h.ready_ev);
    event_base_free(base);
    return 0;
}

/* Runs `code` as script code (its chunk is not runtime code); returns the
 * error message or NULL. */
static char *run(struct lstate *st, const char *code)
{
    lstate_slice(st, "Test automation (scripts/t.lua:1)");
    if (luaL_loadbufferx(st->L, code, strlen(code), "@scripts/t.lua", "t") != LUA_OK ||
        lua_pcall(st->L, 0, 0, 0) != LUA_OK) {
        char *msg = strdup(lua_tostring(st->L, -1));
        lua_pop(st->L, 1);
        return msg;
    }
    return NULL;
}

static void expect_budget_error(const char *code)
{
    char *err = NULL;
    struct lstate *st = lstate_new(&h, 0, 100000, &err);
    assert_non_null(st);
    char *msg = run(st, code);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "instruction budget exceeded"));
    assert_non_null(strstr(msg, "Test automation (scripts/t.lua:1)"));
    free(msg);
    assert_null(run(st, "local x = 1 + 1")); /* the state is still usable */
    lstate_free(st);
}

static void an_infinite_loop_is_stopped(void **state)
{
    expect_budget_error("while true do end");
}

static void pcall_cannot_swallow_the_budget(void **state)
{
    expect_budget_error("while true do pcall(function() while true do end end) end");
}

static void xpcall_with_a_handler_cannot_swallow_it(void **state)
{
    expect_budget_error("for i = 1, 1e9 do xpcall(function() while true do end end, "
                        "function(e) return e end) end");
}

static void a_coroutine_cannot_swallow_it(void **state)
{
    expect_budget_error("local co = coroutine.create(function() while true do end end)\n"
                        "while true do coroutine.resume(co) end");
}

static void a_memory_bomb_fails_the_call_not_the_process(void **state)
{
    char *err = NULL;
    struct lstate *st = lstate_new(&h, 8u << 20, 0, &err);
    char *msg = run(st, "local s = string.rep('x', 64 * 1024 * 1024)");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "not enough memory"));
    free(msg);
    msg = run(st, "local t = {} for i = 1, 1e8 do t[i] = {i} end");
    assert_non_null(msg);
    free(msg);
    assert_true(st->mem_used <= st->mem_cap);
    assert_null(run(st, "local t = {} for i = 1, 1000 do t[i] = i end"));
    lstate_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_infinite_loop_is_stopped, setup, teardown),
        cmocka_unit_test_setup_teardown(pcall_cannot_swallow_the_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(xpcall_with_a_handler_cannot_swallow_it, setup, teardown),
        cmocka_unit_test_setup_teardown(a_coroutine_cannot_swallow_it, setup, teardown),
        cmocka_unit_test_setup_teardown(a_memory_bomb_fails_the_call_not_the_process, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
