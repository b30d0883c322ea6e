/**
 * What an entry's key holds of a secret (a bot token, an API token): the
 * first 16 hex digits of its SHA-256, never the secret. Keys are persisted
 * with conversations and rests, so every backend digests alike, and a change
 * here would orphan every stored conversation.
 */
export function secretDigest(secret: string): string {
  return new Bun.CryptoHasher("sha256").update(secret).digest("hex").slice(0, 16);
}
