import { SQL } from "bun";
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../config/config-error.ts";
import { errorText } from "../error-text.ts";
import { migratePostgres } from "./pg-schema.ts";
import { passwordRedactor } from "./redact.ts";
import { migrateSqlite } from "./sqlite-schema.ts";

/** The tables copied, each with its columns (the same names in both stores; images get their bytes added). */
const TABLES: { from: string; to: string; columns: string[]; key: string }[] = [
  { from: "conversations", to: "coze_conversations", columns: ["key", "entry_key", "channel_id", "used_at"], key: "key" },
  { from: "threads", to: "coze_threads", columns: ["channel_id", "entry_key", "used_at", "archived"], key: "channel_id" },
  { from: "rests", to: "coze_rests", columns: ["entry_key", "until"], key: "entry_key" },
  { from: "suspects", to: "coze_suspects", columns: ["entry_key", "until"], key: "entry_key" },
  { from: "responses", to: "coze_responses", columns: ["id", "scope", "transcript", "created_at"], key: "id" },
  { from: "sessions", to: "coze_sessions", columns: ["id_hash", "owner", "expires_at"], key: "id_hash" },
];
const BATCH = 500;

/**
 * `coze-chat-proxy migrate`: copies DATA_DIR's SQLite store (and its image
 * files) into the PostgreSQL database of DATABASE_URL, once, before the
 * instances move to it. Rows already in the database are kept (running it
 * twice copies nothing twice). Returns the rows copied per table.
 */
export async function migrateDataDir(dataDir: string, databaseUrl: string): Promise<Record<string, number>> {
  const file = join(dataDir, "coze-chat-proxy.sqlite");
  if (!existsSync(file)) throw new ConfigError(`DATA_DIR "${dataDir}" holds no store to migrate (no coze-chat-proxy.sqlite)`);
  const redact = passwordRedactor(databaseUrl);
  const local = new Database(file, { strict: true });
  const sql = new SQL(databaseUrl, { max: 2, connectionTimeout: 10 });
  try {
    local.run("PRAGMA busy_timeout = 5000");
    migrateSqlite(local); // an older DATA_DIR gets the tables this release copies
    await migratePostgres(sql);
    const copied: Record<string, number> = {};
    for (const table of TABLES) {
      const rows = local.query<Record<string, unknown>, []>(`SELECT ${table.columns.join(", ")} FROM ${table.from}`).all();
      if (table.from === "threads") for (const row of rows) row.archived = row.archived === 1;
      copied[table.from] = await insert(sql, table.to, table.columns, table.key, rows);
    }
    copied.images = await copyImages(local, sql, join(dataDir, "images"));
    return copied;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new Error(`migrate failed: ${redact(errorText(error))}`);
  } finally {
    local.close();
    await sql.close();
  }
}

async function insert(sql: SQL, table: string, columns: string[], key: string, rows: Record<string, unknown>[]): Promise<number> {
  let copied = 0;
  for (let i = 0; i < rows.length; i += BATCH) {
    const result = await sql`INSERT INTO ${sql(table)} ${sql(rows.slice(i, i + BATCH), ...columns)} ON CONFLICT (${sql(key)}) DO NOTHING`;
    copied += result.count;
  }
  return copied;
}

async function copyImages(local: Database, sql: SQL, dir: string): Promise<number> {
  let copied = 0;
  for (const image of local.query<{ id: string; ext: string; bytes: number; created_at: number }, []>("SELECT id, ext, bytes, created_at FROM images").all()) {
    const path = join(dir, `${image.id}.${image.ext}`);
    if (!existsSync(path)) continue; // swept meanwhile
    const data = new Uint8Array(await Bun.file(path).arrayBuffer());
    const result = await sql`INSERT INTO coze_images (id, ext, bytes, data, created_at) VALUES (${image.id}, ${image.ext}, ${data.byteLength}, ${data}, ${image.created_at}) ON CONFLICT (id) DO NOTHING`;
    copied += result.count;
  }
  return copied;
}
