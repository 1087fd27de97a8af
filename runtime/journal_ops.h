/* journal_ops: the named operations of the SQLite journal (included only by
 * journal.c). 'w' marks writes. Parameters are positional (?1, ?2, ...). */
#ifndef ATSF_JOURNAL_OPS_H
#define ATSF_JOURNAL_OPS_H

struct journal_op {
    const char *name;
    char kind; /* 'r' or 'w' */
    const char *sql;
};

static const char journal_schema[] =
    "CREATE TABLE IF NOT EXISTS deliveries(id INTEGER PRIMARY KEY, source TEXT NOT NULL,"
    " delivery_key TEXT NOT NULL, received_at INTEGER NOT NULL, headers TEXT NOT NULL,"
    " body BLOB NOT NULL, status TEXT NOT NULL DEFAULT 'accepted', reason TEXT,"
    " updated_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries(status);"
    "CREATE TABLE IF NOT EXISTS dedupe(source TEXT, key TEXT, seen_at INTEGER,"
    " PRIMARY KEY(source, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS dedupe_seen ON dedupe(seen_at);"
    "CREATE TABLE IF NOT EXISTS events(id TEXT PRIMARY KEY, delivery_id INTEGER,"
    " type TEXT, source TEXT, received_at INTEGER, body TEXT, status TEXT, reason TEXT,"
    " decisions TEXT, script_version TEXT);"
    "CREATE INDEX IF NOT EXISTS events_delivery ON events(delivery_id);"
    "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, event_id TEXT NOT NULL,"
    " automation TEXT NOT NULL, script_version TEXT, status TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER, last_error TEXT,"
    " queue_key TEXT, created_at INTEGER, updated_at INTEGER, UNIQUE(event_id, automation));"
    "CREATE INDEX IF NOT EXISTS runs_status ON runs(status);"
    "CREATE TABLE IF NOT EXISTS steps(run_id INTEGER, seq INTEGER, kind TEXT, request TEXT,"
    " response TEXT, status TEXT, at INTEGER, PRIMARY KEY(run_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS kv(scope TEXT, key TEXT, value TEXT,"
    " PRIMARY KEY(scope, key)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS catalog(source TEXT PRIMARY KEY, body TEXT, fetched_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS invitations(email TEXT, assessment_id TEXT, body TEXT,"
    " created_at INTEGER, PRIMARY KEY(email, assessment_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS app_stages(source TEXT, application_id TEXT, stage TEXT,"
    " PRIMARY KEY(source, application_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS sim(kind TEXT, id TEXT, body TEXT, seq INTEGER,"
    " PRIMARY KEY(kind, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);";

static const struct journal_op journal_ops[] = {
    {"delivery_add", 'w',
     "INSERT INTO deliveries(source, delivery_key, received_at, headers, body, status,"
     " reason) VALUES(?1, ?2, ?3, ?4, ?5, coalesce(?6, 'accepted'), ?7)"},
    {"dedupe_add", 'w',
     "INSERT INTO dedupe(source, key, seen_at) VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING"},
    {"dedupe_purge", 'w', "DELETE FROM dedupe WHERE seen_at < ?1"},
    {"delivery_get", 'r', "SELECT * FROM deliveries WHERE id = ?1"},
    {"deliveries_unfinished", 'r',
     "SELECT id FROM deliveries WHERE status = 'accepted' ORDER BY id"},
    {"delivery_status", 'w',
     "UPDATE deliveries SET status = ?1, reason = ?2, updated_at = ?3 WHERE id = ?4"},
    {"deliveries_list", 'r',
     "SELECT id, source, delivery_key, received_at, status, reason FROM deliveries"
     " WHERE (?1 IS NULL OR status = ?1) AND received_at >= ?2 ORDER BY id DESC LIMIT ?3"},
    {"deliveries_since", 'r', "SELECT id FROM deliveries WHERE received_at >= ?1 ORDER BY id"},
    {"event_put", 'w',
     "INSERT INTO events(id, delivery_id, type, source, received_at, body, status, reason,"
     " decisions, script_version) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
     " ON CONFLICT(id) DO UPDATE SET status = excluded.status, reason = excluded.reason,"
     " decisions = excluded.decisions, script_version = excluded.script_version"},
    {"event_get", 'r', "SELECT * FROM events WHERE id = ?1"},
    {"events_of_delivery", 'r', "SELECT * FROM events WHERE delivery_id = ?1 ORDER BY id"},
    {"events_list", 'r',
     "SELECT e.id, e.type, e.source, e.received_at, e.status, e.reason, e.delivery_id"
     " FROM events e WHERE (?1 IS NULL OR e.status = ?1) AND e.received_at >= ?2"
     " UNION ALL SELECT 'delivery:' || d.id, '-', d.source, d.received_at, d.status,"
     " d.reason, d.id FROM deliveries d WHERE d.status IN ('failed', 'accepted')"
     " AND NOT EXISTS (SELECT 1 FROM events x WHERE x.delivery_id = d.id)"
     " AND (?1 IS NULL OR d.status = ?1) AND d.received_at >= ?2"
     " ORDER BY 4 DESC, 1 DESC LIMIT ?3"},
    {"run_add", 'w',
     "INSERT INTO runs(event_id, automation, script_version, status, queue_key, created_at,"
     " updated_at) VALUES(?1, ?2, ?3, 'pending', ?4, ?5, ?5) ON CONFLICT DO NOTHING"},
    {"run_by_event", 'r', "SELECT * FROM runs WHERE event_id = ?1 AND automation = ?2"},
    {"run_get", 'r', "SELECT * FROM runs WHERE id = ?1"},
    {"run_update", 'w',
     "UPDATE runs SET status = ?1, attempts = ?2, next_at = ?3, last_error = ?4,"
     " script_version = coalesce(?5, script_version), updated_at = ?6 WHERE id = ?7"},
    {"runs_unfinished", 'r',
     "SELECT id FROM runs WHERE status IN ('pending', 'running', 'retrying') ORDER BY id"},
    {"runs_list", 'r',
     "SELECT * FROM runs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR automation = ?2)"
     " ORDER BY id DESC LIMIT ?3"},
    {"runs_of_event", 'r', "SELECT * FROM runs WHERE event_id = ?1 ORDER BY id"},
    {"runs_dead", 'r', "SELECT id FROM runs WHERE status = 'dead' ORDER BY id"},
    {"runs_count", 'r', "SELECT status, count(*) AS n FROM runs GROUP BY status"},
    {"runs_by_automation", 'r', "SELECT automation, count(*) AS n FROM runs GROUP BY automation"},
    {"step_get", 'r', "SELECT * FROM steps WHERE run_id = ?1 AND seq = ?2"},
    {"steps_of_run", 'r', "SELECT * FROM steps WHERE run_id = ?1 ORDER BY seq"},
    {"step_put", 'w',
     "INSERT OR REPLACE INTO steps(run_id, seq, kind, request, response, status, at)"
     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    {"kv_get", 'r', "SELECT value FROM kv WHERE scope = ?1 AND key = ?2"},
    {"kv_set", 'w', "INSERT OR REPLACE INTO kv(scope, key, value) VALUES(?1, ?2, ?3)"},
    {"catalog_get", 'r', "SELECT * FROM catalog WHERE source = ?1"},
    {"catalog_all", 'r', "SELECT * FROM catalog ORDER BY source"},
    {"catalog_set", 'w',
     "INSERT OR REPLACE INTO catalog(source, body, fetched_at) VALUES(?1, ?2, ?3)"},
    {"invitation_get", 'r',
     "SELECT * FROM invitations WHERE email = ?1 AND assessment_id = ?2"},
    {"invitations_by_email", 'r',
     "SELECT * FROM invitations WHERE email = ?1 ORDER BY created_at DESC"},
    {"invitation_put", 'w',
     "INSERT OR REPLACE INTO invitations(email, assessment_id, body, created_at)"
     " VALUES(?1, ?2, ?3, ?4)"},
    {"app_stage_get", 'r',
     "SELECT stage FROM app_stages WHERE source = ?1 AND application_id = ?2"},
    {"app_stage_set", 'w',
     "INSERT OR REPLACE INTO app_stages(source, application_id, stage) VALUES(?1, ?2, ?3)"},
    {"sim_get", 'r', "SELECT body FROM sim WHERE kind = ?1 AND id = ?2"},
    {"sim_list", 'r', "SELECT id, body FROM sim WHERE kind = ?1 ORDER BY seq, id"},
    {"sim_put", 'w',
     "INSERT INTO sim(kind, id, body, seq) VALUES(?1, ?2, ?3,"
     " (SELECT coalesce(max(seq), 0) + 1 FROM sim))"
     " ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body"},
    {"sim_clear", 'w', "DELETE FROM sim"},
    {"meta_get", 'r', "SELECT value FROM meta WHERE key = ?1"},
    {"meta_set", 'w', "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)"},
    {"integrity", 'r', "PRAGMA integrity_check"},
    {NULL, 0, NULL},
};

#endif
