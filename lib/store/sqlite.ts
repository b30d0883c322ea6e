import { Database } from "bun:sqlite";
import { closeSync, mkdirSync, openSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "../config/config-error.ts";
import { errorText } from "../error-text.ts";
import type { Backend, StoreLimits, Write } from "./backend.ts";
import { migrateSqlite } from "./sqlite-schema.ts";
import { MAX_SESSIONS } from "./sessions.ts";
import type { ConversationPlace, EntryStates } from "./store.ts";

type Place = { entry_key: string; channel_id: string };
const place = (row: Place): ConversationPlace => ({ entryKey: row.entry_key, channelId: row.channel_id });

/**
 * The store in one SQLite database under DATA_DIR (WAL, so reads never wait
 * for a write) and the images as files beside it. Every statement is
 * prepared once. Nothing here waits for a lock once started: another process
 * holding the database makes a statement fail at once (busy_timeout 0), and
 * the store in front retries it in the background, never on the event loop.
 */
export class SqliteBackend implements Backend {
  readonly kind = "sqlite";
  readonly readsAtOnce = true;
  private readonly db: Database;
  private readonly imageDir: string;
  private readonly q;
  private readonly writeAll: (batch: Write[]) => void;
  private imageBytes: number;

  constructor(
    dataDir: string,
    private readonly limits: StoreLimits,
  ) {
    try {
      // Readable by the service's user only: conversations and images are other people's. SQLite gives its -wal and
      // -shm files the database file's mode, so the file is made 0600 before SQLite opens it.
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      this.imageDir = join(dataDir, "images");
      mkdirSync(this.imageDir, { recursive: true, mode: 0o700 });
      const file = join(dataDir, "coze-chat-proxy.sqlite");
      try {
        closeSync(openSync(file, "wx", 0o600));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      this.db = new Database(file, { create: true, strict: true });
      // At start another process (a backup, the previous release) may hold the database a moment: waiting here holds no request.
      this.db.run("PRAGMA busy_timeout = 5000");
      this.db.run("PRAGMA journal_mode = WAL");
      this.db.run("PRAGMA synchronous = NORMAL");
      migrateSqlite(this.db);
      this.db.run("PRAGMA busy_timeout = 0");
    } catch (error) {
      throw new ConfigError(`DATA_DIR "${dataDir}" cannot hold the service's database: ${errorText(error)}`, { cause: error });
    }
    const db = this.db;
    this.q = {
      find: db.query<Place, [string, number]>("SELECT entry_key, channel_id FROM conversations WHERE key = ? AND used_at > ?"),
      put: db.query<never, [string, string, string, number]>(
        "INSERT INTO conversations (key, entry_key, channel_id, used_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET entry_key = excluded.entry_key, channel_id = excluded.channel_id, used_at = excluded.used_at",
      ),
      forget: db.query<never, [string]>("DELETE FROM conversations WHERE key = ?"),
      count: db.query<{ n: number }, []>("SELECT count(*) AS n FROM conversations"),
      expire: db.query<never, [number]>("DELETE FROM conversations WHERE used_at <= ?"),
      trim: db.query<never, [number]>("DELETE FROM conversations WHERE key IN (SELECT key FROM conversations ORDER BY used_at LIMIT ?)"),
      touchThread: db.query<never, [string, string, number]>(
        "INSERT INTO threads (channel_id, entry_key, used_at, archived) VALUES (?, ?, ?, 0) ON CONFLICT (channel_id) DO UPDATE SET used_at = excluded.used_at, archived = 0",
      ),
      idleThreads: db.query<Place, [number, number]>("SELECT channel_id, entry_key FROM threads WHERE archived = 0 AND used_at <= ? ORDER BY used_at LIMIT ?"),
      oldestThreads: db.query<{ channel_id: string }, [string, number]>("SELECT channel_id FROM threads WHERE archived = 0 AND entry_key = ? ORDER BY used_at LIMIT ?"),
      archived: db.query<never, [string]>("UPDATE threads SET archived = 1 WHERE channel_id = ?"),
      forgetThreads: db.query<never, [number]>("DELETE FROM threads WHERE used_at <= ?"),
      rests: db.query<{ entry_key: string; until: number }, [number]>("SELECT entry_key, until FROM rests WHERE until > ?"),
      rest: db.query<never, [string, number]>("INSERT INTO rests (entry_key, until) VALUES (?, ?) ON CONFLICT (entry_key) DO UPDATE SET until = excluded.until"),
      forgetRests: db.query<never, [number]>("DELETE FROM rests WHERE until <= ?"),
      suspects: db.query<{ entry_key: string; until: number }, [number]>("SELECT entry_key, until FROM suspects WHERE until > ?"),
      suspect: db.query<never, [string, number]>("INSERT INTO suspects (entry_key, until) VALUES (?, ?) ON CONFLICT (entry_key) DO UPDATE SET until = excluded.until"),
      forgetSuspects: db.query<never, [number]>("DELETE FROM suspects WHERE until <= ?"),
      putResponse: db.query<never, [string, string, string, number]>("INSERT OR REPLACE INTO responses (id, scope, transcript, created_at) VALUES (?, ?, ?, ?)"),
      getResponse: db.query<{ transcript: string }, [string, string, number]>("SELECT transcript FROM responses WHERE id = ? AND scope = ? AND created_at > ?"),
      expireResponses: db.query<never, [number]>("DELETE FROM responses WHERE created_at <= ?"),
      trimResponses: db.query<never, [number]>("DELETE FROM responses WHERE id IN (SELECT id FROM responses ORDER BY created_at LIMIT ?)"),
      countResponses: db.query<{ n: number }, []>("SELECT count(*) AS n FROM responses"),
      putSession: db.query<never, [string, string, number]>("INSERT OR REPLACE INTO sessions (id_hash, owner, expires_at) VALUES (?, ?, ?)"),
      sessionOwner: db.query<{ owner: string }, [string, number]>("SELECT owner FROM sessions WHERE id_hash = ? AND expires_at > ?"),
      endSession: db.query<never, [string]>("DELETE FROM sessions WHERE id_hash = ?"),
      expireSessions: db.query<never, [number]>("DELETE FROM sessions WHERE expires_at <= ?"),
      trimSessions: db.query<never, [number]>("DELETE FROM sessions WHERE id_hash NOT IN (SELECT id_hash FROM sessions ORDER BY expires_at DESC LIMIT ?)"),
      owners: db.query<{ owner: string }, []>("SELECT DISTINCT owner FROM sessions"),
      endOwner: db.query<never, [string]>("DELETE FROM sessions WHERE owner = ?"),
      addImage: db.query<never, [string, string, number, number]>("INSERT INTO images (id, ext, bytes, created_at) VALUES (?, ?, ?, ?)"),
      getImage: db.query<{ ext: string }, [string, number]>("SELECT ext FROM images WHERE id = ? AND created_at > ?"),
      oldestImages: db.query<{ id: string; ext: string; bytes: number; created_at: number }, []>("SELECT id, ext, bytes, created_at FROM images ORDER BY created_at LIMIT 100"),
      removeImage: db.query<never, [string]>("DELETE FROM images WHERE id = ?"),
      imageTotal: db.query<{ n: number | null }, []>("SELECT sum(bytes) AS n FROM images"),
      // A read of a table, not of a constant: it fails while the file cannot be read.
      ping: db.query<{ one: number }, []>("SELECT 1 AS one FROM conversations LIMIT 1"),
    };
    this.imageBytes = this.q.imageTotal.get()?.n ?? 0;
    this.writeAll = db.transaction((batch: Write[]) => {
      for (const w of batch) this.apply(w);
    });
  }

  private apply(w: Write): void {
    const q = this.q;
    switch (w.kind) {
      case "conversation":
        return void q.put.run(w.key, w.place.entryKey, w.place.channelId, w.at);
      case "forget-conversation":
        return void q.forget.run(w.key);
      case "thread":
        return void q.touchThread.run(w.place.channelId, w.place.entryKey, w.at);
      case "archived":
        return void q.archived.run(w.channelId);
      case "response":
        return void q.putResponse.run(w.id, w.scope, w.transcript, w.at);
      case "rest":
        return void q.rest.run(w.entryKey, w.until);
      case "suspect":
        return void q.suspect.run(w.entryKey, w.until);
      case "session":
        q.putSession.run(w.idHash, w.owner, w.expiresAt);
        return void q.trimSessions.run(MAX_SESSIONS);
      case "end-session":
        return void q.endSession.run(w.idHash);
    }
  }

  async write(batch: Write[]): Promise<void> {
    this.writeAll(batch);
  }

  async conversation(key: string, since: number) {
    const row = this.q.find.get(key, since);
    return row ? place(row) : undefined;
  }

  async idleThreads(before: number, limit: number) {
    return this.q.idleThreads.all(before, limit).map(place);
  }

  async oldestThreads(entryKey: string, limit: number) {
    return this.q.oldestThreads.all(entryKey, limit).map((r) => r.channel_id);
  }

  async response(id: string, scope: string, since: number) {
    return this.q.getResponse.get(id, scope, since)?.transcript;
  }

  async entryStates(now: number): Promise<EntryStates> {
    return {
      rests: new Map(this.q.rests.all(now).map((r) => [r.entry_key, r.until])),
      suspects: new Map(this.q.suspects.all(now).map((r) => [r.entry_key, r.until])),
    };
  }

  async sessionOwner(idHash: string, now: number) {
    return this.q.sessionOwner.get(idHash, now)?.owner;
  }

  async revokeSessionsNotIn(owners: readonly string[]) {
    const keep = new Set(owners);
    let revoked = 0;
    for (const { owner } of this.q.owners.all()) if (!keep.has(owner)) revoked += this.q.endOwner.run(owner).changes;
    return revoked;
  }

  async countConversations() {
    return this.q.count.get()!.n;
  }

  /** The file first, then its row: a row never names a missing file. A failed row removes the file again. */
  async putImage(id: string, ext: string, data: Uint8Array, now: number) {
    const path = join(this.imageDir, `${id}.${ext}`);
    try {
      await writeFile(path, data, { mode: 0o600 }); // readable by the service's user only
      this.q.addImage.run(id, ext, data.byteLength, now);
    } catch (error) {
      rmSync(path, { force: true });
      throw error;
    }
    this.imageBytes += data.byteLength;
    if (this.imageBytes > this.limits.imageStoreMax) this.sweepImages(now);
  }

  async image(id: string, ext: string, since: number) {
    return this.q.getImage.get(id, since)?.ext === ext ? Bun.file(join(this.imageDir, `${id}.${ext}`)) : undefined;
  }

  async ping() {
    this.q.ping.get();
  }

  async sweep(limits: StoreLimits, now: number) {
    const q = this.q;
    const before = now - limits.conversationTtlMs;
    q.expire.run(before);
    q.forgetThreads.run(before);
    q.forgetRests.run(now);
    q.forgetSuspects.run(now);
    q.expireSessions.run(now);
    const excess = q.count.get()!.n - limits.maxConversations;
    if (excess > 0) q.trim.run(excess);
    q.expireResponses.run(before);
    const responses = q.countResponses.get()!.n - limits.maxConversations;
    if (responses > 0) q.trimResponses.run(responses);
    this.sweepImages(now);
    return true;
  }

  /** Forgets images past IMAGE_TTL, then the oldest while the store holds more than IMAGE_STORE_MAX. */
  private sweepImages(now: number): void {
    for (;;) {
      let removed = 0;
      for (const image of this.q.oldestImages.all()) {
        if (image.created_at > now - this.limits.imageTtlMs && this.imageBytes <= this.limits.imageStoreMax) return;
        this.q.removeImage.run(image.id);
        rmSync(join(this.imageDir, `${image.id}.${image.ext}`), { force: true });
        this.imageBytes -= image.bytes;
        removed++;
      }
      if (removed === 0) return;
    }
  }

  /** One process owns a DATA_DIR: the store's own in-process lock is the whole lock. */
  withLock<T>(_name: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  async close() {
    this.db.close();
  }
}
