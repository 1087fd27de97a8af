/* loadgen: the HTTP load generator of `make bench` (bench/README.md).
 * One thread, epoll, keep-alive HTTP/1.1 connections, one request in flight
 * per connection. Signs webhooks itself (libcrypto): Standard Webhooks for
 * the sandbox source, `Signature: sha256 <hex>` for Greenhouse. Latencies go
 * into a log-linear histogram (HdrHistogram-like: 128 sub-buckets per power
 * of two, < 0.8% error) in nanoseconds. Prints one JSON object on stdout.
 *
 * Modes (-m):
 *   closed  saturation: -c connections each send the next request as soon as
 *           the answer arrives, for -d seconds after -w seconds of warm-up
 *           (or until -n requests were answered, within -d seconds if given)
 *   rate    open loop: requests are due at a fixed rate -r from a pool of -c
 *           connections; latency counts from the time a request was due, so
 *           queueing behind a slow answer is measured (no coordinated omission)
 *   stall   pings GET /healthz every -I microseconds on one connection and,
 *           on a second one, POSTs -R reloads (/admin/reload, -T token) half a
 *           second apart; reports the reload times and the longest gap
 *           between two ping answers
 *   start   fork+exec the command after `--`, poll GET /healthz until the
 *           first 200; reports the time from exec; then SIGTERMs the child */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ histogram */

#define SUB_BITS 7
#define SUB (1 << SUB_BITS)
#define NBUCKETS (2 * SUB + 64 * SUB)

struct hist {
    uint64_t count[NBUCKETS];
    uint64_t total, max, min;
    double sum;
};

static int bucket_of(uint64_t v)
{
    if (v < 2 * SUB)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - SUB_BITS;
    int sub = (int)((v >> shift) & (SUB - 1));
    return 2 * SUB + (shift - 1) * SUB + sub;
}

static uint64_t bucket_mid(int b)
{
    if (b < 2 * SUB)
        return (uint64_t)b;
    int shift = (b - 2 * SUB) / SUB + 1;
    uint64_t sub = (uint64_t)((b - 2 * SUB) % SUB);
    uint64_t lo = (SUB + sub) << shift;
    return lo + ((1ull << shift) >> 1);
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->count[bucket_of(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
    if (h->total == 1 || v < h->min)
        h->min = v;
}

static uint64_t hist_pct(const struct hist *h, double p)
{
    if (!h->total)
        return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->total + 0.999999);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (int b = 0; b < NBUCKETS; b++) {
        seen += h->count[b];
        if (seen >= want) {
            uint64_t m = bucket_mid(b);
            return m > h->max ? h->max : m;
        }
    }
    return h->max;
}

static void hist_json(FILE *f, const char *name, const struct hist *h)
{
    fprintf(f,
            "\"%s\":{\"count\":%llu,\"mean_us\":%.1f,\"min_us\":%.1f,\"p50_us\":%.1f,"
            "\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}",
            name, (unsigned long long)h->total, h->total ? h->sum / (double)h->total / 1e3 : 0,
            (double)h->min / 1e3, (double)hist_pct(h, 50) / 1e3, (double)hist_pct(h, 90) / 1e3,
            (double)hist_pct(h, 99) / 1e3, (double)hist_pct(h, 99.9) / 1e3,
            (double)h->max / 1e3);
}

/* ------------------------------------------------------------ options */

static struct {
    const char *mode, *host, *path, *kind, *secret, *job, *prefix, *token, *etype;
    int port, conns, reloads;
    double duration, warmup, rate;
    long long max_requests;
    long ping_us;
    char **cmd;
    const char *child_log;
} opt = {"closed", "127.0.0.1", "/webhooks/sandbox", "sandbox", "", "Unreferenced Job",
         "lg", "", "applicant.moved_to_stage", 0, 16, 3, 10, 1, 1000, 0, 1000, NULL, "/dev/null"};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg)
{
    fprintf(stderr, "loadgen: %s: %s\n", msg, strerror(errno));
    exit(1);
}

/* ------------------------------------------------------------ requests */

static unsigned char key[256];
static int keylen;
static long long seq;

static void b64(const unsigned char *in, int n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, n);
}

static void setup_key(void)
{
    const char *s = opt.secret;
    if (strcmp(opt.kind, "sandbox") == 0) {
        if (strncmp(s, "whsec_", 6) == 0)
            s += 6;
        int n = EVP_DecodeBlock(key, (const unsigned char *)s, (int)strlen(s));
        if (n < 0) {
            fprintf(stderr, "loadgen: the secret is not base64\n");
            exit(2);
        }
        size_t l = strlen(s);
        while (l > 0 && s[l - 1] == '=') { /* DecodeBlock counts padding */
            n--;
            l--;
        }
        keylen = n;
    } else {
        keylen = (int)strlen(s);
        memcpy(key, s, (size_t)keylen);
    }
}

/* Writes request number `n` into buf; returns its length. */
static size_t build_request(char *buf, size_t cap, long long n)
{
    char body[2048], sig[512] = "", msg[2400];
    int blen = 0;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (strcmp(opt.kind, "get") == 0)
        return (size_t)snprintf(buf, cap, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n", opt.path,
                                opt.host, opt.port);
    if (strcmp(opt.kind, "greenhouse") == 0) {
        blen = snprintf(body, sizeof body,
                        "{\"action\":\"candidate_stage_change\",\"payload\":{\"application\":"
                        "{\"id\":%lld,\"status\":\"active\",\"candidate\":{\"id\":%lld,"
                        "\"first_name\":\"Bench\",\"last_name\":\"Candidate\","
                        "\"email_addresses\":[{\"value\":\"c%lld@example.com\",\"type\":"
                        "\"personal\"}]},\"jobs\":[{\"id\":4001,\"name\":\"%s\"}],"
                        "\"current_stage\":{\"id\":77,\"name\":\"Technical Screen\"}}}}",
                        900000000 + n, 500000000 + n, n, opt.job);
        HMAC(EVP_sha256(), key, keylen, (unsigned char *)body, (size_t)blen, mac, &maclen);
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned i = 0; i < maclen; i++)
            sprintf(hex + 2 * i, "%02x", mac[i]);
        snprintf(sig, sizeof sig, "Signature: sha256 %s\r\nGreenhouse-Event-ID: %s-%lld\r\n", hex,
                 opt.prefix, n);
    } else {
        blen = snprintf(body, sizeof body,
                        "{\"type\":\"%s\",\"candidate\":{\"id\":\"c%lld\","
                        "\"name\":\"Bench Candidate\",\"emails\":[\"c%lld@example.com\"]},"
                        "\"application\":{\"id\":\"a%lld\"},\"job\":{\"id\":\"j4001\",\"name\":"
                        "\"%s\"},\"stage\":{\"id\":\"s77\",\"name\":\"Technical Screen\"}}",
                        opt.etype, n, n, n, opt.job);
        char id[128];
        long ts = (long)time(NULL);
        snprintf(id, sizeof id, "%s-%lld", opt.prefix, n);
        int mlen = snprintf(msg, sizeof msg, "%s.%ld.%.*s", id, ts, blen, body);
        HMAC(EVP_sha256(), key, keylen, (unsigned char *)msg, (size_t)mlen, mac, &maclen);
        char enc[128];
        b64(mac, (int)maclen, enc);
        snprintf(sig, sizeof sig,
                 "webhook-id: %s\r\nwebhook-timestamp: %ld\r\nwebhook-signature: v1,%s\r\n", id,
                 ts, enc);
    }
    return (size_t)snprintf(buf, cap,
                            "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                            "Content-Length: %d\r\n%s\r\n%.*s",
                            opt.path, opt.host, opt.port, blen, sig, blen, body);
}

/* ------------------------------------------------------------ connections */

enum { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
    int fd, state, role; /* role: 0 load, 1 ping, 2 reload */
    char wbuf[4096];
    size_t wlen, woff;
    char rbuf[65536];
    size_t rlen;
    uint64_t due, sent; /* when the request was due / written */
    int have_req;
};

static int ep;
static struct conn *conns;
static int nconns;
static struct sockaddr_in addr;

static long long completed, measured, errors, non2xx, reconnects, issued;
static int status_seen[6];
static struct hist lat;
static uint64_t measure_from, measure_to;
static int by_due;

static void arm(struct conn *c, uint32_t evs)
{
    struct epoll_event e = {.events = evs, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0)
        die("epoll_ctl mod");
}

static void conn_open(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
    if (rc < 0 && errno != EINPROGRESS)
        die("connect");
    c->state = C_CONNECTING;
    c->rlen = 0;
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
        die("epoll_ctl add");
}

static void conn_close(struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = C_DOWN;
}

static void conn_flush(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            return; /* the read side sees the close */
        }
        c->woff += (size_t)n;
    }
    arm(c, c->woff < c->wlen ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Sends the request in c->wbuf (already built) on an idle connection. */
static void conn_send(struct conn *c, uint64_t due)
{
    c->due = due;
    c->sent = now_ns();
    c->woff = 0;
    c->rlen = 0;
    c->state = C_BUSY;
    c->have_req = 1;
    conn_flush(c);
}

/* Parses a complete answer in rbuf: returns its status and consumed length,
 * 0 when incomplete. */
static int parse_answer(struct conn *c, size_t *used, int *closing)
{
    char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - c->rbuf) + 4;
    int status = atoi(c->rbuf + 9);
    long clen = 0;
    *closing = 0;
    for (char *p = c->rbuf; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        nl++;
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            clen = atol(p + 15);
        else if (strncasecmp(p, "Connection:", 11) == 0 && strcasestr(p, "close") &&
                 strcasestr(p, "close") < nl)
            *closing = 1;
        p = nl;
    }
    if (c->rlen < hlen + (size_t)clen)
        return 0;
    *used = hlen + (size_t)clen;
    return status;
}

typedef void (*answer_fn)(struct conn *c, int status, uint64_t now);
static answer_fn on_answer;

static void conn_readable(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            int was_busy = c->state == C_BUSY;
            conn_close(c);
            reconnects++;
            if (was_busy)
                errors++;
            conn_open(c);
            return;
        }
        if (n < 0)
            return;
        c->rlen += (size_t)n;
        size_t used = 0;
        int closing = 0;
        int status = parse_answer(c, &used, &closing);
        if (status) {
            uint64_t t = now_ns();
            c->rlen = 0;
            c->state = C_IDLE;
            c->have_req = 0;
            if (closing) {
                conn_close(c);
                reconnects++;
                conn_open(c);
            }
            on_answer(c, status, t);
            return;
        }
        if (c->rlen == sizeof c->rbuf) {
            fprintf(stderr, "loadgen: answer too large\n");
            exit(1);
        }
    }
}

static void conn_event(struct conn *c, uint32_t evs, void (*ready)(struct conn *))
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            conn_close(c);
            usleep(1000);
            conn_open(c);
            return;
        }
        c->state = C_IDLE;
        arm(c, EPOLLIN);
        ready(c);
        return;
    }
    if ((evs & EPOLLOUT) && c->state == C_BUSY)
        conn_flush(c);
    if (evs & (EPOLLIN | EPOLLHUP | EPOLLERR))
        conn_readable(c);
}

static void record(int status, uint64_t due, uint64_t t)
{
    completed++;
    if (status / 100 >= 1 && status / 100 <= 5)
        status_seen[status / 100]++;
    if (status < 200 || status > 299)
        non2xx++;
    uint64_t when = by_due ? due : t; /* open loop: by due time; closed: by answer */
    if (when >= measure_from && (measure_to == 0 || when < measure_to)) {
        measured++;
        hist_add(&lat, t - due);
    }
}

static void setup_net(void)
{
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    inet_pton(AF_INET, opt.host, &addr.sin_addr);
    ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
}

/* ------------------------------------------------------------ closed loop */

static uint64_t stop_at;
static int stopping, duration_given;

static void closed_next(struct conn *c)
{
    if (stopping)
        return;
    if (opt.max_requests && issued >= opt.max_requests)
        return;
    c->wlen = build_request(c->wbuf, sizeof c->wbuf, seq++);
    issued++;
    uint64_t t = now_ns();
    conn_send(c, t);
}

static void closed_answer(struct conn *c, int status, uint64_t t)
{
    record(status, c->due, t);
    if (t >= stop_at)
        stopping = 1;
    if (c->state == C_IDLE)
        closed_next(c);
}

static void run_closed(void)
{
    uint64_t t0 = now_ns();
    measure_from = t0 + (uint64_t)(opt.warmup * 1e9);
    stop_at = measure_from + (uint64_t)(opt.duration * 1e9);
    measure_to = stop_at;
    if (opt.max_requests) { /* -n requests, or -d seconds when given, whichever first */
        measure_from = t0;
        stop_at = duration_given ? t0 + (uint64_t)(opt.duration * 1e9) : UINT64_MAX;
        measure_to = 0;
    }
    on_answer = closed_answer;
    for (int i = 0; i < nconns; i++)
        conn_open(&conns[i]);
    struct epoll_event evs[256];
    uint64_t last_done = 0;
    for (;;) {
        int busy = 0;
        for (int i = 0; i < nconns; i++)
            busy += conns[i].state == C_BUSY || conns[i].state == C_CONNECTING;
        if (opt.max_requests && completed >= opt.max_requests)
            break;
        if (stopping && busy == 0)
            break;
        if (stopping && !last_done)
            last_done = now_ns();
        if (last_done && now_ns() - last_done > 5000000000ull)
            break;
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++)
            conn_event(evs[i].data.ptr, evs[i].events, closed_next);
        if (!stopping && now_ns() >= stop_at)
            stopping = 1;
    }
    if (!measure_to)
        measure_to = now_ns();
}

/* ------------------------------------------------------------ open loop */

static uint64_t *backlog; /* due times of requests waiting for a connection */
static size_t bl_head, bl_tail, bl_cap;

static void open_take(struct conn *c)
{
    if (c->state != C_IDLE || bl_head == bl_tail)
        return;
    uint64_t due = backlog[bl_head++ % bl_cap];
    c->wlen = build_request(c->wbuf, sizeof c->wbuf, seq++);
    issued++;
    conn_send(c, due);
}

static void open_answer(struct conn *c, int status, uint64_t t)
{
    record(status, c->due, t);
    open_take(c);
}

static void run_rate(void)
{
    uint64_t t0 = now_ns() + 200000000ull; /* connections first */
    uint64_t interval = (uint64_t)(1e9 / opt.rate);
    measure_from = t0 + (uint64_t)(opt.warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(opt.duration * 1e9);
    measure_to = end;
    by_due = 1;
    bl_cap = (size_t)(opt.rate * (opt.duration + opt.warmup) + 16);
    backlog = calloc(bl_cap, sizeof *backlog);
    on_answer = open_answer;
    for (int i = 0; i < nconns; i++)
        conn_open(&conns[i]);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event te = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te);
    uint64_t next = t0;
    long long k = 0;
    struct epoll_event evs[256];
    for (;;) {
        uint64_t t = now_ns();
        while (next <= t && next < end) {
            backlog[bl_tail++ % bl_cap] = next;
            k++;
            next = t0 + (uint64_t)k * interval;
        }
        for (int i = 0; i < nconns && bl_head != bl_tail; i++)
            open_take(&conns[i]);
        int busy = 0;
        for (int i = 0; i < nconns; i++)
            busy += conns[i].state == C_BUSY;
        if (next >= end && busy == 0 && bl_head == bl_tail)
            break;
        if (t > end + 10000000000ull)
            break;
        struct itimerspec its = {0};
        uint64_t wake = next < end ? next : t + 100000000ull;
        its.it_value.tv_sec = (time_t)(wake / 1000000000ull);
        its.it_value.tv_nsec = (long)(wake % 1000000000ull);
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0) { /* spurious */
                }
                continue;
            }
            conn_event(evs[i].data.ptr, evs[i].events, open_take);
        }
    }
    errors += (long long)(bl_tail - bl_head);
}

/* ------------------------------------------------------------ stall */

static uint64_t last_ping_done, max_gap, max_gap_at, ping_t0, max_gap_pre;
static int reload_sent;
static struct hist pings;
static uint64_t reload_ns[64];
static int reload_status[64], nreloads_done;
static uint64_t reload_start[64];

static void ping_send(struct conn *c)
{
    c->wlen = (size_t)snprintf(c->wbuf, sizeof c->wbuf,
                               "GET /healthz HTTP/1.1\r\nHost: %s:%d\r\n\r\n", opt.host, opt.port);
    conn_send(c, now_ns());
}

static void reload_send(struct conn *c)
{
    c->wlen = (size_t)snprintf(c->wbuf, sizeof c->wbuf,
                               "POST /admin/reload HTTP/1.1\r\nHost: %s:%d\r\n"
                               "Authorization: Bearer %s\r\nContent-Length: 0\r\n\r\n",
                               opt.host, opt.port, opt.token);
    reload_start[nreloads_done] = now_ns();
    reload_sent = 1;
    conn_send(c, now_ns());
}

static void stall_answer(struct conn *c, int status, uint64_t t)
{
    if (c->role == 1) {
        if (status != 200)
            non2xx++;
        hist_add(&pings, t - c->sent);
        if (last_ping_done && !reload_sent && t - last_ping_done > max_gap_pre)
            max_gap_pre = t - last_ping_done;
        if (last_ping_done && t - last_ping_done > max_gap) {
            max_gap = t - last_ping_done;
            max_gap_at = t - ping_t0;
        }
        last_ping_done = t;
    } else if (c->role == 2 && nreloads_done < 64) {
        reload_ns[nreloads_done] = t - c->sent;
        reload_status[nreloads_done] = status;
        nreloads_done++;
    }
}

static void stall_ready(struct conn *c)
{
    (void)c;
}

static void run_stall(void)
{
    on_answer = stall_answer;
    conns[0].role = 1;
    conns[1].role = 2;
    conn_open(&conns[0]);
    conn_open(&conns[1]);
    uint64_t t0 = now_ns();
    ping_t0 = t0;
    uint64_t next_ping = t0 + 100000000ull;
    uint64_t first_reload = t0 + 600000000ull, spacing = 500000000ull;
    int sent_reloads = 0;
    uint64_t end = first_reload + (uint64_t)opt.reloads * spacing + 300000000ull;
    struct epoll_event evs[16];
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event te = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &te);
    while (now_ns() < end || conns[1].state == C_BUSY) {
        uint64_t t = now_ns();
        if (t >= next_ping && conns[0].state == C_IDLE) {
            ping_send(&conns[0]);
            next_ping = t + (uint64_t)opt.ping_us * 1000ull;
        }
        if (sent_reloads < opt.reloads && t >= first_reload + (uint64_t)sent_reloads * spacing &&
            conns[1].state == C_IDLE) {
            reload_send(&conns[1]);
            sent_reloads++;
        }
        struct itimerspec its = {0};
        uint64_t wake = next_ping > t ? next_ping : t + 50000;
        its.it_value.tv_sec = (time_t)(wake / 1000000000ull);
        its.it_value.tv_nsec = (long)(wake % 1000000000ull);
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        int n = epoll_wait(ep, evs, 16, 100);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0) {
                }
                continue;
            }
            conn_event(evs[i].data.ptr, evs[i].events, stall_ready);
        }
        if (now_ns() > end + 20000000000ull)
            break;
    }
}

/* ------------------------------------------------------------ start */

static double run_start(void)
{
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int fd = open(opt.child_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(opt.cmd[0], opt.cmd);
        _exit(127);
    }
    double ms = -1;
    char req[256], buf[4096];
    int rl = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: %s:%d\r\n\r\n", opt.host,
                      opt.port);
    while (now_ns() - t0 < 10000000000ull) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            close(fd);
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                fprintf(stderr, "loadgen: the daemon exited during start\n");
                exit(1);
            }
            usleep(100);
            continue;
        }
        if (write(fd, req, (size_t)rl) != rl) {
            close(fd);
            continue;
        }
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 12 && atoi(buf + 9) == 200) {
            ms = (double)(now_ns() - t0) / 1e6;
            break;
        }
        usleep(100);
    }
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    return ms;
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
    fputs("usage: loadgen -m closed|rate|stall|start -p PORT [-H HOST] [-P PATH]\n"
          "  [-k sandbox|greenhouse|get] [-s SECRET] [-j JOB] [-e EVENT_TYPE] [-i IDPREFIX]\n"
          "  [-c CONNS] [-d SECONDS] [-w WARMUP] [-r RATE] [-n REQUESTS]\n"
          "  [-T ADMIN_TOKEN] [-R RELOADS] [-I PING_US] [-L CHILD_LOG] [-- CMD...]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            opt.cmd = argv + i + 1;
            break;
        }
        if (a[0] != '-' || !a[1] || a[2] || i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        switch (a[1]) {
        case 'm': opt.mode = v; break;
        case 'H': opt.host = v; break;
        case 'p': opt.port = atoi(v); break;
        case 'P': opt.path = v; break;
        case 'k': opt.kind = v; break;
        case 's': opt.secret = v; break;
        case 'j': opt.job = v; break;
        case 'e': opt.etype = v; break;
        case 'i': opt.prefix = v; break;
        case 'c': opt.conns = atoi(v); break;
        case 'd': opt.duration = atof(v); duration_given = 1; break;
        case 'w': opt.warmup = atof(v); break;
        case 'r': opt.rate = atof(v); break;
        case 'n': opt.max_requests = atoll(v); break;
        case 'T': opt.token = v; break;
        case 'R': opt.reloads = atoi(v); break;
        case 'I': opt.ping_us = atol(v); break;
        case 'L': opt.child_log = v; break;
        default: usage();
        }
    }
    if (!opt.port)
        usage();
    signal(SIGPIPE, SIG_IGN);
    setup_key();
    setup_net();
    nconns = strcmp(opt.mode, "stall") == 0 ? 2 : opt.conns;
    conns = calloc((size_t)nconns, sizeof *conns);
    uint64_t t0 = now_ns();
    if (strcmp(opt.mode, "start") == 0) {
        if (!opt.cmd || !opt.cmd[0])
            usage();
        printf("{\"mode\":\"start\",\"ms\":%.2f}\n", run_start());
        return 0;
    }
    if (strcmp(opt.mode, "stall") == 0) {
        run_stall();
        printf("{\"mode\":\"stall\",\"reloads\":[");
        for (int r = 0; r < nreloads_done; r++)
            printf("%s{\"ms\":%.2f,\"status\":%d}", r ? "," : "", (double)reload_ns[r] / 1e6,
                   reload_status[r]);
        printf("],\"ping_interval_us\":%ld,\"max_gap_ms\":%.2f,\"max_gap_at_ms\":%.1f,"
               "\"max_gap_before_reloads_ms\":%.2f,\"ping_errors\":%lld,",
               opt.ping_us, (double)max_gap / 1e6, (double)max_gap_at / 1e6,
               (double)max_gap_pre / 1e6, non2xx);
        hist_json(stdout, "ping", &pings);
        printf("}\n");
        return 0;
    }
    if (strcmp(opt.mode, "closed") == 0)
        run_closed();
    else if (strcmp(opt.mode, "rate") == 0)
        run_rate();
    else
        usage();
    double secs = (double)(measure_to - (measure_from > t0 ? measure_from : t0)) / 1e9;
    printf("{\"mode\":\"%s\",\"conns\":%d,\"completed\":%lld,\"measured\":%lld,"
           "\"seconds\":%.3f,\"rps\":%.1f,\"errors\":%lld,\"non2xx\":%lld,\"reconnects\":%lld,"
           "\"status\":{\"2xx\":%d,\"3xx\":%d,\"4xx\":%d,\"5xx\":%d},\"offered_rate\":%.1f,",
           opt.mode, nconns, completed, measured, secs, secs > 0 ? (double)measured / secs : 0,
           errors, non2xx, reconnects, status_seen[2], status_seen[3], status_seen[4],
           status_seen[5], strcmp(opt.mode, "rate") == 0 ? opt.rate : 0.0);
    hist_json(stdout, "latency", &lat);
    printf("}\n");
    return 0;
}
