import { UpstreamFailure, type FailureKind } from "../pool/failure.ts";

/** Statuses that say the entry (its token, channel or Discord itself) is at fault, not the request. */
const ENTRY_FAULT = new Set([0, 401, 403, 404, 500, 502, 503, 504]);

function kindOf(status: number): FailureKind {
  if (status === 429) return "rate-limited";
  return ENTRY_FAULT.has(status) ? "entry-fault" : "call-failed";
}

/**
 * A Discord call made for a request (a post, a thread) did not happen. The
 * connection turns discord.js errors into this, so the relay can decide on
 * failover without knowing discord.js. Every kind moves the request to
 * another entry; only a fault of the entry trips its breaker, never a rate
 * limit (Discord pacing us).
 */
export class PostError extends UpstreamFailure {
  override name = "PostError";

  constructor(
    message: string,
    /** HTTP status Discord answered, 429 for a rate limit that would outlast the request's start deadline, 0 when Discord could not be reached. */
    readonly status: number,
    /** Discord's JSON error code (50013 missing permissions, 10003 unknown channel, 160006 too many threads…), when it gave one. */
    readonly code?: number,
    /** For a rate limit: how long until Discord takes the call. */
    retryAfterMs?: number,
    cause?: unknown,
  ) {
    super(
      kindOf(status),
      status === 429 ? `Discord's rate limit on every bot of the model outlasts REPLY_START_TIMEOUT; try again shortly. (${message})` : message,
      { openaiCode: status === 429 ? "discord_rate_limited" : "discord_error", retryAfterMs, cause },
    );
    this.message = message;
  }

  /** A rate limit is Discord pacing us, never a fault of the entry: no rest, no failure count. */
  get rateLimited(): boolean {
    return this.status === 429;
  }
}
