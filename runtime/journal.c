/* journal: SQLite (WAL, synchronous=FULL) implementation of journal.h. One
 * connection, one writer. Writes open a transaction (BEGIN IMMEDIATE) on
 * demand; once someone waits for a commit, a deferred libevent callback
 * commits it (once per loop iteration), so every write that arrived
 * meanwhile shares one fsync, then the commit waiters run. Writes nobody
 * waits for join the next such commit, or a timer commits them FLUSH_MS
 * later: they do not cost an fsync of their own. */
#include <event2/event.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "journal.h"
#include "journal_ops.h"
#include "util.h"

#define NOPS (sizeof journal_ops / sizeof journal_ops[0] - 1)

struct waiter {
    journal_commit_fn fn;
    void *arg;
};

struct journal {
    sqlite3 *db;
    sqlite3_stmt *stmts[NOPS];
    struct event *commit_ev;
    struct event *flush_ev; /* commits writes nobody waits for */
    struct ckpt *ckpt; /* NULL: SQLite checkpoints on commit, on the loop */
    int in_txn;
    struct waiter *waiters;
    size_t nwaiters, capwaiters;
    uint64_t commits, writes;
};

static int op_index(const char *name)
{
    for (size_t i = 0; i < NOPS; i++)
        if (strcmp(journal_ops[i].name, name) == 0)
            return (int)i;
    return -1;
}

int journal_op_writes(const char *op)
{
    int i = op_index(op);
    return i < 0 ? -1 : journal_ops[i].kind == 'w';
}

static int sql_err(struct journal *j, const char *what, char **err)
{
    *err = xasprintf("journal: %s: %s", what, sqlite3_errmsg(j->db));
    return -1;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg);

/* How long a write nobody waits for (a delivery's outcome when it creates no
 * run, /healthz) may stay uncommitted: a crash meanwhile only means that
 * delivery is processed again at start. */
#define FLUSH_MS 10

static int setup(struct journal *j, const char *path, char **err)
{
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
        return sql_err(j, path, err);
    sqlite3_busy_timeout(j->db, 5000);
    const char *pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                          " PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;";
    if (sqlite3_exec(j->db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
        return sql_err(j, "configuring", err);
    /* one transaction: one fsync for the whole schema, not one per statement */
    if (sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(j->db, journal_schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = sql_err(j, "creating the schema", err);
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return 0;
}

/* A serving journal in a file checkpoints from its own thread (the loop
 * would stall for each); in memory, or when that fails, SQLite does. */
#define CKPT_PERIOD_MS 100

static void start_checkpointer(struct journal *j)
{
    const char *file = sqlite3_db_filename(j->db, "main");
    if (!file || !*file)
        return;
    char *err = NULL;
    sqlite3_exec(j->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
    j->ckpt = ckpt_start(file, CKPT_PERIOD_MS, &err);
    if (!j->ckpt) {
        free(err);
        sqlite3_exec(j->db, "PRAGMA wal_autocheckpoint=1000", NULL, NULL, NULL);
    }
}

unsigned long journal_checkpoints(struct journal *j)
{
    return j->ckpt ? ckpt_count(j->ckpt) : 0;
}

struct journal *journal_open(const char *path, struct event_base *base, char **err)
{
    struct journal *j = xcalloc(1, sizeof *j);
    if (setup(j, path, err) < 0) {
        char *inner = *err;
        *err = xasprintf("%s (is the folder writable and the file a SQLite database?)",
                         inner);
        free(inner);
        journal_close(j);
        return NULL;
    }
    if (base) {
        j->commit_ev = event_new(base, -1, 0, commit_cb, j);
        j->flush_ev = evtimer_new(base, commit_cb, j);
        start_checkpointer(j);
    }
    return j;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    char *err = NULL;
    if (j->in_txn && journal_flush(j, &err) < 0)
        free(err);
    ckpt_stop(j->ckpt); /* first: the last connection to close checkpoints */
    for (size_t i = 0; i < NOPS; i++)
        sqlite3_finalize(j->stmts[i]);
    if (j->commit_ev)
        event_free(j->commit_ev);
    if (j->flush_ev)
        event_free(j->flush_ev);
    sqlite3_close(j->db);
    free(j->waiters);
    free(j);
}

static int begin(struct journal *j, char **err)
{
    if (j->in_txn)
        return 0;
    if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sql_err(j, "begin", err);
    j->in_txn = 1;
    if (j->flush_ev) {
        struct timeval tv = {0, FLUSH_MS * 1000};
        evtimer_add(j->flush_ev, &tv);
    }
    return 0;
}

static int bind_args(sqlite3_stmt *st, const struct journal_value *args, int nargs)
{
    int rc = SQLITE_OK;
    for (int i = 0; i < nargs && rc == SQLITE_OK; i++) {
        const struct journal_value *v = &args[i];
        if (v->type == JV_INT)
            rc = sqlite3_bind_int64(st, i + 1, v->i);
        else if (v->type == JV_TEXT)
            rc = sqlite3_bind_text(st, i + 1, v->s, (int)v->len, SQLITE_TRANSIENT);
        else if (v->type == JV_BLOB)
            rc = sqlite3_bind_blob(st, i + 1, v->s, (int)v->len, SQLITE_TRANSIENT);
        else
            rc = sqlite3_bind_null(st, i + 1);
    }
    return rc;
}

static void column_value(sqlite3_stmt *st, int c, struct journal_value *v)
{
    memset(v, 0, sizeof *v);
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_INTEGER:
        v->type = JV_INT;
        v->i = sqlite3_column_int64(st, c);
        break;
    case SQLITE_NULL:
        v->type = JV_NULL;
        break;
    case SQLITE_BLOB:
        v->type = JV_BLOB;
        v->s = sqlite3_column_blob(st, c);
        v->len = (size_t)sqlite3_column_bytes(st, c);
        break;
    default:
        v->type = JV_TEXT;
        v->s = (const char *)sqlite3_column_text(st, c);
        v->len = (size_t)sqlite3_column_bytes(st, c);
    }
}

static int step_rows(sqlite3_stmt *st, journal_row_fn row, void *arg)
{
    int ncol = sqlite3_column_count(st), rc;
    const char *names[32];
    struct journal_value vals[32];
    if (ncol > 32)
        ncol = 32;
    for (int c = 0; c < ncol; c++)
        names[c] = sqlite3_column_name(st, c);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < ncol; c++)
            column_value(st, c, &vals[c]);
        if (row && row(arg, ncol, names, vals))
            return SQLITE_DONE;
    }
    return rc;
}

int journal_exec(struct journal *j, const char *op, const struct journal_value *args,
                 int nargs, journal_row_fn row, void *arg, char **err)
{
    int i = op_index(op);
    if (i < 0) {
        *err = xasprintf("journal: unknown operation '%s'", op);
        return -1;
    }
    if (journal_ops[i].kind == 'w' && begin(j, err) < 0)
        return -1;
    if (!j->stmts[i] &&
        sqlite3_prepare_v3(j->db, journal_ops[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &j->stmts[i], NULL) != SQLITE_OK)
        return sql_err(j, op, err);
    sqlite3_stmt *st = j->stmts[i];
    int rc = bind_args(st, args, nargs);
    if (rc == SQLITE_OK)
        rc = step_rows(st, row, arg);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        return sql_err(j, op, err);
    if (journal_ops[i].kind == 'w')
        j->writes++;
    return 0;
}

int64_t journal_last_id(struct journal *j)
{
    return sqlite3_last_insert_rowid(j->db);
}

int journal_changes(struct journal *j)
{
    return sqlite3_changes(j->db);
}

void journal_on_commit(struct journal *j, journal_commit_fn fn, void *arg)
{
    if (j->nwaiters == j->capwaiters) {
        j->capwaiters = j->capwaiters ? j->capwaiters * 2 : 64;
        j->waiters = xrealloc(j->waiters, j->capwaiters * sizeof *j->waiters);
    }
    j->waiters[j->nwaiters++] = (struct waiter){fn, arg};
    if (j->commit_ev)
        event_active(j->commit_ev, 0, 0);
}

/* Commits the open transaction and runs the waiters registered so far. */
static int commit_group(struct journal *j, char **err)
{
    int ok = 1, rc = 0;
    if (j->in_txn) {
        if (sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            rc = sql_err(j, "commit", err);
            sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
            ok = 0;
        }
        j->in_txn = 0;
        j->commits++;
        if (j->flush_ev)
            evtimer_del(j->flush_ev);
    }
    size_t n = j->nwaiters;
    struct waiter *w = j->waiters;
    j->waiters = NULL;
    j->nwaiters = j->capwaiters = 0;
    for (size_t i = 0; i < n; i++)
        w[i].fn(w[i].arg, ok);
    free(w);
    return rc;
}

static void commit_cb(evutil_socket_t fd, short what, void *arg)
{
    char *err = NULL;
    if (commit_group(arg, &err) < 0)
        free(err); /* each waiter learned it failed and reports it */
}

int journal_flush(struct journal *j, char **err)
{
    return commit_group(j, err);
}

int journal_busy(const struct journal *j)
{
    return j->in_txn || j->nwaiters > 0;
}

int journal_healthy(struct journal *j)
{
    char *err = NULL;
    struct journal_value v[2] = {{JV_TEXT, 0, "healthz", 7}, {JV_NULL, 0, NULL, 0}};
    if (journal_exec(j, "meta_set", v, 2, NULL, NULL, &err) < 0) {
        free(err);
        return 0;
    }
    return 1;
}

void journal_stats(const struct journal *j, uint64_t *commits, uint64_t *writes)
{
    *commits = j->commits;
    *writes = j->writes;
}
