/* fakeups: the fake upstream of the end-to-end benchmark (bench/README.md):
 * answers the Greenhouse Harvest v3 calls that `ats.add_tag` makes, at once,
 * from constants. Catalog reads (/v3/jobs) answer 503 so the catalog stays
 * unknown and trigger names match at run time (no catalog traffic during a
 * run). Every answer carries rate-limit headers advertising a large window.
 *   POST /token                         {"access_token":...,"expires_in":3600}
 *   GET  /v3/candidate_tags             [{"id":1,"name":"x"}]
 *   GET  /v3/applied_candidate_tags     []
 *   POST /v3/applied_candidate_tags     201 {"id":1}   (counted)
 *   GET  /__stats                       {"tags_applied":N,"requests":M}
 * usage: fakeups PORT */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static unsigned long long tags_applied, requests;

static void reply(struct evhttp_request *req, int status, const char *body)
{
    struct evbuffer *out = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char reset[32];
    snprintf(reset, sizeof reset, "%ld", (long)time(NULL) + 30);
    evbuffer_add(out, body, strlen(body));
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "X-RateLimit-Limit", "3000000");
    evhttp_add_header(h, "X-RateLimit-Remaining", "2999999");
    evhttp_add_header(h, "X-RateLimit-Reset", reset);
    evhttp_send_reply(req, status, NULL, out);
    evbuffer_free(out);
}

static void route(struct evhttp_request *req, void *arg)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    int post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    char buf[128];
    (void)arg;
    requests++;
    if (!path)
        reply(req, 404, "{}");
    else if (strcmp(path, "/token") == 0)
        reply(req, 200, "{\"access_token\":\"bench-token\",\"token_type\":\"bearer\","
                        "\"expires_in\":3600}");
    else if (strcmp(path, "/v3/candidate_tags") == 0 && !post)
        reply(req, 200, "[{\"id\":1,\"name\":\"x\"}]");
    else if (strcmp(path, "/v3/applied_candidate_tags") == 0 && !post)
        reply(req, 200, "[]");
    else if (strcmp(path, "/v3/applied_candidate_tags") == 0) {
        tags_applied++;
        reply(req, 201, "{\"id\":1}");
    } else if (strcmp(path, "/__stats") == 0) {
        snprintf(buf, sizeof buf, "{\"tags_applied\":%llu,\"requests\":%llu}", tags_applied,
                 requests);
        reply(req, 200, buf);
    } else if (strncmp(path, "/v3/jobs", 8) == 0)
        reply(req, 503, "{\"message\":\"the bench fake has no catalog\"}");
    else
        reply(req, post ? 201 : 200, post ? "{\"id\":1}" : "[]");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fakeups PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, route, NULL);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)atoi(argv[1]));
    if (!bs) {
        fprintf(stderr, "fakeups: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    listen(evhttp_bound_socket_get_fd(bs), 4096);
    event_base_dispatch(base);
    return 0;
}
