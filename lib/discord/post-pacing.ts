/**
 * How Discord paces posts in a channel, as discord.js learned it from
 * Discord's headers (X-RateLimit-Limit, -Remaining, -Reset), read from its
 * REST handlers' public fields: so that a prompt of several pieces is posted
 * only when all of them can go out in time.
 */

/** Posts per window in a channel Discord has not told us about yet: its documented 5 per 5 s for a bot. */
const DEFAULT_POST_LIMIT = 5;
const DEFAULT_POST_WINDOW_MS = 5_000;
/** discord.js's bucket for posting a message, before Discord names it (X-RateLimit-Bucket). */
const POST_ROUTE = "POST:/channels/:id/messages";
/** discord.js adds about this much to every wait it computes. */
const DISCORD_JS_OFFSET_MS = 50;

/** What discord.js knows of one rate-limit bucket, from Discord's headers (its handlers' public fields). */
interface BucketState {
  limit: number;
  remaining: number;
  /** Date.now() when the window ends. */
  reset: number;
}

/** Posts per channel as discord.js's buckets know them. */
export class PostPacing {
  /** The longest post window seen, ms: Discord's headers say when a window ends, not how long it lasts. */
  private windowMs = 0;

  constructor(private readonly rest: unknown) {}

  /**
   * How long until `count` posts in `channelId` could all have gone out
   * under Discord's rate limit, as discord.js learned it from Discord's
   * headers; a channel not posted in yet (undefined: a thread still to
   * start) opens a fresh window of the limit its sibling channels have.
   */
  waitMs(channelId: string | undefined, count: number): number {
    const { limit, window, bucket } = this.buckets(channelId);
    const now = Date.now();
    const open = bucket !== undefined && bucket.reset > now;
    const remaining = open ? Math.max(0, bucket.remaining) : limit;
    if (count <= remaining) return 0;
    const windows = Math.floor((count - remaining - 1) / limit);
    return (open ? bucket.reset - now : window) + windows * window + (windows + 1) * DISCORD_JS_OFFSET_MS;
  }

  /** Samples the channel's bucket right after a post, when its window is freshest. */
  learn(channelId: string): void {
    this.buckets(channelId);
  }

  private buckets(channelId: string | undefined): { limit: number; window: number; bucket: BucketState | undefined } {
    const rest = this.rest as unknown as { hashes: Map<string, { value: string }>; handlers: Map<string, Partial<BucketState>> };
    // discord.js keys a channel's queue by the route's bucket once Discord named it, by the route itself before.
    const prefixes = [rest.hashes.get(POST_ROUTE)?.value, `Global(${POST_ROUTE})`].filter((p) => p !== undefined).map((p) => `${p}:`);
    const asState = (h: Partial<BucketState> | undefined) => (h && typeof h.limit === "number" && typeof h.remaining === "number" && typeof h.reset === "number" ? (h as BucketState) : undefined);
    const bucket = channelId === undefined ? undefined : prefixes.map((p) => asState(rest.handlers.get(p + channelId))).find((b) => b !== undefined && Number.isFinite(b.limit));
    let limit = bucket?.limit;
    if (limit === undefined) {
      // The limit of a channel we have not posted in is the one its siblings on the same route have.
      for (const [id, handler] of rest.handlers) {
        const state = prefixes.some((p) => id.startsWith(p)) ? asState(handler) : undefined;
        if (state) limit = Math.min(limit ?? Infinity, state.limit);
      }
    }
    const now = Date.now();
    if (bucket && bucket.reset > now) this.windowMs = Math.max(this.windowMs, bucket.reset - now);
    return { limit: limit ?? DEFAULT_POST_LIMIT, window: this.windowMs || DEFAULT_POST_WINDOW_MS, bucket };
  }
}
