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
export const MAX_SESSIONS = 1000;

/** What the store keeps of a session id. */
export const sessionIdHash = (id: string) => new Bun.CryptoHasher("sha256").update(id).digest("hex");

export const newSessionId = () => Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
