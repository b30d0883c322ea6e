import { Database } from "bun:sqlite";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../config/config-error.ts";
import { errorText } from "../error-text.ts";
import type { Backend, StoreLimits, Write } from "./backend.ts";
import { migrateSqlite } from "./sqlite-schema.ts";
import type { ConversationPlace, EntryStates, Session } from "./store.ts";

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
      mkdirSync(dataDir, { recursive: true });
      this.imageDir = join(dataDir, "images");
      mkdirSync(this.imageDir, { recursive: true });
      this.db = new Database(join(dataDir, "coze-chat-proxy.sqlite"), { create: true, strict: true });
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
      putSession: db.query<never, [string, string, number]>("INSERT OR REPLACE INTO sessions (id, key_digest, expires_at) VALUES (?, ?, ?)"),
      getSession: db.query<{ key_digest: string; expires_at: number }, [string, number]>("SELECT key_digest, expires_at FROM sessions WHERE id = ? AND expires_at > ?"),
      endSession: db.query<never, [string]>("DELETE FROM sessions WHERE id = ?"),
      expireSessions: db.query<never, [number]>("DELETE FROM sessions WHERE expires_at <= ?"),
      addImage: db.query<never, [string, string, number, number]>("INSERT INTO images (id, ext, bytes, created_at) VALUES (?, ?, ?, ?)"),
      getImage: db.query<{ ext: string }, [string, number]>("SELECT ext FROM images WHERE id = ? AND created_at > ?"),
      oldestImages: db.query<{ id: string; ext: string; bytes: number; created_at: number }, []>("SELECT id, ext, bytes, created_at FROM images ORDER BY created_at LIMIT 100"),
      removeImage: db.query<never, [string]>("DELETE FROM images WHERE id = ?"),
      imageTotal: db.query<{ n: number | null }, []>("SELECT sum(bytes) AS n FROM images"),
      ping: db.query<{ one: number }, []>("SELECT 1 AS one"),
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
        return void q.putSession.run(w.id, w.session.keyDigest, w.session.expiresAt);
      case "end-session":
        return void q.endSession.run(w.id);
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

  async session(id: string, now: number): Promise<Session | undefined> {
    const row = this.q.getSession.get(id, now);
    return row ? { keyDigest: row.key_digest, expiresAt: row.expires_at } : undefined;
  }

  async countConversations() {
    return this.q.count.get()!.n;
  }

  /** The file first, then its row: a row never names a missing file. A failed row removes the file again. */
  async putImage(id: string, ext: string, data: Uint8Array, now: number) {
    const path = join(this.imageDir, `${id}.${ext}`);
    try {
      await Bun.write(path, data);
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
