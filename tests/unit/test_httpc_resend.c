/* Unit tests for httpc's refusal of libcurl's silent resends: a raw upstream on
 * 127.0.0.1 answers the first request of each connection and keeps it alive,
 * then reads the next request on it, counts it and hangs up unanswered (what a
 * server closing idle keep-alive connections, or crashing mid-request, looks
 * like). The upstream's own count must equal the requests httpc was asked for. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "httpc.h"
#include "util.h"

struct fixture {
    struct event_base *base;
    struct evconnlistener *listener;
    int port;
    struct httpc *h;
    struct event *watchdog;
    int expired;
    int requests; /* requests the upstream read, on any connection */
    struct conn *open;
};

struct conn {
    struct fixture *f;
    struct bufferevent *bev;
    int served;
    struct conn *prev, *next;
};

struct got {
    int calls;
    long status;
    int resend_refused;
    char *error;
    char *body;
};

static void conn_close(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->f->open = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    free(c);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_close(arg);
}

/* GETs only, so a request ends at its blank line. */
static void conn_read(struct bufferevent *bev, void *arg)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end;
    int drop;

    while ((end = evbuffer_search(in, "\r\n\r\n", 4, NULL)).pos >= 0) {
        drop = c->served > 0 || evbuffer_search(in, "GET /drop", 9, NULL).pos == 0;
        evbuffer_drain(in, (size_t)end.pos + 4);
        c->f->requests++;
        if (drop) {
            conn_close(c);
            return;
        }
        c->served++;
        bufferevent_write(bev, ok, sizeof(ok) - 1);
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct fixture *f = arg;
    struct conn *c = xcalloc(1, sizeof(*c));

    (void)l;
    (void)sa;
    (void)salen;
    c->f = f;
    c->next = f->open;
    if (f->open)
        f->open->prev = c;
    f->open = c;
    c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
    bufferevent_enable(c->bev, EV_READ);
}

static void on_watchdog(evutil_socket_t fd, short kind, void *arg)
{
    struct fixture *f = arg;

    (void)fd;
    (void)kind;
    f->expired = 1;
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->base = event_base_new();
    f->listener = evconnlistener_new_bind(f->base, on_accept, f,
                                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
                                          (struct sockaddr *)&sin, sizeof(sin));
    if (!f->listener || getsockname(evconnlistener_get_fd(f->listener),
                                    (struct sockaddr *)&sin, &len) < 0)
        return -1;
    f->port = ntohs(sin.sin_port);
    f->watchdog = evtimer_new(f->base, on_watchdog, f);
    f->h = httpc_new(f->base);
    *state = f;
    return f->h ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    httpc_free(f->h);
    while (f->open)
        conn_close(f->open);
    evconnlistener_free(f->listener);
    event_free(f->watchdog);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void on_done(void *arg, const struct httpc_response *res)
{
    struct got *g = arg;

    if (++g->calls > 1)
        return;
    g->status = res->status;
    g->resend_refused = res->resend_refused;
    g->error = res->error ? xstrdup(res->error) : NULL;
    g->body = xstrndup(res->body, res->body_len);
}

static void got_clear(struct got *g)
{
    free(g->error);
    free(g->body);
    memset(g, 0, sizeof(*g));
}

static void get(struct fixture *f, const char *path, int fresh, struct got *g)
{
    char url[128];
    struct httpc_request req = {.method = "GET", .url = url, .fresh_connect = fresh};
    struct timeval limit = {30, 0};
    char *err = NULL;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    assert_int_equal(httpc_start(f->h, &req, on_done, g, &err), 0);
    f->expired = 0;
    evtimer_add(f->watchdog, &limit);
    while (g->calls < 1 && !f->expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    evtimer_del(f->watchdog);
    assert_false(f->expired);
    assert_int_equal(g->calls, 1);
}

static void test_a_reused_connection_dying_unanswered_is_reported_not_resent(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    get(f, "/one", 0, &g);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "ok");
    got_clear(&g);

    /* Goes out on the kept-alive connection, which the upstream reads and
     * closes: libcurl would send it again on a new connection by itself. */
    get(f, "/two", 0, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.resend_refused, 1);
    assert_non_null(g.error);
    assert_int_equal(f->requests, 2); /* a new connection was opened, unused */
    got_clear(&g);

    /* The caller's own resend, on a fresh connection, goes out once. */
    get(f, "/two", 1, &g);
    assert_int_equal(g.status, 200);
    assert_int_equal(f->requests, 3);
    got_clear(&g);
}

static void test_fresh_connection_dying_unanswered_is_an_ordinary_error(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    get(f, "/drop", 1, &g);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.resend_refused, 0);
    assert_non_null(g.error);
    assert_int_equal(f->requests, 1);
    got_clear(&g);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_a_reused_connection_dying_unanswered_is_reported_not_resent),
        TEST(test_fresh_connection_dying_unanswered_is_an_ordinary_error),
    };

    setenv("no_proxy", "*", 1);
    return cmocka_run_group_tests_name("httpc_resend", tests, NULL, NULL);
}
