import type { Database } from "bun:sqlite";

/**
 * The status page's login sessions, kept server-side so that a cookie can
 * expire and be revoked. A session id is 128 random bits, never derived from
 * an API key; the store keeps only its SHA-256, so reading the database does
 * not yield a cookie that works. `owner` names the API key a session was
 * opened with, as the caller fingerprints it, so that sessions of a key
 * removed from AUTH_TOKEN can be revoked.
 */
export interface Sessions {
  /** Opens a session for `owner` until `expiresAt` (ms); returns its id, the cookie's value. */
  create(owner: string, expiresAt: number): Promise<string>;
  /** The owner of a live session, or undefined for an unknown, revoked or expired one. */
  lookup(id: string, now?: number): Promise<string | undefined>;
  revoke(id: string): Promise<void>;
  /** Revokes every session whose owner is not one of `owners`; returns how many sessions. */
  revokeKeysNotIn(owners: readonly string[]): Promise<number>;
}

/** Most sessions kept at once; beyond it the oldest go (a login loop cannot grow the table). */
const MAX_SESSIONS = 1000;

const hashOf = (id: string) => new Bun.CryptoHasher("sha256").update(id).digest("hex");

/** Sessions in the service's SQLite database. */
export class SqliteSessions implements Sessions {
  private readonly q;

  constructor(db: Database) {
    db.run("CREATE TABLE IF NOT EXISTS sessions (id_hash TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)");
    db.run("CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at)");
    this.q = {
      add: db.query<never, [string, string, number]>("INSERT INTO sessions (id_hash, owner, expires_at) VALUES (?, ?, ?)"),
      get: db.query<{ owner: string }, [string, number]>("SELECT owner FROM sessions WHERE id_hash = ? AND expires_at > ?"),
      remove: db.query<never, [string]>("DELETE FROM sessions WHERE id_hash = ?"),
      expire: db.query<never, [number]>("DELETE FROM sessions WHERE expires_at <= ?"),
      trim: db.query<never, [number]>("DELETE FROM sessions WHERE id_hash NOT IN (SELECT id_hash FROM sessions ORDER BY expires_at DESC LIMIT ?)"),
      owners: db.query<{ owner: string }, []>("SELECT DISTINCT owner FROM sessions"),
      removeOwner: db.query<never, [string]>("DELETE FROM sessions WHERE owner = ?"),
    };
  }

  async create(owner: string, expiresAt: number): Promise<string> {
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
    this.q.expire.run(Date.now());
    this.q.add.run(hashOf(id), owner, expiresAt);
    this.q.trim.run(MAX_SESSIONS);
    return id;
  }

  async lookup(id: string, now = Date.now()): Promise<string | undefined> {
    return this.q.get.get(hashOf(id), now)?.owner;
  }

  async revoke(id: string): Promise<void> {
    this.q.remove.run(hashOf(id));
  }

  async revokeKeysNotIn(owners: readonly string[]): Promise<number> {
    const keep = new Set(owners);
    let revoked = 0;
    for (const { owner } of this.q.owners.all()) {
      if (keep.has(owner)) continue;
      revoked += this.q.removeOwner.run(owner).changes;
    }
    return revoked;
  }
}
