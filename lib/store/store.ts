import { Database } from "bun:sqlite";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../config/config-error.ts";
import { ImageStore } from "./images.ts";
import { SqliteSessions, type Sessions } from "./sessions.ts";
import { errorText } from "../error-text.ts";

/** Where a conversation lives: the entry that serves it and the Discord thread (or channel) Coze reads it in. */
export interface ConversationPlace {
  entryKey: string;
  channelId: string;
}

/**
 * The state the service keeps across restarts, in one SQLite database under
 * DATA_DIR (WAL, so reads never wait for a write):
 *
 * - conversations: a key (the fingerprint of a conversation as Coze has seen
 *   it, or a client's X-Conversation-Id) → the entry and thread holding it,
 *   bounded by CONVERSATION_TTL and a row count;
 * - threads: the threads the service started, for archiving idle ones;
 * - rests: entries resting after a Coze quota error, so a restart does not
 *   hit a quota that is still out.
 *
 * Every statement is prepared once. Writes never hold a request up: they are
 * queued and written together, in one transaction, once per turn of the event
 * loop (reads see what is queued); close() writes what is left.
 */
export class Store {
  /** The images the service returns (DATA_DIR/images). */
  readonly images: ImageStore;
  /** The status page's login sessions. */
  readonly sessions: Sessions;
  private readonly db: Database;
  private readonly q;
  /** Conversations and thread uses not written yet, by key / thread id. */
  private readonly pendingConversations = new Map<string, ConversationPlace & { at: number }>();
  private readonly pendingThreads = new Map<string, ConversationPlace & { at: number }>();
  private flushScheduled = false;
  private readonly flushAll: () => void;

  constructor(
    dataDir: string,
    private readonly conversationTtlMs: number,
    limits: { imageTtlMs: number; imageStoreMax: number } = { imageTtlMs: 30 * 86_400_000, imageStoreMax: 1 << 30 },
    private readonly maxConversations = 100_000,
  ) {
    try {
      // Readable by the service's user only: conversations and images are other people's. SQLite gives its -wal and
      // -shm files the database file's mode, so the file is made 0600 before SQLite opens it.
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const file = join(dataDir, "coze-chat-proxy.sqlite");
      try {
        closeSync(openSync(file, "wx", 0o600));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      this.db = new Database(file, { create: true, strict: true });
      this.db.run("PRAGMA journal_mode = WAL");
      this.db.run("PRAGMA synchronous = NORMAL");
      this.db.run("PRAGMA busy_timeout = 2000");
      this.db.run(`CREATE TABLE IF NOT EXISTS conversations (
        key TEXT PRIMARY KEY, entry_key TEXT NOT NULL, channel_id TEXT NOT NULL, used_at INTEGER NOT NULL)`);
      this.db.run("CREATE INDEX IF NOT EXISTS conversations_used ON conversations (used_at)");
      this.db.run(`CREATE TABLE IF NOT EXISTS threads (
        channel_id TEXT PRIMARY KEY, entry_key TEXT NOT NULL, used_at INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0)`);
      this.db.run("CREATE INDEX IF NOT EXISTS threads_active ON threads (archived, used_at)");
      this.db.run("CREATE TABLE IF NOT EXISTS rests (entry_key TEXT PRIMARY KEY, until INTEGER NOT NULL)");
      this.db.run("CREATE TABLE IF NOT EXISTS suspects (entry_key TEXT PRIMARY KEY, until INTEGER NOT NULL)");
      this.db.run("CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, scope TEXT NOT NULL, transcript TEXT NOT NULL, created_at INTEGER NOT NULL)");
      this.db.run("CREATE INDEX IF NOT EXISTS responses_created ON responses (created_at)");
      this.images = new ImageStore(this.db, dataDir, limits.imageTtlMs, limits.imageStoreMax);
      this.sessions = new SqliteSessions(this.db);
    } catch (error) {
      throw new ConfigError(`DATA_DIR "${dataDir}" cannot hold the service's database: ${errorText(error)}`);
    }
    this.q = {
      find: this.db.query<{ entry_key: string; channel_id: string }, [string, number]>(
        "SELECT entry_key, channel_id FROM conversations WHERE key = ? AND used_at > ?",
      ),
      take: this.db.query<{ entry_key: string; channel_id: string }, [string, number]>(
        "DELETE FROM conversations WHERE key = ? AND used_at > ? RETURNING entry_key, channel_id",
      ),
      put: this.db.query<never, [string, string, string, number]>(
        "INSERT INTO conversations (key, entry_key, channel_id, used_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET entry_key = excluded.entry_key, channel_id = excluded.channel_id, used_at = excluded.used_at",
      ),
      count: this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM conversations"),
      expire: this.db.query<never, [number]>("DELETE FROM conversations WHERE used_at <= ?"),
      trim: this.db.query<never, [number]>("DELETE FROM conversations WHERE key IN (SELECT key FROM conversations ORDER BY used_at LIMIT ?)"),
      touchThread: this.db.query<never, [string, string, number]>(
        "INSERT INTO threads (channel_id, entry_key, used_at, archived) VALUES (?, ?, ?, 0) ON CONFLICT (channel_id) DO UPDATE SET used_at = excluded.used_at, archived = 0",
      ),
      idleThreads: this.db.query<{ channel_id: string; entry_key: string }, [number, number]>(
        "SELECT channel_id, entry_key FROM threads WHERE archived = 0 AND used_at <= ? ORDER BY used_at LIMIT ?",
      ),
      oldestThreads: this.db.query<{ channel_id: string }, [string, number]>(
        "SELECT channel_id FROM threads WHERE archived = 0 AND entry_key = ? ORDER BY used_at LIMIT ?",
      ),
      archived: this.db.query<never, [string]>("UPDATE threads SET archived = 1 WHERE channel_id = ?"),
      forgetThreads: this.db.query<never, [number]>("DELETE FROM threads WHERE used_at <= ?"),
      rests: this.db.query<{ entry_key: string; until: number }, [number]>("SELECT entry_key, until FROM rests WHERE until > ?"),
      rest: this.db.query<never, [string, number]>("INSERT INTO rests (entry_key, until) VALUES (?, ?) ON CONFLICT (entry_key) DO UPDATE SET until = excluded.until"),
      forgetRests: this.db.query<never, [number]>("DELETE FROM rests WHERE until <= ?"),
      suspects: this.db.query<{ entry_key: string; until: number }, [number]>("SELECT entry_key, until FROM suspects WHERE until > ?"),
      suspect: this.db.query<never, [string, number]>("INSERT INTO suspects (entry_key, until) VALUES (?, ?) ON CONFLICT (entry_key) DO UPDATE SET until = excluded.until"),
      putResponse: this.db.query<never, [string, string, string, number]>("INSERT OR REPLACE INTO responses (id, scope, transcript, created_at) VALUES (?, ?, ?, ?)"),
      getResponse: this.db.query<{ transcript: string }, [string, string, number]>("SELECT transcript FROM responses WHERE id = ? AND scope = ? AND created_at > ?"),
      expireResponses: this.db.query<never, [number]>("DELETE FROM responses WHERE created_at <= ?"),
      trimResponses: this.db.query<never, [number]>("DELETE FROM responses WHERE id IN (SELECT id FROM responses ORDER BY created_at LIMIT ?)"),
      countResponses: this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM responses"),
    };
    this.flushAll = this.db.transaction(() => {
      for (const [key, p] of this.pendingConversations) this.q.put.run(key, p.entryKey, p.channelId, p.at);
      for (const [, p] of this.pendingThreads) this.q.touchThread.run(p.channelId, p.entryKey, p.at);
      this.pendingConversations.clear();
      this.pendingThreads.clear();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes what is queued. */
  flush(): void {
    this.flushScheduled = false;
    if (this.pendingConversations.size > 0 || this.pendingThreads.size > 0) this.flushAll();
  }

  /** The conversation remembered under `key`, still remembered afterwards (X-Conversation-Id). */
  find(key: string, now = Date.now()): ConversationPlace | undefined {
    const pending = this.pendingConversations.get(key);
    if (pending) return { entryKey: pending.entryKey, channelId: pending.channelId };
    const row = this.q.find.get(key, now - this.conversationTtlMs);
    return row ? { entryKey: row.entry_key, channelId: row.channel_id } : undefined;
  }

  /** The conversation remembered under `key`, forgotten as it is taken: a remembered state is continued once. */
  take(key: string, now = Date.now()): ConversationPlace | undefined {
    const pending = this.pendingConversations.get(key);
    if (pending) {
      this.pendingConversations.delete(key);
      this.q.take.get(key, 0);
      return { entryKey: pending.entryKey, channelId: pending.channelId };
    }
    const row = this.q.take.get(key, now - this.conversationTtlMs);
    return row ? { entryKey: row.entry_key, channelId: row.channel_id } : undefined;
  }

  remember(key: string, place: ConversationPlace, now = Date.now()): void {
    this.pendingConversations.set(key, { ...place, at: now });
    this.scheduleFlush();
  }

  /** Notes that a thread the service posts in was used now (and is active: posting unarchives). */
  touchThread(place: ConversationPlace, now = Date.now()): void {
    this.pendingThreads.set(place.channelId, { ...place, at: now });
    this.scheduleFlush();
  }

  /** Active threads not used since `before`, oldest first. */
  idleThreads(before: number, limit = 100): ConversationPlace[] {
    this.flush();
    return this.q.idleThreads.all(before, limit).map((r) => ({ entryKey: r.entry_key, channelId: r.channel_id }));
  }

  /** The entry's least recently used active threads. */
  oldestThreads(entryKey: string, limit: number): string[] {
    this.flush();
    return this.q.oldestThreads.all(entryKey, limit).map((r) => r.channel_id);
  }

  markArchived(channelId: string): void {
    this.q.archived.run(channelId);
  }

  /**
   * A Responses API answer's conversation (its messages and the answer), so
   * that `previous_response_id` can continue it; scoped to the API key.
   */
  rememberResponse(id: string, scope: string, transcript: unknown, now = Date.now()): void {
    this.q.putResponse.run(id, scope, JSON.stringify(transcript), now);
  }

  response(id: string, scope: string, now = Date.now()): unknown {
    const row = this.q.getResponse.get(id, scope, now - this.conversationTtlMs);
    return row ? JSON.parse(row.transcript) : undefined;
  }

  /** Quota rests still running, by entry key. */
  rests(now = Date.now()): Map<string, number> {
    return new Map(this.q.rests.all(now).map((r) => [r.entry_key, r.until]));
  }

  rest(entryKey: string, until: number): void {
    this.q.rest.run(entryKey, until);
  }

  /** Entries marked suspect whose probe had not ended, by entry key (the time the mark lapses). */
  suspects(now = Date.now()): Map<string, number> {
    return new Map(this.q.suspects.all(now).map((r) => [r.entry_key, r.until]));
  }

  /** Marks an entry suspect until `until` (0 clears the mark). */
  suspect(entryKey: string, until: number): void {
    this.q.suspect.run(entryKey, until);
  }

  get conversations(): number {
    this.flush();
    return this.q.count.get()!.n;
  }

  /** Forgets what is past its age, and the oldest conversations beyond the row bound. */
  sweep(now = Date.now()): void {
    this.q.expire.run(now - this.conversationTtlMs);
    this.q.forgetThreads.run(now - this.conversationTtlMs);
    this.q.forgetRests.run(now);
    this.images.sweep(now);
    const excess = this.conversations - this.maxConversations;
    if (excess > 0) this.q.trim.run(excess);
    this.q.expireResponses.run(now - this.conversationTtlMs);
    const responses = this.q.countResponses.get()!.n - this.maxConversations;
    if (responses > 0) this.q.trimResponses.run(responses);
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
