/* httpc: outbound HTTP on libcurl's multi interface, driven by the libevent
 * loop (the multi_socket pattern: one persistent event per socket, one
 * re-armed timer). Nothing here blocks the loop and nothing here knows Lua. */
#ifndef ATSF_HTTPC_H
#define ATSF_HTTPC_H

#include <stddef.h>

struct event_base;
struct httpc;

struct httpc_header {
    char *name;  /* lower-cased */
    char *value; /* trimmed */
};

struct httpc_request {
    const char *method;        /* "GET", "POST", "PUT", ... */
    const char *url;           /* absolute, query already encoded */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;          /* may be NULL */
    size_t body_len;
    long timeout_ms;           /* whole transfer; 0 = 30000 */
    int fresh_connect;         /* 1: never reuse a kept-alive connection */
};

struct httpc_response {
    long status;             /* 0 when the transfer failed (see error) */
    const char *error;       /* NULL on success; curl's message otherwise */
    int timed_out;           /* 1 when the failure was a timeout */
    int resend_refused;      /* 1 when libcurl wanted to resend on its own (httpc.c) */
    const struct httpc_header *headers;
    size_t nheaders;
    const char *body;        /* NUL-terminated for convenience; body_len excludes it */
    size_t body_len;
    double total_ms;
};

/* Called exactly once per request, from the loop; the response and everything
 * it points to is freed when the callback returns. */
typedef void (*httpc_done_fn)(void *arg, const struct httpc_response *res);

struct httpc *httpc_new(struct event_base *base);
void httpc_free(struct httpc *h); /* cancels pending transfers without calling back */

/* Starts a transfer; returns 0, or -1 with *err set (malloc'd) when it could
 * not even start. */
int httpc_start(struct httpc *h, const struct httpc_request *req,
                httpc_done_fn done, void *arg, char **err);

/* Number of transfers in flight. */
size_t httpc_pending(const struct httpc *h);

/* Ends the transfer started with callback argument `arg` as a time-out
 * (status 0, timed_out 1, error `why`), calling back at once: the virtual
 * clock's deadlines under `atsflow test`. Returns -1 when there is none. */
int httpc_time_out(struct httpc *h, void *arg, const char *why);

/* Drops every transfer without calling back (a closed test world's). */
void httpc_cancel_all(struct httpc *h);

/* Whether the server end of a connection (the client's local and remote
 * ports) holds its request without answering on purpose. */
typedef int (*httpc_parked_fn)(const void *arg, long local_port, long remote_port);

/* Transfers in flight, but those `parked` claims (may be NULL). */
size_t httpc_busy(const struct httpc *h, httpc_parked_fn parked, const void *arg);

#endif
