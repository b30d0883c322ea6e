import type { SQL } from "bun";

/**
 * The PostgreSQL schema, as steps (step N brings version N-1 to N, recorded
 * in coze_schema). Created and upgraded at start by whichever instance comes
 * first: the others wait on the migration lock and then find it done. Each
 * step only adds (tables, columns, indexes), never renames or drops, so the
 * previous release still reads the database during a rolling update.
 */
const STEPS: string[][] = [
  [
    `CREATE TABLE IF NOT EXISTS coze_conversations (
      key TEXT PRIMARY KEY, entry_key TEXT NOT NULL, channel_id TEXT NOT NULL, used_at BIGINT NOT NULL)`,
    "CREATE INDEX IF NOT EXISTS coze_conversations_used ON coze_conversations (used_at)",
    `CREATE TABLE IF NOT EXISTS coze_threads (
      channel_id TEXT PRIMARY KEY, entry_key TEXT NOT NULL, used_at BIGINT NOT NULL, archived BOOLEAN NOT NULL DEFAULT FALSE)`,
    "CREATE INDEX IF NOT EXISTS coze_threads_active ON coze_threads (archived, used_at)",
    "CREATE TABLE IF NOT EXISTS coze_rests (entry_key TEXT PRIMARY KEY, until BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS coze_suspects (entry_key TEXT PRIMARY KEY, until BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS coze_responses (id TEXT PRIMARY KEY, scope TEXT NOT NULL, transcript TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS coze_responses_created ON coze_responses (created_at)",
    "CREATE TABLE IF NOT EXISTS coze_images (id TEXT PRIMARY KEY, ext TEXT NOT NULL, bytes INTEGER NOT NULL, data BYTEA NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS coze_images_created ON coze_images (created_at)",
    "CREATE TABLE IF NOT EXISTS coze_sessions (id_hash TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS coze_sessions_expiry ON coze_sessions (expires_at)",
  ],
];

export const PG_SCHEMA_VERSION = STEPS.length;

/** Advisory lock keys, in the service's own namespace (hashtextextended of a name). */
export const lockName = (name: string) => `coze-chat-proxy:${name}`;

/** Brings the database to the current version, holding the migration lock for the whole transaction. */
export async function migratePostgres(sql: SQL): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtextextended(${lockName("migrate")}, 0))`;
    await tx.unsafe("CREATE TABLE IF NOT EXISTS coze_schema (version INTEGER NOT NULL)");
    const [row] = await tx`SELECT max(version) AS version FROM coze_schema`;
    const version = Number(row?.version ?? 0);
    for (let step = version; step < STEPS.length; step++) for (const statement of STEPS[step]) await tx.unsafe(statement);
    if (version < STEPS.length) await tx`INSERT INTO coze_schema (version) VALUES (${STEPS.length})`;
  });
}
