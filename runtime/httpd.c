/* httpd: evhttp routes (see httpd.h). Webhook answers wait for the group
 * commit holding their delivery; everything else answers at once or from a
 * Lua task (the sandbox simulator) through a pending-reply id.
 *
 * Limits against hostile or broken clients (libevent 2.1 has no connection
 * cap and only inactivity timeouts, which a client sending one byte now and
 * then never trips):
 * - every accepted connection is adopted (struct conn) right after evhttp
 *   set it up: beyond max_connections it is answered 503 and closed at once;
 * - a request must arrive complete within read_timeout of the connection
 *   opening or of the previous answer being written (a per-connection
 *   deadline, so slow clients are cut off holding only their few bytes);
 *   keep-alive connections serve at most MAX_REQUESTS_PER_CONN requests;
 * - bodies over max_body are 413, headers over MAX_HEADERS_SIZE (request
 *   line included) are refused by evhttp, more than MAX_HEADERS headers are
 *   431 and a request target over MAX_URI bytes is 414. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <lauxlib.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "engine.h"
#include "host.h"
#include "httpd.h"
#include "journal.h"
#include "log.h"
#include "lstate.h"
#include "metrics.h"
#include "util.h"

struct pending {
    uint64_t id;
    struct evhttp_request *req; /* NULL once the client went away */
    struct evhttp_connection *conn;
    struct httpd *h;
    int status;
    char *body;
    int64_t delivery;
    int parked; /* never answered: dropped when the client goes away */
    ev_uint16_t peer_port;
    struct pending *next;
};

#define MAX_HEADERS_SIZE (32 * 1024)
#define MAX_HEADERS 100
#define MAX_URI 8192
#define MAX_REQUESTS_PER_CONN 1000

/* One open client connection. */
struct conn {
    struct httpd *h;
    struct evhttp_connection *evcon;
    struct bufferevent *bev;         /* evhttp's, valid while evcon is */
    struct evbuffer_cb_entry *sniff; /* on its output: answers evhttp makes itself */
    struct event *deadline;          /* the next request must be complete by then */
    unsigned requests;
    int routed; /* a request reached route() and is not answered yet */
    struct conn *prev, *next;
};

struct httpd {
    struct engine *e;
    struct evhttp *http;
    char url[300];
    int draining;
    uint64_t next_id;
    struct pending *pending;
    size_t npending; /* not parked */
    int port;        /* the bound port */
    struct conn *conns;
    size_t nconns, max_conns;
    struct timeval read_tv;
    struct event *adopt_ev;     /* adopts the connections accepted this turn */
    struct bufferevent **fresh; /* their bufferevents (one reference each) */
    size_t nfresh, capfresh;
    unsigned long refused;     /* over max_connections since the last log line */
    int64_t refused_logged_at; /* monotonic ms */
};

static void send_text(struct evhttp_request *req, int status, const char *ctype,
                      const char *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, body, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, status, NULL, out);
    evbuffer_free(out);
}

static void send_str(struct evhttp_request *req, int status, const char *body)
{
    send_text(req, status, "text/plain; charset=utf-8", body, strlen(body));
}

static const char *method_name(struct evhttp_request *req);

/* Answers a request the HTTP layer refuses, with one log line saying why
 * (never a header or the body: those may hold secrets). */
static void refuse(struct evhttp_request *req, int status, const char *why)
{
    char st[16], target[201];
    snprintf(st, sizeof st, "%d", status);
    const char *uri = evhttp_request_get_uri(req);
    snprintf(target, sizeof target, "%s", uri ? uri : "");
    size_t n = strlen(why);
    char *reason = xstrndup(why, n && why[n - 1] == '\n' ? n - 1 : n);
    log_kv(LOG_WARN, "request refused",
           (const char *[]){"method", method_name(req), "target", target, "status", st, "reason",
                            reason, NULL});
    free(reason);
    send_str(req, status, why);
}

/* ---- connections ---- */

static void metric_conns(struct httpd *h)
{
    metrics_set(h->e->host->metrics, "atsflow_http_connections", "", (double)h->nconns);
}

/* evhttp frees the connection (client gone, timeout, error, close after
 * the answer, or the deadline below): pending answers to it are dropped. */
static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct conn *c = arg;
    struct httpd *h = c->h;
    for (struct pending **pp = &h->pending; *pp;) {
        struct pending *p = *pp;
        if (p->conn == evcon && p->parked) {
            *pp = p->next;
            free(p->body);
            free(p);
            continue;
        }
        if (p->conn == evcon)
            p->req = NULL;
        pp = &p->next;
    }
    evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->sniff);
    event_free(c->deadline);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    h->nconns--;
    metric_conns(h);
}

static void conn_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    metrics_add(c->h->e->host->metrics, "atsflow_http_timeouts_total", "", 1);
    log_msg(LOG_DEBUG, "connection closed: no complete request within read_timeout", NULL, NULL);
    evhttp_connection_free(c->evcon); /* conn_closed frees c */
}

static struct conn *conn_of(struct httpd *h, struct evhttp_connection *evcon)
{
    for (struct conn *c = h->conns; c; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

/* An answer was written: the connection may carry the next request, which
 * must then be complete within read_timeout (also the keep-alive idle). */
static void answer_written(struct evhttp_request *req, void *arg)
{
    struct conn *c = arg;
    c->routed = 0;
    event_add(c->deadline, &c->h->read_tv);
}

/* evhttp answers some requests itself, without route() ever seeing them
 * (413 for a body or headers over the limit, 400 for a malformed request,
 * 501 for an unknown method): their status line is spotted on the way out
 * and logged, so every refusal has a log line. */
static void sniff_answer(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    char head[13] = {0};
    struct evbuffer_ptr at;
    if (c->routed || info->n_added < 12 ||
        evbuffer_ptr_set(buf, &at, info->orig_size, EVBUFFER_PTR_SET) < 0 ||
        evbuffer_copyout_from(buf, &at, head, 12) < 12 || memcmp(head, "HTTP/1.", 7) != 0)
        return;
    int status = atoi(head + 9);
    if (status < 400)
        return;
    const char *why = status == 413   ? "request line, headers or body over the limit"
                      : status == 400 ? "malformed request"
                      : status == 501 ? "unknown method"
                      : status == 417 ? "unsupported Expect"
                                      : "refused by evhttp";
    char st[16], labels[32];
    snprintf(st, sizeof st, "%d", status);
    snprintf(labels, sizeof labels, "status=\"%d\"", status);
    metrics_add(c->h->e->host->metrics, "atsflow_http_refused_total", labels, 1);
    log_kv(LOG_WARN, "request refused", (const char *[]){"status", st, "reason", why, NULL});
}

/* evhttp calls this for each accepted connection, before the connection
 * object exists; the connection is adopted once evhttp is done with it. */
static struct bufferevent *new_bev(struct event_base *base, void *arg)
{
    struct httpd *h = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    if (h->nfresh == h->capfresh) {
        h->capfresh = h->capfresh ? h->capfresh * 2 : 16;
        h->fresh = xrealloc(h->fresh, h->capfresh * sizeof *h->fresh);
    }
    bufferevent_incref(bev); /* stays valid until adopted, even if evhttp fails it */
    h->fresh[h->nfresh++] = bev;
    event_active(h->adopt_ev, 0, 0);
    return bev;
}

#define TOO_MANY_BODY "too many open connections; retry later\n"
static const char too_many[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               "Retry-After: 1\r\nConnection: close\r\nContent-Length: 39\r\n\r\n"
                               TOO_MANY_BODY;
_Static_assert(sizeof TOO_MANY_BODY - 1 == 39, "Content-Length of too_many");

static void adopt(evutil_socket_t fd, short what, void *arg)
{
    struct httpd *h = arg;
    size_t n = h->nfresh;
    struct bufferevent **list = h->fresh;
    h->fresh = NULL;
    h->nfresh = h->capfresh = 0;
    for (size_t i = 0; i < n; i++) {
        struct bufferevent *bev = list[i];
        void *cbarg = NULL;
        bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg); /* evhttp's: the connection */
        struct evhttp_connection *evcon = cbarg;
        if (evcon && h->nconns >= h->max_conns) {
            send(bufferevent_getfd(bev), too_many, sizeof too_many - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            metrics_add(h->e->host->metrics, "atsflow_http_connections_refused_total", "", 1);
            h->refused++;
            int64_t now = util_mono_ms();
            if (now - h->refused_logged_at >= 1000) { /* one line a second under a flood */
                char count[32];
                snprintf(count, sizeof count, "%lu", h->refused);
                log_kv(LOG_WARN, "connections refused: too many open (max_connections)",
                       (const char *[]){"status", "503", "refused", count, NULL});
                h->refused = 0;
                h->refused_logged_at = now;
            }
            evhttp_connection_free(evcon);
        } else if (evcon) {
            struct conn *c = xcalloc(1, sizeof *c);
            c->h = h;
            c->evcon = evcon;
            c->bev = bev;
            c->sniff = evbuffer_add_cb(bufferevent_get_output(bev), sniff_answer, c);
            c->deadline = evtimer_new(evhttp_connection_get_base(evcon), conn_deadline, c);
            event_add(c->deadline, &h->read_tv);
            c->next = h->conns;
            if (h->conns)
                h->conns->prev = c;
            h->conns = c;
            h->nconns++;
            evhttp_connection_set_closecb(evcon, conn_closed, c);
            metric_conns(h);
        }
        bufferevent_decref(bev);
    }
    free(list);
}

/* ---- pending replies ---- */

static struct pending *pending_new(struct httpd *h, struct evhttp_request *req)
{
    struct pending *p = xcalloc(1, sizeof *p);
    p->id = ++h->next_id;
    p->req = req;
    p->h = h;
    p->conn = evhttp_request_get_connection(req);
    p->next = h->pending;
    h->pending = p;
    h->npending++;
    return p;
}

static struct pending *pending_take(struct httpd *h, uint64_t id)
{
    for (struct pending **pp = &h->pending; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct pending *p = *pp;
            *pp = p->next;
            if (!p->parked)
                h->npending--;
            return p;
        }
    }
    return NULL;
}

int httpd_reply(struct httpd *h, uint64_t id, int status, const char *ctype,
                const char *body, size_t len, const char *const *headers)
{
    struct pending *p = pending_take(h, id);
    int ok = p && p->req;
    for (size_t i = 0; ok && headers && headers[i] && headers[i + 1]; i += 2)
        evhttp_add_header(evhttp_request_get_output_headers(p->req), headers[i], headers[i + 1]);
    if (ok)
        send_text(p->req, status, ctype ? ctype : "text/plain; charset=utf-8", body, len);
    if (p) {
        free(p->body);
        free(p);
    }
    return ok ? 0 : -1;
}

size_t httpd_pending(const struct httpd *h)
{
    return h->npending;
}

int httpd_park(struct httpd *h, uint64_t id)
{
    for (struct pending *p = h->pending; p; p = p->next) {
        if (p->id != id || p->parked)
            continue;
        if (!p->req) { /* the client is gone already: nothing to hold */
            pending_take(h, id);
            free(p->body);
            free(p);
            return -1;
        }
        char *addr = NULL; /* evhttp's own string */
        evhttp_connection_get_peer(p->conn, &addr, &p->peer_port);
        p->parked = 1;
        h->npending--;
        return 0;
    }
    return -1;
}

int httpd_parked_peer(const struct httpd *h, long client_port, long server_port)
{
    if (server_port != h->port)
        return 0;
    for (const struct pending *p = h->pending; p; p = p->next)
        if (p->parked && p->peer_port == client_port)
            return 1;
    return 0;
}

/* ---- request → Lua ---- */

static const char *body_of(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    const char *b = (const char *)evbuffer_pullup(in, -1);
    return b ? b : "";
}

static void push_headers(lua_State *L, struct evhttp_request *req)
{
    lua_newtable(L); // h
    struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = hs->tqh_first; kv; kv = kv->next.tqe_next) {
        char *name = xstrdup(kv->key);
        for (char *c = name; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        lua_pushstring(L, kv->value); // h v
        lua_setfield(L, -2, name);
        free(name);
    }
}

static void push_query(lua_State *L, const struct evhttp_uri *uri)
{
    lua_newtable(L); // q
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq kvs;
    if (!q || evhttp_parse_query_str(q, &kvs) != 0)
        return;
    for (struct evkeyval *kv = kvs.tqh_first; kv; kv = kv->next.tqe_next) {
        lua_pushstring(L, kv->value); // q v
        lua_setfield(L, -2, kv->key);
    }
    evhttp_clear_headers(&kvs);
}

static const char *method_name(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_PATCH: return "PATCH";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    default: return "OTHER";
    }
}

/* Pushes { method, path, query, headers, body } on L. */
static void push_request(lua_State *L, struct evhttp_request *req, const char *path)
{
    size_t len;
    const char *body = body_of(req, &len);
    lua_createtable(L, 0, 5);                 // r
    lua_pushstring(L, method_name(req));
    lua_setfield(L, -2, "method");
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    push_query(L, evhttp_request_get_evhttp_uri(req));
    lua_setfield(L, -2, "query");
    push_headers(L, req);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, body, len);
    lua_setfield(L, -2, "body");
}

/* ---- webhooks ---- */

static void after_commit(void *arg, int ok)
{
    struct pending *p = arg;
    struct httpd *h = p->h;
    struct pending *mine = pending_take(h, p->id);
    struct lstate *st = h->e->current; /* the version active now processes it */
    if (ok && st && mine->delivery > 0) {
        lua_pushinteger(st->L, mine->delivery); // id
        lstate_spawn(st, "process_delivery", 1);
    }
    if (mine->req) {
        if (ok)
            send_str(mine->req, mine->status, mine->body);
        else
            send_str(mine->req, 503, "journal cannot be written; retry later\n");
    }
    free(mine->body);
    free(mine);
}

/* Reads { status, body, delivery, after_commit } left by engine.intake /
 * engine.inject; a journaled delivery (or a duplicate of one that may not be
 * committed yet) is answered only after the group commit. */
static void answer_intake(struct httpd *h, struct evhttp_request *req, lua_State *L)
{
    lua_getfield(L, -1, "status"); // res status
    lua_getfield(L, -2, "body");   // res status body
    lua_getfield(L, -3, "delivery");
    lua_getfield(L, -4, "after_commit"); // res status body delivery wait
    int status = (int)luaL_optinteger(L, -4, 500);
    const char *body = luaL_optstring(L, -3, "");
    lua_Integer delivery = luaL_optinteger(L, -2, 0);
    int wait = delivery > 0 || lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!wait) {
        send_str(req, status, body);
    } else {
        struct pending *p = pending_new(h, req);
        p->status = status;
        p->body = xstrdup(body);
        p->delivery = delivery;
        journal_on_commit(h->e->host->journal, after_commit, p);
    }
    lua_pop(L, 4);
}

static void call_intake(struct httpd *h, struct evhttp_request *req, const char *fname,
                        const char *source, const char *path)
{
    struct lstate *st = h->e->current;
    lua_State *L = st->L;
    int nargs = 1;
    if (source) {
        lua_pushstring(L, source); // source
        push_request(L, req, path); // source req
        nargs = 2;
    } else {
        size_t len;
        const char *body = body_of(req, &len);
        lua_pushlstring(L, body, len); // body
    }
    char *err = NULL;
    if (lstate_call(st, fname, nargs, 1, &err) < 0) {
        log_msg(LOG_ERROR, "intake failed", "error", err);
        free(err);
        send_str(req, 500, "internal error\n");
        return;
    }
    answer_intake(h, req, L);
}

static int token_ok(struct httpd *h, struct evhttp_request *req)
{
    const char *want = h->e->set.admin_token;
    const char *got = evhttp_find_header(evhttp_request_get_input_headers(req),
                                         "Authorization");
    if (!want || !*want || !got || strncmp(got, "Bearer ", 7) != 0)
        return 0;
    got += 7;
    size_t a = strlen(want), b = strlen(got);
    return a == b && CRYPTO_memcmp(want, got, a) == 0;
}

/* ---- operator endpoints ---- */

static void on_status(struct httpd *h, struct evhttp_request *req)
{
    struct engine *e = h->e;
    lua_State *L = e->current->L;
    lua_createtable(L, 0, 4); // info
    lua_pushinteger(L, (util_mono_ms() - e->host->start_mono) / 1000);
    lua_setfield(L, -2, "uptime_s");
    lua_pushinteger(L, e->loaded_at);
    lua_setfield(L, -2, "loaded_at");
    if (e->last_reload_error) {
        lua_pushstring(L, e->last_reload_error);
        lua_setfield(L, -2, "last_reload_error");
    }
    lua_pushinteger(L, (lua_Integer)e->current->mem_used);
    lua_setfield(L, -2, "script_memory");
    char *err = NULL;
    if (lstate_call(e->current, "status", 1, 1, &err) < 0) {
        send_str(req, 500, "status failed\n");
        log_msg(LOG_ERROR, "status failed", "error", err);
        free(err);
        return;
    }
    size_t len;
    const char *json = lua_tolstring(L, -1, &len);
    send_text(req, 200, "application/json", json ? json : "{}", json ? len : 2);
    lua_pop(L, 1);
}

static void on_metrics(struct httpd *h, struct evhttp_request *req)
{
    struct host *hs = h->e->host;
    uint64_t commits, writes;
    journal_stats(hs->journal, &commits, &writes);
    metrics_set(hs->metrics, "atsflow_journal_commits", "", (double)commits);
    metrics_set(hs->metrics, "atsflow_journal_writes", "", (double)writes);
    metrics_set(hs->metrics, "atsflow_script_memory_bytes", "", (double)h->e->current->mem_used);
    char *err = NULL;
    if (lstate_call(h->e->current, "metrics", 0, 0, &err) < 0) {
        log_msg(LOG_WARN, "metrics from the journal failed", "error", err);
        free(err);
    }
    struct evbuffer *out = evbuffer_new();
    metrics_render(hs->metrics, out);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, NULL, out);
    evbuffer_free(out);
}

/* The build on the worker thread is in: 200 with the new version, or 422
 * with the errors and the version that stays. */
static void reload_answered(void *arg, int rc, const char *text)
{
    struct pending *p = arg;
    struct httpd *h = p->h;
    struct pending *mine = pending_take(h, p->id);
    if (mine && mine->req) {
        char *body = rc == 0 ? xasprintf("{\"version\":\"%s\"}\n", text)
                             : xasprintf("reload failed; version %s stays active\n%s\n",
                                         engine_version(h->e), text);
        if (rc == 0)
            send_text(mine->req, 200, "application/json", body, strlen(body));
        else
            send_str(mine->req, 422, body);
        free(body);
    }
    if (mine) {
        free(mine->body);
        free(mine);
    }
}

/* Answered when the build completes; intake goes on meanwhile. */
static void on_reload(struct httpd *h, struct evhttp_request *req)
{
    engine_reload_async(h->e, reload_answered, pending_new(h, req));
}

static void on_replay(struct httpd *h, struct evhttp_request *req, const char *id)
{
    lua_State *L = h->e->current->L;
    lua_pushstring(L, id); // id
    char *err = NULL;
    if (lstate_call(h->e->current, "replay", 1, 2, &err) < 0) {
        send_str(req, 500, "replay failed\n");
        free(err);
        return;
    }
    int status = (int)luaL_optinteger(L, -2, 500);
    send_str(req, status, luaL_optstring(L, -1, ""));
    lua_pop(L, 2);
}

static void on_sandbox(struct httpd *h, struct evhttp_request *req, const char *path)
{
    struct lstate *sim = h->e->sim;
    if (!sim) {
        send_str(req, 404, "the sandbox is not configured (ats = { sandbox = {} })\n");
        return;
    }
    struct pending *p = pending_new(h, req);
    lua_pushinteger(sim->L, (lua_Integer)p->id); // id
    push_request(sim->L, req, path);             // id req
    lstate_spawn(sim, "handle", 2);
}

/* ---- routing ---- */

static int from_loopback(struct evhttp_request *req)
{
    char *addr = NULL;
    ev_uint16_t port;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    return addr && (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0);
}

static int is_post(struct evhttp_request *req)
{
    return evhttp_request_get_command(req) == EVHTTP_REQ_POST;
}

static void route_admin(struct httpd *h, struct evhttp_request *req, const char *path)
{
    if (!token_ok(h, req)) {
        refuse(req, 401, h->e->set.admin_token
                               ? "missing or wrong admin token (Authorization: Bearer …)\n"
                               : "admin endpoints are off: set admin_token in the config\n");
        return;
    }
    if (!is_post(req))
        refuse(req, 405, "use POST\n");
    else if (strcmp(path, "/admin/reload") == 0)
        on_reload(h, req);
    else if (strncmp(path, "/admin/replay/", 14) == 0 && path[14])
        on_replay(h, req, path + 14);
    else if (strcmp(path, "/events") == 0)
        h->draining ? refuse(req, 503, "draining\n")
                    : call_intake(h, req, "inject", NULL, path);
    else
        refuse(req, 404, "not found\n");
}

static void route_open(struct httpd *h, struct evhttp_request *req, const char *path)
{
    int get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
    if (strcmp(path, "/healthz") == 0) {
        int ok = !h->draining && journal_healthy(h->e->host->journal);
        send_str(req, ok ? 200 : 503, ok ? "ok\n" : "unavailable\n");
    } else if (!from_loopback(req) && !token_ok(h, req)) {
        refuse(req, 401, "only on loopback, or with the admin token\n");
    } else if (!get) {
        refuse(req, 405, "use GET\n");
    } else if (strcmp(path, "/metrics") == 0) {
        on_metrics(h, req);
    } else if (strcmp(path, "/status") == 0) {
        on_status(h, req);
    } else {
        refuse(req, 404, "not found\n");
    }
}

/* A complete request arrived: no deadline while it is answered; limits
 * evhttp does not check. Returns 0 when the request was answered here. */
static int admit(struct httpd *h, struct evhttp_request *req)
{
    struct conn *c = conn_of(h, evhttp_request_get_connection(req));
    if (c) {
        event_del(c->deadline);
        c->routed = 1;
        evhttp_request_set_on_complete_cb(req, answer_written, c);
        if (++c->requests >= MAX_REQUESTS_PER_CONN)
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    }
    const char *target = evhttp_request_get_uri(req);
    if (target && strlen(target) > MAX_URI) {
        refuse(req, 414, "request target too long\n");
        return 0;
    }
    int n = 0;
    struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = hs->tqh_first; kv; kv = kv->next.tqe_next)
        n++;
    if (n > MAX_HEADERS) {
        refuse(req, 431, "too many header fields\n");
        return 0;
    }
    return 1;
}

static void route(struct evhttp_request *req, void *arg)
{
    struct httpd *h = arg;
    if (!admit(h, req))
        return;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    char *path = evhttp_uridecode(raw ? raw : "/", 0, NULL);
    if (strncmp(path, "/webhooks/", 10) == 0) {
        if (!is_post(req))
            refuse(req, 405, "webhooks are POST\n");
        else if (h->draining)
            refuse(req, 503, "draining: retry later\n");
        else
            call_intake(h, req, "intake", path + 10, path);
    } else if (strncmp(path, "/sandbox/", 9) == 0) {
        if (from_loopback(req))
            on_sandbox(h, req, path);
        else
            refuse(req, 403, "the sandbox answers on loopback only\n");
    } else if (strncmp(path, "/admin/", 7) == 0 || strcmp(path, "/events") == 0) {
        route_admin(h, req, path);
    } else {
        route_open(h, req, path);
    }
    free(path);
}

/* evhttp listens with a backlog of 128; bursts of webhooks need more. */
static void listen_backlog(evutil_socket_t fd)
{
    listen(fd, 4096);
}

static int bind_listen(struct httpd *h, const char *listen, char **err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host) {
        *err = xasprintf("listen '%s': expected address:port", listen);
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535) {
        *err = xasprintf("listen '%s': the port is not a number from 0 to 65535", listen);
        return -1;
    }
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
    if (!bs) {
        *err = xasprintf("cannot listen on %s (address in use, or not an address of this "
                         "machine?)", listen);
        return -1;
    }
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
    listen_backlog(fd);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    int bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    h->port = bound;
    snprintf(h->url, sizeof h->url, "http://%s:%d",
             strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, bound);
    return 0;
}

/* Enough descriptors for max_connections (and the journal, the HTTP
 * client, ...): at the limit accept() would fail and spin. */
static void raise_fd_limit(size_t conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)conns + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct httpd *httpd_start(struct engine *e, const struct httpd_opts *o, char **err)
{
    struct httpd *h = xcalloc(1, sizeof *h);
    h->e = e;
    h->http = evhttp_new(e->host->base);
    int64_t ms = o->read_timeout_ms > 0 ? o->read_timeout_ms : 30000;
    h->read_tv = (struct timeval){(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    h->max_conns = o->max_connections > 0 ? o->max_connections : 1024;
    raise_fd_limit(h->max_conns);
    h->adopt_ev = event_new(e->host->base, -1, 0, adopt, h);
    evhttp_set_bevcb(h->http, new_bev, h);
    evhttp_set_max_body_size(h->http, (ev_ssize_t)o->max_body);
    evhttp_set_max_headers_size(h->http, MAX_HEADERS_SIZE);
    evhttp_set_timeout_tv(h->http, &h->read_tv); /* inactivity, both ways */
    /* every method evhttp knows reaches route(), which answers 405 */
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS |
                                            EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
    evhttp_set_gencb(h->http, route, h);
    if (bind_listen(h, o->listen, err) < 0) {
        httpd_free(h);
        return NULL;
    }
    return h;
}

void httpd_free(struct httpd *h)
{
    if (!h)
        return;
    while (h->pending) {
        struct pending *p = h->pending;
        h->pending = p->next;
        free(p->body);
        free(p);
    }
    evhttp_free(h->http); /* closes every connection: conn_closed frees each conn */
    for (size_t i = 0; i < h->nfresh; i++)
        bufferevent_decref(h->fresh[i]);
    free(h->fresh);
    if (h->adopt_ev)
        event_free(h->adopt_ev);
    free(h);
}

const char *httpd_url(const struct httpd *h)
{
    return h->url;
}

void httpd_drain(struct httpd *h)
{
    h->draining = 1;
}
