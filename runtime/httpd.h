/* httpd: the evhttp listener — webhook intake, /events, health, metrics,
 * status, admin endpoints, and the simulated upstreams under /sandbox/.
 * Replies that must wait (for a group commit, or for a Lua task) are kept
 * as numbered pending replies, dropped safely if the client goes away. */
#ifndef ATSF_HTTPD_H
#define ATSF_HTTPD_H

#include <stddef.h>
#include <stdint.h>

struct engine;
struct httpd;

struct httpd_opts {
    const char *listen;  /* "address:port"; port 0 picks one */
    size_t max_body;
    size_t max_connections;  /* more are answered 503 and closed */
    int64_t read_timeout_ms; /* a request must arrive within this; also the idle timeout */
};

struct httpd *httpd_start(struct engine *e, const struct httpd_opts *o, char **err);
void httpd_free(struct httpd *h);
/* "http://127.0.0.1:PORT" of the bound socket. */
const char *httpd_url(const struct httpd *h);
/* While draining, webhooks and /events are answered 503. */
void httpd_drain(struct httpd *h);
/* Answers pending reply `id` (headers: name, value, ..., NULL; may be NULL);
 * returns 0, or -1 when the client is gone. */
int httpd_reply(struct httpd *h, uint64_t id, int status, const char *ctype,
                const char *body, size_t len, const char *const *headers);
/* Pending replies, but parked ones. */
size_t httpd_pending(const struct httpd *h);
/* Pending reply `id` is never answered (the simulator's stalled upstream):
 * dropped when its client goes away, not counted by httpd_pending.
 * Returns 0, or -1 when there is no such reply or its client is gone. */
int httpd_park(struct httpd *h, uint64_t id);
/* Whether the client at `client_port`, connected to `server_port`, waits
 * on a parked reply of ours. */
int httpd_parked_peer(const struct httpd *h, long client_port, long server_port);

#endif
