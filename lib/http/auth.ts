import { scrypt, timingSafeEqual } from "node:crypto";

/**
 * Builds the API key check once, outside the request path.
 *
 * The header must be exactly `Bearer KEY` (scheme case-insensitive, as HTTP
 * says) and KEY must equal one configured key. Keys are compared as SHA-256
 * digests with a constant-time comparison, so neither the content nor the
 * length of a key leaks through timing; every key is compared, so neither
 * does which one matched.
 */
export function createKeyCheck(keys: readonly string[]): (authorization: string | null) => boolean {
  const digests = keys.map(digest);
  return (authorization) => {
    if (authorization === null) return false;
    const match = /^Bearer ([\x21-\x7e]+)$/i.exec(authorization);
    if (!match) return false;
    const presented = digest(match[1]);
    let ok = false;
    for (const expected of digests) ok = timingSafeEqual(presented, expected) || ok;
    return ok;
  };
}

/** Stateless Bun.SHA256, not a CryptoHasher: no native object per request for the collector to finalize. */
function digest(key: string): Uint8Array {
  return Bun.SHA256.hash(key) as Uint8Array;
}

/** The cookie the status page's login sets: a random session id, kept server-side with an expiry. */
export const SESSION_COOKIE = "coze_chat_proxy_session";

/** The session id a Cookie header carries, if it carries one of the right shape (128 bits in hex). */
export function sessionIdFrom(cookieHeader: string | null): string | undefined {
  const value = cookieHeader?.split(/;\s*/).find((c) => c.startsWith(`${SESSION_COOKIE}=`))?.slice(SESSION_COOKIE.length + 1);
  return value && /^[0-9a-f]{32}$/.test(value) ? value : undefined;
}

/**
 * Which API key a session belongs to, as the store keeps it: a deliberately
 * slow digest (scrypt, off the event loop), so that a copy of the database
 * does not make guessing a weak key cheap. Computed once per configured key.
 */
export function keyOwner(key: string): Promise<string> {
  return new Promise((resolve, reject) =>
    scrypt(key, "coze-chat-proxy session owner", 32, { N: 1 << 14, r: 8, p: 1 }, (error, digest) => (error ? reject(error) : resolve(digest.toString("hex")))),
  );
}
