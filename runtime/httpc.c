/* httpc: owns one curl multi handle, its re-armed evtimer, one persistent event
 * per socket curl asks us to watch, and every in-flight transfer with its
 * buffers. Relies on the caller's event_base for all I/O (curl's multi_socket
 * pattern, as in multi-event.c/hiperfifo.c) and on util.h for allocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "httpc.h"
#include "util.h"

#if LIBCURL_VERSION_NUM < 0x075000
#error "libcurl 7.80 or later is needed (CURLOPT_PREREQFUNCTION)"
#endif

#define DEFAULT_TIMEOUT_MS 30000L
#define CONNECT_TIMEOUT_MS 10000L

struct sock {
    struct event *ev;
    struct sock *prev, *next;
};

struct xfer {
    CURL *easy;
    struct curl_slist *req_headers;
    char *req_body;
    char *body;
    size_t body_len, body_cap;
    struct httpc_header *headers;
    size_t nheaders, headers_cap;
    httpc_done_fn done;
    void *arg;
    int sends; /* times curl was about to put the request on the wire */
    int resend_refused;
    char errbuf[CURL_ERROR_SIZE];
    struct xfer *prev, *next;
};

struct httpc {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct sock *socks;
    struct xfer *xfers;
    size_t pending;
};

static void on_socket_event(evutil_socket_t fd, short kind, void *arg);

/* Events live in xmalloc'd memory so running out of memory takes the one
 * fatal path instead of a NULL from event_new. */
static struct event *alloc_event(struct httpc *h, evutil_socket_t fd, short kind,
                                 event_callback_fn cb)
{
    struct event *ev = xmalloc(event_get_struct_event_size());

    event_assign(ev, h->base, fd, kind, cb, h);
    return ev;
}

static void release_event(struct event *ev)
{
    event_del(ev);
    event_debug_unassign(ev);
    free(ev);
}

static struct sock *sock_new(struct httpc *h, curl_socket_t s, short kind)
{
    struct sock *sk = xcalloc(1, sizeof(*sk));

    sk->ev = alloc_event(h, s, kind, on_socket_event);
    sk->next = h->socks;
    if (h->socks)
        h->socks->prev = sk;
    h->socks = sk;
    event_add(sk->ev, NULL);
    return sk;
}

static void sock_free(struct httpc *h, struct sock *sk)
{
    if (sk->prev)
        sk->prev->next = sk->next;
    else
        h->socks = sk->next;
    if (sk->next)
        sk->next->prev = sk->prev;
    release_event(sk->ev);
    free(sk);
}

static void headers_clear(struct xfer *x)
{
    for (size_t i = 0; i < x->nheaders; i++) {
        free(x->headers[i].name);
        free(x->headers[i].value);
    }
    x->nheaders = 0;
}

static void xfer_free(struct xfer *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->req_headers);
    free(x->req_body);
    headers_clear(x);
    free(x->headers);
    free(x->body);
    free(x);
}

static void xfer_link(struct httpc *h, struct xfer *x)
{
    x->next = h->xfers;
    if (h->xfers)
        h->xfers->prev = x;
    h->xfers = x;
    h->pending++;
}

static void xfer_unlink(struct httpc *h, struct xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        h->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    h->pending--;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space((*s)[0])) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}

static void header_add(struct xfer *x, const char *name, size_t nlen, const char *val,
                       size_t vlen)
{
    struct httpc_header *hd;

    trim(&name, &nlen);
    trim(&val, &vlen);
    if (nlen == 0)
        return;
    if (x->nheaders == x->headers_cap) {
        x->headers_cap = x->headers_cap ? x->headers_cap * 2 : 16;
        x->headers = xrealloc(x->headers, x->headers_cap * sizeof(*x->headers));
    }
    hd = &x->headers[x->nheaders++];
    hd->name = xstrndup(name, nlen);
    for (char *p = hd->name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    hd->value = xstrndup(val, vlen);
}

static size_t on_header(char *line, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n;
    const char *colon;

    /* Every status line starts a new response; only the final one's headers
     * (after any 1xx) describe what the caller gets. */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        headers_clear(x);
        return len;
    }
    /* Obsolete line folding (RFC 7230 3.2.4) is ignored rather than parsed as a
     * header whose name starts with whitespace. */
    if (len == 0 || line[0] == ' ' || line[0] == '\t')
        return len;
    colon = memchr(line, ':', len);
    if (colon)
        header_add(x, line, (size_t)(colon - line), colon + 1,
                   len - (size_t)(colon + 1 - line));
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n;

    if (x->body_len + len + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 1024;
        while (cap < x->body_len + len + 1)
            cap *= 2;
        x->body = xrealloc(x->body, cap);
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, data, len);
    x->body_len += len;
    x->body[x->body_len] = '\0';
    return len;
}

/* libcurl resends a request on its own when the reused keep-alive connection
 * it went out on dies before any answer byte (Curl_retry_request, up to 5
 * times), straight past the caller's token bucket and Retry-After. Whether the
 * upstream read the first copy is unknowable (an idle close racing our write
 * vs. a server that read it and hung up), so every send has to be one the
 * caller decided on: each pass through curl's DO state calls this, and a
 * second one is refused and reported, for the caller to resend (fresh, with a
 * token) or not. Capping connection age or disabling reuse would only make
 * the race rarer, or cost a handshake per request. */
static int on_prereq(void *clientp, char *ip, char *local_ip, int port, int local_port)
{
    struct xfer *x = clientp;

    (void)ip;
    (void)local_ip;
    (void)port;
    (void)local_port;
    if (++x->sends == 1)
        return CURL_PREREQFUNC_OK;
    x->resend_refused = 1;
    return CURL_PREREQFUNC_ABORT;
}

/* URLs come from scripts: never let one read file:// or speak other protocols
 * from the host. */
static CURLcode http_only(CURL *e)
{
#if LIBCURL_VERSION_NUM >= 0x075500
    return curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    return curl_easy_setopt(e, CURLOPT_PROTOCOLS,
                            (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

/* Where the response goes and how the transfer behaves, whatever the request. */
static CURLcode set_plumbing(struct xfer *x)
{
    CURL *e = x->easy;
    CURLcode rc;

    if ((rc = curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x)) ||
        (rc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf)) ||
        (rc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header)) ||
        (rc = curl_easy_setopt(e, CURLOPT_HEADERDATA, x)) ||
        (rc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body)) ||
        (rc = curl_easy_setopt(e, CURLOPT_WRITEDATA, x)) ||
        (rc = curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq)) ||
        (rc = curl_easy_setopt(e, CURLOPT_PREREQDATA, x)) ||
        (rc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)) ||
        (rc = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L)) ||
        (rc = curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "")) ||
        (rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS)))
        return rc;
    return http_only(e);
}

static CURLcode set_request(struct xfer *x, const struct httpc_request *req)
{
    CURL *e = x->easy;
    long timeout = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    CURLcode rc;

    if ((rc = curl_easy_setopt(e, CURLOPT_URL, req->url)) ||
        (rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method)) ||
        (rc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers)) ||
        (rc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout)))
        return rc;
    if (req->body) {
        x->req_body = xmalloc(req->body_len + 1);
        memcpy(x->req_body, req->body, req->body_len);
        if ((rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                   (curl_off_t)req->body_len)) ||
            (rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req_body)))
            return rc;
    }
    /* libcurl silently resends a request whose reused keep-alive connection
     * died before any answer byte, even after the upstream acted on it. Writes
     * must not be sent twice behind the step journal's back (a timeout is
     * reported and the step checks before resending), so only reads reuse
     * (and a caller's resend after resend_refused asks for a fresh one). */
    if ((req->fresh_connect ||
         (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)) &&
        (rc = curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L)))
        return rc;
    /* After the body: POSTFIELDS would otherwise switch HEAD back to POST. */
    if (strcmp(req->method, "HEAD") == 0)
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    return CURLE_OK;
}

static int build_headers(struct xfer *x, const char *const *lines)
{
    struct curl_slist *l;

    for (size_t i = 0; lines && lines[i]; i++) {
        if (!(l = curl_slist_append(x->req_headers, lines[i])))
            return -1;
        x->req_headers = l;
    }
    /* A blank Expect: stops curl waiting for 100-continue on large bodies. */
    if (!(l = curl_slist_append(x->req_headers, "Expect:")))
        return -1;
    x->req_headers = l;
    return 0;
}

int httpc_start(struct httpc *h, const struct httpc_request *req, httpc_done_fn done,
                void *arg, char **err)
{
    struct xfer *x;
    CURLcode rc;
    CURLMcode mrc;

    if (!req || !req->method || !req->url || !done) {
        *err = xstrdup("httpc: a request needs a method, a url and a callback");
        return -1;
    }
    x = xcalloc(1, sizeof(*x));
    x->done = done;
    x->arg = arg;
    if (!(x->easy = curl_easy_init()) || build_headers(x, req->headers) < 0) {
        *err = xstrdup("httpc: cannot set up a curl transfer");
        goto fail;
    }
    if ((rc = set_plumbing(x)) || (rc = set_request(x, req))) {
        *err = xasprintf("httpc: %s request: %s", req->method, curl_easy_strerror(rc));
        goto fail;
    }
    if ((mrc = curl_multi_add_handle(h->multi, x->easy)) != CURLM_OK) {
        *err = xasprintf("httpc: %s request: %s", req->method, curl_multi_strerror(mrc));
        goto fail;
    }
    xfer_link(h, x);
    return 0;
fail:
    xfer_free(x);
    return -1;
}

/* A failed transfer reports no partial headers or body, so a truncated
 * response can never be mistaken for a complete one. */
static void fill_response(struct xfer *x, CURLcode result, struct httpc_response *res)
{
    double secs = 0;

    memset(res, 0, sizeof(*res));
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &secs);
    res->total_ms = secs * 1000.0;
    res->body = "";
    if (x->resend_refused) {
        res->error = "the reused connection closed before any answer; not resent";
        res->resend_refused = 1;
        return;
    }
    if (result != CURLE_OK) {
        res->error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(result);
        res->timed_out = result == CURLE_OPERATION_TIMEDOUT;
        return;
    }
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res->status);
    res->headers = x->headers;
    res->nheaders = x->nheaders;
    if (x->body) {
        res->body = x->body;
        res->body_len = x->body_len;
    }
}

static void finish(struct httpc *h, CURL *easy, CURLcode result)
{
    struct httpc_response res;
    char *priv = NULL;
    struct xfer *x;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    x = (struct xfer *)priv;
    /* Out of the multi before the callback, so a request it starts can reuse
     * this connection and httpc_pending no longer counts this one. */
    xfer_unlink(h, x);
    curl_multi_remove_handle(h->multi, easy);
    fill_response(x, result, &res);
    x->done(x->arg, &res);
    xfer_free(x);
}

/* The transfer started with callback argument arg, or NULL. */
static struct xfer *xfer_of(const struct httpc *h, const void *arg)
{
    for (struct xfer *x = h->xfers; x; x = x->next)
        if (x->arg == arg)
            return x;
    return NULL;
}

int httpc_time_out(struct httpc *h, void *arg, const char *why)
{
    struct httpc_response res;
    struct xfer *x = xfer_of(h, arg);

    if (!x)
        return -1;
    xfer_unlink(h, x);
    curl_multi_remove_handle(h->multi, x->easy);
    /* reported like curl's own CURLE_OPERATION_TIMEDOUT (fill_response) */
    snprintf(x->errbuf, sizeof x->errbuf, "%s", why);
    fill_response(x, CURLE_OPERATION_TIMEDOUT, &res);
    x->done(x->arg, &res);
    xfer_free(x);
    return 0;
}

void httpc_cancel_all(struct httpc *h)
{
    while (h->xfers) {
        struct xfer *x = h->xfers;

        xfer_unlink(h, x); // NOLINT(clang-analyzer-unix.Malloc): x is the head, prev is NULL
        curl_multi_remove_handle(h->multi, x->easy);
        xfer_free(x);
    }
}

size_t httpc_busy(const struct httpc *h, httpc_parked_fn parked, const void *arg)
{
    size_t n = 0;

    for (const struct xfer *x = h->xfers; x; x = x->next) {
        long local = 0, remote = 0;

        curl_easy_getinfo(x->easy, CURLINFO_LOCAL_PORT, &local);
        curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_PORT, &remote);
        if (!parked || local <= 0 || !parked(arg, local, remote))
            n++;
    }
    return n;
}

static void drain(struct httpc *h)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(h->multi, &left))) {
        /* msg dies with curl_multi_remove_handle: copy what finish needs. */
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;

        if (msg->msg == CURLMSG_DONE)
            finish(h, easy, result);
    }
}

static void on_socket_event(evutil_socket_t fd, short kind, void *arg)
{
    struct httpc *h = arg;
    int action = 0;
    int running;

    if (kind & EV_READ)
        action |= CURL_CSELECT_IN;
    if (kind & EV_WRITE)
        action |= CURL_CSELECT_OUT;
    curl_multi_socket_action(h->multi, fd, action, &running);
    drain(h);
}

static void on_timer_event(evutil_socket_t fd, short kind, void *arg)
{
    struct httpc *h = arg;
    int running;

    (void)fd;
    (void)kind;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(h);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct httpc *h = userp;
    struct sock *sk = socketp;
    short kind = EV_PERSIST;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sk)
            sock_free(h, sk);
        return 0;
    }
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    if (!sk) {
        sk = sock_new(h, s, kind);
        curl_multi_assign(h->multi, s, sk);
        return 0;
    }
    event_del(sk->ev);
    event_assign(sk->ev, h->base, s, kind, on_socket_event, h);
    event_add(sk->ev, NULL);
    return 0;
}

/* Only re-arms the timer: calling curl from here would re-enter it. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *h = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        event_del(h->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    event_add(h->timer, &tv);
    return 0;
}

struct httpc *httpc_new(struct event_base *base)
{
    static int curl_ready;
    struct httpc *h;

    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        curl_ready = 1;
    }
    h = xcalloc(1, sizeof(*h));
    h->base = base;
    if (!(h->multi = curl_multi_init())) {
        free(h);
        return NULL;
    }
    h->timer = alloc_event(h, -1, 0, on_timer_event);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return h;
}

void httpc_free(struct httpc *h)
{
    if (!h)
        return;
    httpc_cancel_all(h);
    curl_multi_cleanup(h->multi);
    /* curl should have said CURL_POLL_REMOVE for every socket by now; free any
     * it did not rather than leave an event pointing at a dead httpc. */
    while (h->socks)
        sock_free(h, h->socks); // NOLINT(clang-analyzer-unix.Malloc): unlinks the head
    release_event(h->timer);
    free(h);
}

size_t httpc_pending(const struct httpc *h)
{
    return h->pending;
}
