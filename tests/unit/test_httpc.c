/* Unit tests for httpc: real transfers against an evhttp server (and one raw
 * socket server for 1xx responses) on 127.0.0.1, all in the one event_base the
 * client runs on. */
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
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "httpc.h"
#include "util.h"

#define MANY 200

struct fixture {
    struct event_base *base;
    struct evhttp *http;
    int port;
    struct httpc *h;
    struct event *watchdog;
    int expired;
    int done_total; /* done callbacks across all requests */
    int hangs;      /* requests the server is deliberately not answering */
    int watched;    /* scratch for watched_sockets() */
    /* what the server saw on the last /echo */
    char *seen_custom;
    char *seen_type;
    int seen_expect;
    char *seen_body;
    size_t seen_body_len;
    struct evconnlistener *raw;
    int raw_port;
    struct bufferevent *raw_bev;
};

/* A deep copy of one response, taken inside the done callback. */
struct got {
    struct fixture *f;
    int calls;
    long status;
    char *error;
    int timed_out;
    size_t nheaders;
    char **names;
    char **values;
    char *body;
    size_t body_len;
    int body_terminated;
    double total_ms;
    size_t pending_seen;
};

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

static void reply(struct evhttp_request *req, int code, const char *reason,
                  const char *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();

    evbuffer_add(out, body, len);
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

static void serve_echo(struct fixture *f, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    const char *custom = evhttp_find_header(in, "X-Custom");
    const char *type = evhttp_find_header(in, "Content-Type");

    free(f->seen_custom);
    free(f->seen_type);
    free(f->seen_body);
    f->seen_custom = custom ? xstrdup(custom) : NULL;
    f->seen_type = type ? xstrdup(type) : NULL;
    f->seen_expect = evhttp_find_header(in, "Expect") != NULL;
    f->seen_body_len = evbuffer_get_length(body);
    f->seen_body = xmalloc(f->seen_body_len + 1);
    evbuffer_copyout(body, f->seen_body, f->seen_body_len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Echo-Method",
                      method_name(evhttp_request_get_command(req)));
    reply(req, 201, "Created", f->seen_body, f->seen_body_len);
}

static void serve(struct evhttp_request *req, void *arg)
{
    struct fixture *f = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    if (strcmp(uri, "/hello") == 0) {
        evhttp_add_header(out, "X-Mixed-CASE", "  padded value \t");
        evhttp_add_header(out, "Content-Type", "text/plain");
        reply(req, 200, "OK", "hello world", 11);
    } else if (strcmp(uri, "/echo") == 0) {
        serve_echo(f, req);
    } else if (strcmp(uri, "/status/500") == 0) {
        reply(req, 500, "Internal Server Error", "boom", 4);
    } else if (strcmp(uri, "/status/429") == 0) {
        evhttp_add_header(out, "Retry-After", "7");
        reply(req, 429, "Too Many Requests", "slow down", 9);
    } else if (strcmp(uri, "/hang") == 0) {
        f->hangs++; /* never answered; evhttp_free reclaims it */
    } else if (strncmp(uri, "/n/", 3) == 0) {
        reply(req, 200, "OK", uri + 3, strlen(uri + 3));
    } else {
        reply(req, 404, "Not Found", "", 0);
    }
}

/* The raw server answers any request with a 100 Continue followed by the real
 * response, which evhttp cannot be made to do. */
static void raw_event(struct bufferevent *bev, short what, void *arg)
{
    struct fixture *f = arg;

    (void)what;
    bufferevent_free(bev);
    f->raw_bev = NULL;
}

static void raw_read(struct bufferevent *bev, void *arg)
{
    static const char resp[] = "HTTP/1.1 100 Continue\r\n"
                               "X-Interim: yes\r\n"
                               "\r\n"
                               "HTTP/1.1 200 OK\r\n"
                               "X-Final:  yes \r\n"
                               "Content-Length: 2\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "ok";
    struct evbuffer *in = bufferevent_get_input(bev);

    (void)arg;
    if (evbuffer_search(in, "\r\n\r\n", 4, NULL).pos < 0)
        return;
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_write(bev, resp, sizeof(resp) - 1);
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                       int salen, void *arg)
{
    struct fixture *f = arg;

    (void)l;
    (void)sa;
    (void)salen;
    if (f->raw_bev)
        bufferevent_free(f->raw_bev);
    f->raw_bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(f->raw_bev, raw_read, NULL, raw_event, f);
    bufferevent_enable(f->raw_bev, EV_READ);
}

static int port_of(evutil_socket_t fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        return -1;
    return ntohs(sin.sin_port);
}

static void start_raw_server(struct fixture *f)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->raw = evconnlistener_new_bind(f->base, raw_accept, f,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1,
                                     (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(f->raw);
    f->raw_port = port_of(evconnlistener_get_fd(f->raw));
    assert_true(f->raw_port > 0);
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
    struct evhttp_bound_socket *sock;

    f->base = event_base_new();
    f->http = evhttp_new(f->base);
    evhttp_set_allowed_methods(f->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(f->http, serve, f);
    sock = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    if (!sock)
        return -1;
    f->port = port_of(evhttp_bound_socket_get_fd(sock));
    /* evhttp listens with a backlog of 128; 200 simultaneous connects would
     * overflow it and wait on SYN retransmits. Linux lets listen() raise it. */
    listen(evhttp_bound_socket_get_fd(sock), 1024);
    f->watchdog = evtimer_new(f->base, on_watchdog, f);
    f->h = httpc_new(f->base);
    *state = f;
    return f->port > 0 && f->h ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    httpc_free(f->h);
    if (f->raw_bev)
        bufferevent_free(f->raw_bev);
    if (f->raw)
        evconnlistener_free(f->raw);
    evhttp_free(f->http);
    event_free(f->watchdog);
    event_base_free(f->base);
    free(f->seen_custom);
    free(f->seen_type);
    free(f->seen_body);
    free(f);
    return 0;
}

static void got_clear(struct got *g)
{
    for (size_t i = 0; i < g->nheaders; i++) {
        free(g->names[i]);
        free(g->values[i]);
    }
    free(g->names);
    free(g->values);
    free(g->error);
    free(g->body);
    memset(g, 0, sizeof(*g));
}

static void on_done(void *arg, const struct httpc_response *res)
{
    struct got *g = arg;

    g->f->done_total++;
    if (++g->calls > 1)
        return;
    g->pending_seen = httpc_pending(g->f->h);
    g->status = res->status;
    g->error = res->error ? xstrdup(res->error) : NULL;
    g->timed_out = res->timed_out;
    g->total_ms = res->total_ms;
    g->nheaders = res->nheaders;
    g->names = xcalloc(res->nheaders, sizeof(char *));
    g->values = xcalloc(res->nheaders, sizeof(char *));
    for (size_t i = 0; i < res->nheaders; i++) {
        g->names[i] = xstrdup(res->headers[i].name);
        g->values[i] = xstrdup(res->headers[i].value);
    }
    g->body_terminated = res->body && res->body[res->body_len] == '\0';
    g->body = xmalloc(res->body_len + 1);
    memcpy(g->body, res->body, res->body_len);
    g->body[res->body_len] = '\0';
    g->body_len = res->body_len;
}

static const char *header(const struct got *g, const char *name)
{
    for (size_t i = 0; i < g->nheaders; i++)
        if (strcmp(g->names[i], name) == 0)
            return g->values[i];
    return NULL;
}

/* Runs the loop until *counter reaches want; a watchdog turns a hang into a
 * failure instead of a stuck test run. */
static void run_until(struct fixture *f, const int *counter, int want)
{
    struct timeval limit = {60, 0};

    f->expired = 0;
    evtimer_add(f->watchdog, &limit);
    while (*counter < want && !f->expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    evtimer_del(f->watchdog);
    assert_false(f->expired);
}

static int count_socket_event(const struct event_base *base, const struct event *ev,
                              void *arg)
{
    struct fixture *f = arg;

    (void)base;
    if (event_get_callback_arg(ev) == f->h && event_get_fd(ev) >= 0)
        f->watched++;
    return 0;
}

/* Sockets httpc is watching, recognised by their callback argument: every one
 * must go away once curl says CURL_POLL_REMOVE, or events outlive their fds. */
static int watched_sockets(struct fixture *f)
{
    f->watched = 0;
    event_base_foreach_event(f->base, count_socket_event, f);
    return f->watched;
}

static void run_for_ms(struct fixture *f, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

static void start_on(struct fixture *f, int port, const char *method, const char *path,
                     const char *const *headers, const char *body, size_t len,
                     long timeout_ms, struct got *g)
{
    char url[128];
    struct httpc_request req = {method, url, headers, body, len, timeout_ms, 0};
    char *err = NULL;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    g->f = f;
    assert_int_equal(httpc_start(f->h, &req, on_done, g, &err), 0);
    assert_null(err);
}

static void fetch(struct fixture *f, const char *method, const char *path,
                  const char *const *headers, const char *body, size_t len, struct got *g)
{
    start_on(f, f->port, method, path, headers, body, len, 0, g);
    run_until(f, &g->calls, 1);
    assert_int_equal(g->calls, 1);
}

static void test_get_returns_status_lowercased_trimmed_headers_and_body(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    fetch(f, "GET", "/hello", NULL, NULL, 0, &g);
    assert_int_equal(g.status, 200);
    assert_null(g.error);
    assert_int_equal(g.timed_out, 0);
    assert_string_equal(header(&g, "x-mixed-case"), "padded value");
    assert_string_equal(header(&g, "content-type"), "text/plain");
    assert_string_equal(header(&g, "content-length"), "11");
    for (size_t i = 0; i < g.nheaders; i++) {
        for (const char *p = g.names[i]; *p; p++)
            assert_false(*p >= 'A' && *p <= 'Z');
        size_t n = strlen(g.values[i]);
        assert_true(n == 0 || (g.values[i][0] != ' ' && g.values[i][n - 1] != ' ' &&
                               g.values[i][n - 1] != '\r' && g.values[i][n - 1] != '\t'));
    }
    assert_int_equal(g.body_len, 11);
    assert_memory_equal(g.body, "hello world", 11);
    assert_true(g.body_terminated);
    assert_true(g.total_ms > 0);
    got_clear(&g);
}

static void test_post_sends_method_headers_and_exact_body_bytes(void **state)
{
    struct fixture *f = *state;
    static const char body[] = {'a', '\0', 'b', '\r', '\n', (char)0xff, ' ', 'z'};
    const char *const headers[] = {"X-Custom: abc def",
                                   "Content-Type: application/octet-stream", NULL};
    struct got g = {0};

    fetch(f, "POST", "/echo", headers, body, sizeof(body), &g);
    assert_int_equal(g.status, 201);
    assert_string_equal(header(&g, "x-echo-method"), "POST");
    assert_string_equal(f->seen_custom, "abc def");
    assert_string_equal(f->seen_type, "application/octet-stream");
    assert_int_equal(f->seen_body_len, sizeof(body));
    assert_memory_equal(f->seen_body, body, sizeof(body));
    assert_int_equal(g.body_len, sizeof(body));
    assert_memory_equal(g.body, body, sizeof(body));
    assert_true(g.body_terminated);
    got_clear(&g);
}

static void test_large_post_body_arrives_intact_without_expect_100_continue(void **state)
{
    struct fixture *f = *state;
    size_t len = 3 * 1024 * 1024 + 7;
    char *body = xmalloc(len);
    struct got g = {0};

    for (size_t i = 0; i < len; i++)
        body[i] = (char)(i * 31 + i / 1024);
    fetch(f, "POST", "/echo", NULL, body, len, &g);
    assert_int_equal(g.status, 201);
    assert_false(f->seen_expect);
    assert_int_equal(f->seen_body_len, len);
    assert_memory_equal(f->seen_body, body, len);
    assert_int_equal(g.body_len, len);
    assert_memory_equal(g.body, body, len);
    assert_true(g.body_terminated);
    free(body);
    got_clear(&g);
}

static void test_put_patch_and_delete_go_out_with_the_method_asked_for(void **state)
{
    struct fixture *f = *state;
    const char *const methods[] = {"PUT", "PATCH", "DELETE"};

    for (size_t i = 0; i < 3; i++) {
        struct got g = {0};

        fetch(f, methods[i], "/echo", NULL, "{\"k\":1}", 7, &g);
        assert_int_equal(g.status, 201);
        assert_string_equal(header(&g, "x-echo-method"), methods[i]);
        assert_int_equal(f->seen_body_len, 7);
        assert_memory_equal(f->seen_body, "{\"k\":1}", 7);
        got_clear(&g);
    }
}

static void test_head_returns_headers_and_no_body(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    fetch(f, "HEAD", "/hello", NULL, NULL, 0, &g);
    assert_int_equal(g.status, 200);
    assert_string_equal(header(&g, "x-mixed-case"), "padded value");
    assert_int_equal(g.body_len, 0);
    assert_true(g.body_terminated);
    got_clear(&g);
}

static void test_500_and_429_are_statuses_not_errors(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    fetch(f, "GET", "/status/500", NULL, NULL, 0, &g);
    assert_int_equal(g.status, 500);
    assert_null(g.error);
    assert_string_equal(g.body, "boom");
    got_clear(&g);
    fetch(f, "GET", "/status/429", NULL, NULL, 0, &g);
    assert_int_equal(g.status, 429);
    assert_null(g.error);
    assert_int_equal(g.timed_out, 0);
    assert_string_equal(header(&g, "retry-after"), "7");
    assert_string_equal(g.body, "slow down");
    got_clear(&g);
}

static void test_only_the_final_response_headers_are_kept_after_a_1xx(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    start_raw_server(f);
    start_on(f, f->raw_port, "GET", "/", NULL, NULL, 0, 0, &g);
    run_until(f, &g.calls, 1);
    assert_int_equal(g.status, 200);
    assert_null(header(&g, "x-interim"));
    assert_string_equal(header(&g, "x-final"), "yes");
    assert_string_equal(g.body, "ok");
    got_clear(&g);
}

static void test_closed_port_gives_status_0_and_an_error(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct got g = {0};

    /* Bound but not listening: refused, and no one else can take the port. */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    start_on(f, port_of(fd), "GET", "/", NULL, NULL, 0, 0, &g);
    run_until(f, &g.calls, 1);
    close(fd);
    assert_int_equal(g.status, 0);
    assert_non_null(g.error);
    assert_true(strlen(g.error) > 0);
    assert_int_equal(g.timed_out, 0);
    assert_int_equal(g.nheaders, 0);
    assert_int_equal(g.body_len, 0);
    got_clear(&g);
}

static void test_server_that_never_answers_times_out(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    start_on(f, f->port, "GET", "/hang", NULL, NULL, 0, 300, &g);
    run_until(f, &g.calls, 1);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.timed_out, 1);
    assert_non_null(g.error);
    assert_non_null(strstr(g.error, "timed out"));
    assert_true(g.total_ms >= 250);
    got_clear(&g);
}

static int claims_none(const void *arg, long local_port, long remote_port)
{
    (void)arg;
    (void)local_port;
    (void)remote_port;
    return 0;
}

static void test_time_out_on_demand_reports_like_curls_own_time_out(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    start_on(f, f->port, "GET", "/hang", NULL, NULL, 0, 30000, &g);
    assert_int_equal(httpc_busy(f->h, claims_none, NULL), 1);
    assert_int_equal(httpc_time_out(f->h, &g, "timed out on the virtual clock"), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.timed_out, 1);
    assert_string_equal(g.error, "timed out on the virtual clock");
    assert_int_equal(g.pending_seen, 0);
    assert_int_equal(httpc_busy(f->h, NULL, NULL), 0);
    assert_int_equal(httpc_time_out(f->h, &g, "again"), -1);
    got_clear(&g);
}

static void test_non_http_url_fails_through_done_with_an_error(void **state)
{
    struct fixture *f = *state;
    struct httpc_request req = {"GET", "file:///etc/passwd", NULL, NULL, 0, 0, 0};
    struct got g = {.f = f};
    char *err = NULL;

    assert_int_equal(httpc_start(f->h, &req, on_done, &g, &err), 0);
    run_until(f, &g.calls, 1);
    assert_int_equal(g.status, 0);
    assert_non_null(g.error);
    assert_int_equal(g.body_len, 0);
    got_clear(&g);
}

static void test_request_without_url_is_refused_up_front(void **state)
{
    struct fixture *f = *state;
    struct httpc_request req = {"GET", NULL, NULL, NULL, 0, 0, 0};
    struct got g = {.f = f};
    char *err = NULL;

    assert_int_equal(httpc_start(f->h, &req, on_done, &g, &err), -1);
    assert_non_null(err);
    assert_int_equal(httpc_pending(f->h), 0);
    run_for_ms(f, 50);
    assert_int_equal(g.calls, 0);
    free(err);
}

static void test_200_concurrent_requests_each_complete_exactly_once(void **state)
{
    struct fixture *f = *state;
    struct got *g = xcalloc(MANY, sizeof(*g));
    char path[32];

    for (int i = 0; i < MANY; i++) {
        snprintf(path, sizeof(path), "/n/%d", i);
        start_on(f, f->port, "GET", path, NULL, NULL, 0, 0, &g[i]);
    }
    assert_int_equal(httpc_pending(f->h), MANY);
    run_until(f, &f->done_total, MANY);
    run_for_ms(f, 50); /* room for any duplicate callback to show up */
    assert_int_equal(f->done_total, MANY);
    assert_int_equal(httpc_pending(f->h), 0);
    assert_int_equal(watched_sockets(f), 0);
    for (int i = 0; i < MANY; i++) {
        snprintf(path, sizeof(path), "%d", i);
        assert_int_equal(g[i].calls, 1);
        assert_int_equal(g[i].status, 200);
        assert_string_equal(g[i].body, path);
        got_clear(&g[i]);
    }
    free(g);
}

struct chain {
    struct got first;
    struct got second;
    int start_rc;
    size_t pending_after_start;
};

static void on_first_done(void *arg, const struct httpc_response *res)
{
    struct chain *c = arg;
    char url[128];
    struct httpc_request req = {"GET", url, NULL, NULL, 0, 0, 0};
    char *err = NULL;

    on_done(&c->first, res);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/n/second", c->first.f->port);
    c->start_rc = httpc_start(c->first.f->h, &req, on_done, &c->second, &err);
    c->pending_after_start = httpc_pending(c->first.f->h);
    free(err);
}

static void test_done_callback_can_start_another_request(void **state)
{
    struct fixture *f = *state;
    struct chain c = {.first = {.f = f}, .second = {.f = f}};
    char url[128];
    struct httpc_request req = {"GET", url, NULL, NULL, 0, 0, 0};
    char *err = NULL;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/n/first", f->port);
    assert_int_equal(httpc_start(f->h, &req, on_first_done, &c, &err), 0);
    run_until(f, &c.second.calls, 1);
    assert_int_equal(c.first.calls, 1);
    assert_string_equal(c.first.body, "first");
    assert_int_equal(c.start_rc, 0);
    assert_int_equal(c.pending_after_start, 1);
    assert_int_equal(c.second.calls, 1);
    assert_int_equal(c.second.status, 200);
    assert_string_equal(c.second.body, "second");
    assert_int_equal(httpc_pending(f->h), 0);
    got_clear(&c.first);
    got_clear(&c.second);
}

static void test_pending_counts_transfers_in_flight(void **state)
{
    struct fixture *f = *state;
    struct got g[3] = {{0}};
    int seen[3] = {0};

    assert_int_equal(httpc_pending(f->h), 0);
    for (int i = 0; i < 3; i++)
        start_on(f, f->port, "GET", "/hello", NULL, NULL, 0, 0, &g[i]);
    assert_int_equal(httpc_pending(f->h), 3);
    run_until(f, &f->done_total, 3);
    /* Inside done the finished transfer no longer counts: 2, 1, 0 in turn. */
    for (int i = 0; i < 3; i++) {
        assert_true(g[i].pending_seen < 3);
        seen[g[i].pending_seen]++;
        got_clear(&g[i]);
    }
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 1);
    assert_int_equal(httpc_pending(f->h), 0);
}

static void test_free_with_transfers_in_flight_calls_nothing_back(void **state)
{
    struct fixture *f = *state;
    struct got g[5] = {{0}};

    for (int i = 0; i < 3; i++)
        start_on(f, f->port, "GET", "/hang", NULL, NULL, 0, 0, &g[i]);
    run_until(f, &f->hangs, 3); /* connected, request sent, awaiting a reply */
    for (int i = 3; i < 5; i++) /* not even connected yet */
        start_on(f, f->port, "GET", "/hello", NULL, NULL, 0, 0, &g[i]);
    assert_int_equal(httpc_pending(f->h), 5);
    assert_int_equal(watched_sockets(f), 3);
    httpc_free(f->h);
    f->h = NULL;
    /* Any event httpc left behind would fire here, into freed memory. */
    run_for_ms(f, 200);
    assert_int_equal(f->done_total, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(g[i].calls, 0);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_get_returns_status_lowercased_trimmed_headers_and_body),
        TEST(test_post_sends_method_headers_and_exact_body_bytes),
        TEST(test_large_post_body_arrives_intact_without_expect_100_continue),
        TEST(test_put_patch_and_delete_go_out_with_the_method_asked_for),
        TEST(test_head_returns_headers_and_no_body),
        TEST(test_500_and_429_are_statuses_not_errors),
        TEST(test_only_the_final_response_headers_are_kept_after_a_1xx),
        TEST(test_closed_port_gives_status_0_and_an_error),
        TEST(test_server_that_never_answers_times_out),
        TEST(test_time_out_on_demand_reports_like_curls_own_time_out),
        TEST(test_non_http_url_fails_through_done_with_an_error),
        TEST(test_request_without_url_is_refused_up_front),
        TEST(test_200_concurrent_requests_each_complete_exactly_once),
        TEST(test_done_callback_can_start_another_request),
        TEST(test_pending_counts_transfers_in_flight),
        TEST(test_free_with_transfers_in_flight_calls_nothing_back),
    };

    /* A proxy from the environment must not sit between us and 127.0.0.1. */
    setenv("no_proxy", "*", 1);
    return cmocka_run_group_tests_name("httpc", tests, NULL, NULL);
}
