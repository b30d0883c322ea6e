import { rateLimited, upstreamError, type ApiError } from "../openai/api-error.ts";
import { RelayError, type FailureOutcome } from "../relay-error.ts";

/** Statuses that say the entry (its token, channel or Discord itself) is at fault, not the request. */
const ENTRY_FAULT = new Set([0, 401, 403, 404, 500, 502, 503, 504]);

/**
 * A Discord call made for a request (a post, a thread) did not happen. The
 * pool turns discord.js errors into this, so the relay can decide on failover
 * without knowing discord.js. Every kind moves the request to another entry;
 * only a fault of the entry trips its breaker, never a rate limit.
 */
export class PostError extends RelayError {
  override name = "PostError";
  readonly movesOn = true;
  override readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    /** HTTP status Discord answered, 429 for a rate limit that would outlast the request's start deadline, 0 when Discord could not be reached. */
    readonly status: number,
    /** Discord's JSON error code (50013 missing permissions, 10003 unknown channel, 160006 too many threads…), when it gave one. */
    readonly code?: number,
    /** For a rate limit: how long until Discord takes the call. */
    retryAfterMs?: number,
  ) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }

  /** A rate limit is Discord pacing us, never a fault of the entry: no rest, no failure count. */
  get rateLimited(): boolean {
    return this.status === 429;
  }

  get outcome(): FailureOutcome {
    return ENTRY_FAULT.has(this.status) ? "failure" : "neutral";
  }

  toApiError(retryAfterMs?: number): ApiError {
    if (this.rateLimited) {
      return rateLimited(`Discord's rate limit on every bot of the model outlasts REPLY_START_TIMEOUT; try again shortly. (${this.message})`, (retryAfterMs ?? this.retryAfterMs ?? 5000) / 1000);
    }
    return upstreamError(this.message, "discord_error");
  }
}
