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

function digest(key: string): Buffer {
  return new Bun.CryptoHasher("sha256").update(key).digest();
}
