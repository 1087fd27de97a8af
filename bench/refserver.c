/* refserver: the reference of the intake benchmark (bench/README.md). A
 * minimal libevent evhttp server, set up like atsflow's (same backlog, same
 * limits), that answers 200 "ok" to every request without doing anything.
 * usage: refserver PORT */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static void answer(struct evhttp_request *req, void *arg)
{
    struct evbuffer *out = arg;
    evbuffer_add(out, "ok\n", 3);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, 200, NULL, out);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: refserver PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    struct evbuffer *out = evbuffer_new();
    evhttp_set_max_body_size(http, 1 << 20);
    evhttp_set_max_headers_size(http, 64 * 1024);
    evhttp_set_timeout(http, 30);
    evhttp_set_gencb(http, answer, out);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)atoi(argv[1]));
    if (!bs) {
        fprintf(stderr, "refserver: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    listen(evhttp_bound_socket_get_fd(bs), 4096);
    event_base_dispatch(base);
    return 0;
}
