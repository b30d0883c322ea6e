import { timingSafeEqual } from "node:crypto";

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

/** The cookie the status page's login sets: a digest of the key, never the key itself. */
export const SESSION_COOKIE = "coze_chat_proxy_session";

/** A session cookie's value for a key: a digest that the service can check and nobody can turn back into the key. */
export function sessionValue(key: string): string {
  return new Bun.CryptoHasher("sha256").update(`coze-chat-proxy session\u0000${key}`).digest("hex");
}

/** Builds the session-cookie check once: the cookie must carry the session value of one configured key. */
export function createSessionCheck(keys: readonly string[]): (cookieHeader: string | null) => boolean {
  const expected = keys.map((k) => Buffer.from(sessionValue(k)));
  return (cookieHeader) => {
    const value = cookieHeader?.split(/;\s*/).find((c) => c.startsWith(`${SESSION_COOKIE}=`))?.slice(SESSION_COOKIE.length + 1);
    if (!value || !/^[0-9a-f]{64}$/.test(value)) return false;
    const presented = Buffer.from(value);
    let ok = false;
    for (const e of expected) ok = timingSafeEqual(presented, e) || ok;
    return ok;
  };
}
