/** Discord's limit on message content, counted in code points as Discord counts it. */
export const CONTENT_LIMIT = 2000;

/**
 * Discord's per-route rate limit as a fixed window: `limit` requests, then
 * 429 until the window resets. The headers are the ones discord.js reads to
 * pace itself (`X-RateLimit-*`), so a well-behaved client rarely sees a 429.
 */
export class RateLimitBucket {
  private count = 0;
  private resetAt = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly bucket: string,
  ) {}

  /** Counts a request; returns the headers to send and, when over the limit, how long to wait. */
  take(now = Date.now()): { headers: Record<string, string>; retryAfterMs?: number } {
    if (now >= this.resetAt) {
      this.count = 0;
      this.resetAt = now + this.windowMs;
    }
    const resetAfter = (this.resetAt - now) / 1000;
    const over = this.count >= this.limit;
    if (!over) this.count++;
    const headers: Record<string, string> = {
      "x-ratelimit-limit": String(this.limit),
      "x-ratelimit-remaining": String(this.limit - this.count),
      "x-ratelimit-reset": (this.resetAt / 1000).toFixed(3),
      "x-ratelimit-reset-after": resetAfter.toFixed(3),
      "x-ratelimit-bucket": this.bucket,
    };
    if (!over) return { headers };
    headers["retry-after"] = String(Math.ceil(resetAfter));
    headers["x-ratelimit-scope"] = "user";
    return { headers, retryAfterMs: this.resetAt - now };
  }
}

/** How the simulated Discord limits each bot: per channel, per parent channel for threads, and globally. */
export interface RateLimitOptions {
  /** Posts per channel per window (Discord's is about 5 per 5 s). */
  limit: number;
  windowMs: number;
  /** Requests per second over all routes (Discord's global limit, 50). */
  globalPerSecond?: number;
}

/** Every bot's buckets, made on first use; null options turn every limit off. */
export class RateLimits {
  private readonly buckets = new Map<string, RateLimitBucket>();

  constructor(private readonly options: RateLimitOptions | null) {}

  /** The bot's global bucket: requests per second over every route. */
  global(userId: string): RateLimitBucket | undefined {
    const perSecond = this.options?.globalPerSecond;
    if (!perSecond) return undefined;
    return this.bucket(userId, () => new RateLimitBucket(perSecond, 1000, "global"));
  }

  /** Posts of a bot in one channel. */
  channel(userId: string, channelId: string): RateLimitBucket | undefined {
    const options = this.options;
    if (!options) return undefined;
    return this.bucket(`${userId}:${channelId}`, () => new RateLimitBucket(options.limit, options.windowMs, Bun.hash(channelId).toString(16)));
  }

  /** Thread creation per parent channel: Discord publishes no figure, so the messages' limit. */
  threads(userId: string, parentId: string): RateLimitBucket | undefined {
    const options = this.options;
    if (!options) return undefined;
    const key = `${userId}:${parentId}:threads`;
    return this.bucket(key, () => new RateLimitBucket(options.limit, options.windowMs, Bun.hash(key).toString(16)));
  }

  private bucket(key: string, make: () => RateLimitBucket): RateLimitBucket {
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = make()));
    return bucket;
  }
}
