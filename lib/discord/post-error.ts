/**
 * Posting a prompt to Discord failed. The pool turns discord.js errors into
 * this, so the relay can decide on failover without knowing discord.js.
 */
export class PostError extends Error {
  override name = "PostError";
  constructor(
    message: string,
    /** HTTP status Discord answered, or 0 when it could not be reached. */
    readonly status: number,
    /** Discord's JSON error code (50013 missing permissions, 10003 unknown channel, …), when it gave one. */
    readonly code?: number,
  ) {
    super(message);
  }
}
