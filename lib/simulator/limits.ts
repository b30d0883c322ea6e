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
