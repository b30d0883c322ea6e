import type { Database } from "bun:sqlite";

/**
 * The SQLite schema, as steps: step N brings a database at version N-1 to N
 * (`PRAGMA user_version`). A database made before versions existed is at 0
 * and already has step 1's tables: each step only adds, so every step may run
 * on it and what it holds is kept. Never rename or drop in a step: the
 * previous release must still read the database during a rolling update.
 */
const STEPS: string[][] = [
  [
    `CREATE TABLE IF NOT EXISTS conversations (
      key TEXT PRIMARY KEY, entry_key TEXT NOT NULL, channel_id TEXT NOT NULL, used_at INTEGER NOT NULL)`,
    "CREATE INDEX IF NOT EXISTS conversations_used ON conversations (used_at)",
    `CREATE TABLE IF NOT EXISTS threads (
      channel_id TEXT PRIMARY KEY, entry_key TEXT NOT NULL, used_at INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0)`,
    "CREATE INDEX IF NOT EXISTS threads_active ON threads (archived, used_at)",
    "CREATE TABLE IF NOT EXISTS rests (entry_key TEXT PRIMARY KEY, until INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, scope TEXT NOT NULL, transcript TEXT NOT NULL, created_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS responses_created ON responses (created_at)",
    "CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, ext TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS images_created ON images (created_at)",
    "CREATE TABLE IF NOT EXISTS sessions (id_hash TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at)",
  ],
  ["CREATE TABLE IF NOT EXISTS suspects (entry_key TEXT PRIMARY KEY, until INTEGER NOT NULL)"],
];

export const SQLITE_SCHEMA_VERSION = STEPS.length;

/** Brings the database to the current version, in one transaction (another process starting at once waits). */
export function migrateSqlite(db: Database): void {
  const version = () => db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
  if (version() >= STEPS.length) return;
  db.transaction(() => {
    for (let step = version(); step < STEPS.length; step++) for (const statement of STEPS[step]) db.run(statement);
    db.run(`PRAGMA user_version = ${STEPS.length}`);
  }).immediate();
}
