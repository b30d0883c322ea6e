import { SQL } from "bun";
import { log } from "../log.ts";
import { errorText } from "../error-text.ts";
import { LockUnavailable, type Backend, type StoreLimits, type Write } from "./backend.ts";
import { lockName, migratePostgres } from "./pg-schema.ts";
import { passwordRedactor, safeDatabaseUrl } from "./redact.ts";
import { MAX_SESSIONS } from "./sessions.ts";
import type { ConversationPlace, EntryStates } from "./store.ts";

/** Connections to the database at most, per instance, for reads and writes. */
const POOL_SIZE = 10;
/**
 * Connections for locks, apart: a lock held during a chat keeps its
 * connection for the chat's length, and must never leave reads and writes
 * waiting for one. Beyond this many locks at once, the next waits.
 */
const LOCK_POOL_SIZE = 30;
/** Until the schema is ready, tries again this often (a database down at start is a degraded start, not an exit). */
const OPEN_RETRY_MS = 1000;

type Place = { entry_key: string; channel_id: string };
const place = (row: Place): ConversationPlace => ({ entryKey: row.entry_key, channelId: row.channel_id });

/**
 * The store in PostgreSQL (DATABASE_URL), shared by every instance that
 * points at the same database: conversations continue on whichever instance
 * the next request reaches, a rest seen by one is honoured by all, images are
 * kept with their bytes so any instance serves them. Bun's own SQL client is
 * the driver. Until the database answers and its schema is ready, every call
 * fails at once (the store in front treats that as a failing store).
 */
export class PostgresBackend implements Backend {
  readonly kind = "postgres";
  readonly redact: (text: string) => string;
  private readonly sql: SQL;
  private lockSql: SQL | undefined;
  private migrated = false;
  private opening: Promise<void> | undefined;
  private closed = false;
  private readonly opened = Promise.withResolvers<void>();

  constructor(
    private readonly url: string,
    private readonly limits: StoreLimits,
  ) {
    this.redact = passwordRedactor(url);
    this.sql = new SQL(url, { max: POOL_SIZE, idleTimeout: 60, connectionTimeout: 5 });
    void this.open();
  }

  /** Resolves once the schema is ready (never, while the database stays away). */
  get ready(): Promise<void> {
    return this.opened.promise;
  }

  private open(): Promise<void> {
    this.opening ??= (async () => {
      let logged = false;
      while (!this.migrated && !this.closed) {
        try {
          await migratePostgres(this.sql);
          this.migrated = true;
          this.opened.resolve();
          log.info("the database is ready", { store: "postgres", url: safeDatabaseUrl(this.url) });
        } catch (error) {
          if (!logged) log.warn("the database cannot be used yet; serving without it and trying again", { url: safeDatabaseUrl(this.url), error: this.redact(errorText(error)) });
          logged = true;
          await Bun.sleep(OPEN_RETRY_MS);
        }
      }
    })();
    return this.opening;
  }

  private get db(): SQL {
    if (!this.migrated) throw new Error("the database is not ready (not reachable, or its schema not created yet)");
    return this.sql;
  }

  async write(batch: Write[]): Promise<void> {
    const db = this.db;
    await db.begin(async (tx) => {
      // Sent together on the transaction's connection, in order: one round trip's wait, not one per write.
      await Promise.all(batch.map((w) => apply(tx, w)));
    });
  }

  async conversation(key: string, since: number) {
    const [row] = await this.db`SELECT entry_key, channel_id FROM coze_conversations WHERE key = ${key} AND used_at > ${since}`;
    return row ? place(row) : undefined;
  }

  async idleThreads(before: number, limit: number) {
    const rows = await this.db`SELECT channel_id, entry_key FROM coze_threads WHERE NOT archived AND used_at <= ${before} ORDER BY used_at LIMIT ${limit}`;
    return rows.map(place);
  }

  async oldestThreads(entryKey: string, limit: number) {
    const rows = await this.db`SELECT channel_id FROM coze_threads WHERE NOT archived AND entry_key = ${entryKey} ORDER BY used_at LIMIT ${limit}`;
    return rows.map((r: { channel_id: string }) => r.channel_id);
  }

  async response(id: string, scope: string, since: number) {
    const [row] = await this.db`SELECT transcript FROM coze_responses WHERE id = ${id} AND scope = ${scope} AND created_at > ${since}`;
    return row?.transcript as string | undefined;
  }

  async entryStates(now: number): Promise<EntryStates> {
    const db = this.db;
    const [rests, suspects] = await Promise.all([
      db`SELECT entry_key, until FROM coze_rests WHERE until > ${now}`,
      db`SELECT entry_key, until FROM coze_suspects WHERE until > ${now}`,
    ]);
    const map = (rows: { entry_key: string; until: string }[]) => new Map(rows.map((r) => [r.entry_key, Number(r.until)]));
    return { rests: map(rests), suspects: map(suspects) };
  }

  async sessionOwner(idHash: string, now: number) {
    const [row] = await this.db`SELECT owner FROM coze_sessions WHERE id_hash = ${idHash} AND expires_at > ${now}`;
    return row?.owner as string | undefined;
  }

  async revokeSessionsNotIn(owners: readonly string[]) {
    const result = await this.db`DELETE FROM coze_sessions WHERE NOT (owner = ANY(${this.sql.array([...owners], "TEXT")}))`;
    return result.count as number;
  }

  async countConversations() {
    const [row] = await this.db`SELECT count(*)::int AS n FROM coze_conversations`;
    return row.n as number;
  }

  async putImage(id: string, ext: string, data: Uint8Array, now: number) {
    const db = this.db;
    await db`INSERT INTO coze_images (id, ext, bytes, data, created_at) VALUES (${id}, ${ext}, ${data.byteLength}, ${data}, ${now})`;
    const [{ total }] = await db`SELECT coalesce(sum(bytes), 0)::float8 AS total FROM coze_images`;
    if (total > this.limits.imageStoreMax) await trimImages(db, this.limits, now);
  }

  async image(id: string, ext: string, since: number) {
    const [row] = await this.db`SELECT data FROM coze_images WHERE id = ${id} AND ext = ${ext} AND created_at > ${since}`;
    return row ? new Uint8Array(row.data) : undefined;
  }

  async ping() {
    // A read of the table look-ups read: it waits, and times out, while that table is locked or the server stalls.
    await this.db`SELECT 1 FROM coze_conversations LIMIT 1`;
  }

  /** Under a lock taken without waiting: when another instance is sweeping, this one leaves the rows to it. */
  async sweep(limits: StoreLimits, now: number) {
    return this.db.begin(async (tx) => {
      const [{ mine }] = await tx`SELECT pg_try_advisory_xact_lock(hashtextextended(${lockName("sweep")}, 0)) AS mine`;
      if (!mine) return false;
      const before = now - limits.conversationTtlMs;
      await tx`DELETE FROM coze_conversations WHERE used_at <= ${before}`;
      await tx`DELETE FROM coze_threads WHERE used_at <= ${before}`;
      await tx`DELETE FROM coze_rests WHERE until <= ${now}`;
      await tx`DELETE FROM coze_suspects WHERE until <= ${now}`;
      await tx`DELETE FROM coze_sessions WHERE expires_at <= ${now}`;
      await tx`DELETE FROM coze_responses WHERE created_at <= ${before}`;
      for (const table of ["coze_conversations", "coze_responses"]) {
        const order = table === "coze_conversations" ? "used_at" : "created_at";
        const key = table === "coze_conversations" ? "key" : "id";
        await tx.unsafe(`DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} ORDER BY ${order} DESC OFFSET $1)`, [limits.maxConversations]);
      }
      await trimImages(tx, limits, now);
      return true;
    });
  }

  /**
   * A session-level advisory lock on a connection of its own, held while
   * `fn` runs: another instance asking for the same name waits. Released
   * by the server itself when the connection ends (an instance that dies
   * never leaves a lock behind).
   */
  async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    let reserved;
    try {
      if (!this.migrated) throw new Error("the database is not ready");
      this.lockSql ??= new SQL(this.url, { max: LOCK_POOL_SIZE, idleTimeout: 60, connectionTimeout: 5 });
      reserved = await this.lockSql.reserve();
      await reserved`SELECT pg_advisory_lock(hashtextextended(${lockName(`lock:${name}`)}, 0))`;
    } catch (error) {
      reserved?.release();
      throw new LockUnavailable(this.redact(errorText(error)), { cause: error });
    }
    try {
      return await fn();
    } finally {
      const held = reserved;
      void held`SELECT pg_advisory_unlock(hashtextextended(${lockName(`lock:${name}`)}, 0))`
        .catch(() => held.close()) // a connection that cannot unlock is closed: the server releases its locks
        .finally(() => held.release());
    }
  }

  async close() {
    this.closed = true;
    await Promise.all([this.sql.close({ timeout: 1 }), this.lockSql?.close({ timeout: 1 })]);
  }
}

function apply(tx: SQL, w: Write): Promise<unknown> {
  switch (w.kind) {
    case "conversation":
      return tx`INSERT INTO coze_conversations (key, entry_key, channel_id, used_at) VALUES (${w.key}, ${w.place.entryKey}, ${w.place.channelId}, ${w.at})
        ON CONFLICT (key) DO UPDATE SET entry_key = excluded.entry_key, channel_id = excluded.channel_id, used_at = excluded.used_at`;
    case "forget-conversation":
      return tx`DELETE FROM coze_conversations WHERE key = ${w.key}`;
    case "thread":
      return tx`INSERT INTO coze_threads (channel_id, entry_key, used_at, archived) VALUES (${w.place.channelId}, ${w.place.entryKey}, ${w.at}, FALSE)
        ON CONFLICT (channel_id) DO UPDATE SET used_at = excluded.used_at, archived = FALSE`;
    case "archived":
      return tx`UPDATE coze_threads SET archived = TRUE WHERE channel_id = ${w.channelId}`;
    case "response":
      return tx`INSERT INTO coze_responses (id, scope, transcript, created_at) VALUES (${w.id}, ${w.scope}, ${w.transcript}, ${w.at})
        ON CONFLICT (id) DO UPDATE SET scope = excluded.scope, transcript = excluded.transcript, created_at = excluded.created_at`;
    case "rest":
      return tx`INSERT INTO coze_rests (entry_key, until) VALUES (${w.entryKey}, ${w.until}) ON CONFLICT (entry_key) DO UPDATE SET until = excluded.until`;
    case "suspect":
      return tx`INSERT INTO coze_suspects (entry_key, until) VALUES (${w.entryKey}, ${w.until}) ON CONFLICT (entry_key) DO UPDATE SET until = excluded.until`;
    case "session":
      return tx`INSERT INTO coze_sessions (id_hash, owner, expires_at) VALUES (${w.idHash}, ${w.owner}, ${w.expiresAt})
        ON CONFLICT (id_hash) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at`.then(
        () => tx`DELETE FROM coze_sessions WHERE id_hash IN (SELECT id_hash FROM coze_sessions ORDER BY expires_at DESC OFFSET ${MAX_SESSIONS})`,
      );
    case "end-session":
      return tx`DELETE FROM coze_sessions WHERE id_hash = ${w.idHash}`;
  }
}

/** Images past IMAGE_TTL, then the oldest beyond IMAGE_STORE_MAX bytes (the newest kept up to the bound). */
async function trimImages(db: SQL, limits: StoreLimits, now: number): Promise<void> {
  await db`DELETE FROM coze_images WHERE created_at <= ${now - limits.imageTtlMs}`;
  await db`DELETE FROM coze_images WHERE id IN (
    SELECT id FROM (SELECT id, sum(bytes) OVER (ORDER BY created_at DESC, id DESC) AS running FROM coze_images) r WHERE running > ${limits.imageStoreMax})`;
}
