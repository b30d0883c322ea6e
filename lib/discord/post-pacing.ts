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
    const bucket = this.bucketOf(channelId);
    const limit = bucket?.limit ?? this.siblingLimit();
    const window = this.windowMs || DEFAULT_POST_WINDOW_MS;
    const now = Date.now();
    const open = bucket !== undefined && bucket.reset > now;
    const remaining = open ? Math.max(0, bucket.remaining) : limit;
    if (count <= remaining) return 0;
    const windows = Math.floor((count - remaining - 1) / limit);
    return (open ? bucket.reset - now : window) + windows * window + (windows + 1) * DISCORD_JS_OFFSET_MS;
  }

  /**
   * Samples the channel's bucket right after a post, when its window is
   * freshest. Only the channel's own bucket: this runs after every post, and
   * discord.js keeps a handler for every thread posted in lately.
   */
  learn(channelId: string): void {
    this.bucketOf(channelId);
  }

  /** The channel's bucket, when Discord's headers have told discord.js its limit; notes the longest window seen. */
  private bucketOf(channelId: string | undefined): BucketState | undefined {
    if (channelId === undefined) return undefined;
    const rest = this.restState();
    let bucket: BucketState | undefined;
    for (const prefix of this.prefixes(rest)) {
      const state = asState(rest.handlers.get(prefix + channelId));
      if (state !== undefined && Number.isFinite(state.limit)) {
        bucket = state;
        break;
      }
    }
    const now = Date.now();
    if (bucket && bucket.reset > now) this.windowMs = Math.max(this.windowMs, bucket.reset - now);
    return bucket;
  }

  /**
   * The limit of a channel we have not posted in: the one its siblings on the
   * same route have (the lowest), else Discord's documented one. It walks
   * every handler discord.js keeps, so only a prompt of several pieces asks.
   */
  private siblingLimit(): number {
    const rest = this.restState();
    const prefixes = this.prefixes(rest);
    let limit: number | undefined;
    for (const [id, handler] of rest.handlers) {
      const state = prefixes.some((p) => id.startsWith(p)) ? asState(handler) : undefined;
      if (state) limit = Math.min(limit ?? Infinity, state.limit);
    }
    return limit ?? DEFAULT_POST_LIMIT;
  }

  private restState() {
    return this.rest as { hashes: Map<string, { value: string }>; handlers: Map<string, Partial<BucketState>> };
  }

  /** discord.js keys a channel's queue by the route's bucket once Discord named it, by the route itself before. */
  private prefixes(rest: { hashes: Map<string, { value: string }> }): string[] {
    const named = rest.hashes.get(POST_ROUTE)?.value;
    return named === undefined ? [`Global(${POST_ROUTE}):`] : [`${named}:`, `Global(${POST_ROUTE}):`];
  }
}

const asState = (h: Partial<BucketState> | undefined) => (h && typeof h.limit === "number" && typeof h.remaining === "number" && typeof h.reset === "number" ? (h as BucketState) : undefined);
