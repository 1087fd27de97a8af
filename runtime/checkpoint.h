/* checkpoint: copies the journal's WAL back into the database file from a
 * thread with its own SQLite connection, so the event loop never pays for a
 * checkpoint (a few milliseconds each, at every ~1,000 pages by default). */
#ifndef ATSF_CHECKPOINT_H
#define ATSF_CHECKPOINT_H

struct ckpt;

/* Starts checkpointing the WAL database at path every period_ms; NULL and
 * *err when it cannot (the caller keeps SQLite's own auto-checkpoint). */
struct ckpt *ckpt_start(const char *path, int period_ms, char **err);
/* Stops the thread (after the checkpoint in progress) and closes its
 * connection. */
void ckpt_stop(struct ckpt *c);
/* Checkpoints completed so far (for tests and metrics). */
unsigned long ckpt_count(struct ckpt *c);

#endif
