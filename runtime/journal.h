/* journal: everything durable (deliveries, dedupe ids, events, runs, steps,
 * key-value store, catalog, invitations, simulated upstream data) behind one
 * interface of named operations. SQL exists only in journal.c; a PostgreSQL
 * backend would implement the same names. Writes share one open transaction
 * that is committed in groups (one fsync for many writes); callers that must
 * not move on before their write is durable register a commit waiter. */
#ifndef ATSF_JOURNAL_H
#define ATSF_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct journal;

enum journal_type { JV_NULL, JV_INT, JV_TEXT, JV_BLOB };

struct journal_value {
    enum journal_type type;
    int64_t i;
    const char *s; /* JV_TEXT / JV_BLOB */
    size_t len;
};

/* Called once per result row; columns named by `names`. Return non-zero to stop. */
typedef int (*journal_row_fn)(void *arg, int ncol, const char *const *names,
                              const struct journal_value *vals);
/* Called after the group commit that holds the caller's writes; ok = 0 when it failed. */
typedef void (*journal_commit_fn)(void *arg, int ok);

/* Opens (creating) the database file; base may be NULL for CLI use (then
 * every write commits at journal_flush). */
struct journal *journal_open(const char *path, struct event_base *base, char **err);
void journal_close(struct journal *j);

/* Runs named operation `op` with positional parameters. Writes join the open
 * transaction (begun on demand). Returns 0, or -1 with *err. */
int journal_exec(struct journal *j, const char *op, const struct journal_value *args,
                 int nargs, journal_row_fn row, void *arg, char **err);
int64_t journal_last_id(struct journal *j);
int journal_changes(struct journal *j);
/* Whether `op` names a write operation; -1 when unknown. */
int journal_op_writes(const char *op);

/* Registers fn to run after the current group commits (and schedules it). */
void journal_on_commit(struct journal *j, journal_commit_fn fn, void *arg);
/* Commits now (used at shutdown and by the CLI); 0 or -1 with *err. */
int journal_flush(struct journal *j, char **err);
/* Pending write groups (for idle detection). */
int journal_busy(const struct journal *j);
/* Health: the database answers and accepts a write. */
int journal_healthy(struct journal *j);
/* Counters for /metrics. */
/* WAL checkpoints done by the checkpointer thread (0 when SQLite does them). */
unsigned long journal_checkpoints(struct journal *j);
void journal_stats(const struct journal *j, uint64_t *commits, uint64_t *writes);

#endif
