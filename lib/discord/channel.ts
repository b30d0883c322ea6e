import type { DiscordEntry } from "../config/bots.ts";
import type { InputFile } from "../pool/seam.ts";
import type { CallLimits } from "./call-limits.ts";
import type { Connection } from "./connection.ts";
import { PostError } from "./post-error.ts";
import type { ReplyMessage } from "./reply-message.ts";

/**
 * A Discord entry's place: bot-02's connection (shared by the entries of one
 * bot token), the channel it posts in, and the Coze bot it mentions there.
 */
export class DiscordChannel {
  /** Calls of this entry under way or waiting out a rate limit: how far behind its channel is. */
  queued = 0;

  constructor(
    readonly entry: DiscordEntry,
    readonly connection: Connection,
    /** Discord messages one prompt may become at most (PROMPT_MAX_POSTS). */
    readonly maxPosts = DEFAULT_MAX_POSTS,
  ) {}

  /** How a prompt addresses the Coze bot (bot-01). */
  get mention(): string {
    return `<@${this.entry.coze_bot_id}>`;
  }

  /**
   * Posts the prompt messages in order; returns the id of the last one, the
   * one that mentions Coze and that Coze answers. A prompt of several pieces
   * goes out whole or not at all: its first piece is posted only when
   * Discord's rate limit lets every piece out before the start deadline, and
   * once it is out the others wait as long as they must.
   */
  async post(channelId: string, contents: string[], files: InputFile[], limits: CallLimits): Promise<string> {
    this.queued++;
    try {
      this.mayPostAll(channelId, contents.length, limits);
      let id = "";
      for (let i = 0; i < contents.length; i++) {
        const last = i === contents.length - 1;
        const pieceLimits = i === 0 ? limits : limits.later(COMMITTED_GRACE_MS);
        try {
          id = await this.connection.post(channelId, contents[i], last ? this.entry.coze_bot_id : undefined, last ? files : [], pieceLimits).catch(this.namePermissions);
        } finally {
          if (pieceLimits !== limits) pieceLimits.close();
        }
      }
      return id;
    } finally {
      this.queued--;
    }
  }

  /**
   * Throws a 429 PostError when `count` posts in `channelId` (undefined: a
   * thread not started yet) could not all go out before `limits.deadline`.
   */
  mayPostAll(channelId: string | undefined, count: number, limits: CallLimits): void {
    if (count <= 1) return;
    const waitMs = this.connection.pacing.waitMs(channelId, count);
    if (Date.now() + waitMs + POST_MARGIN_MS <= limits.deadline) return;
    throw new PostError(
      `Discord's rate limit would let only part of the prompt's ${count} messages out before REPLY_START_TIMEOUT (all of them need ${Math.ceil(waitMs / 1000)} s); nothing was posted`,
      429,
      undefined,
      Math.max(1000, waitMs),
    );
  }

  async createThread(name: string, limits: CallLimits): Promise<string> {
    this.queued++;
    try {
      return await this.connection.createThread(this.entry.channel_id, name, limits).catch(this.namePermissions);
    } finally {
      this.queued--;
    }
  }

  /**
   * Discord says only "Missing Permissions" (50013): the error names which
   * of the entry's channel permissions bot-02 lacks, and what to do.
   */
  private readonly namePermissions = (error: unknown): never => {
    if (!(error instanceof PostError) || error.code !== 50013) throw error;
    const missing = this.connection.missingPermissions(this.entry.guild_id, this.entry.channel_id);
    if (!missing?.length) throw error;
    const threadsOnly = missing.every((p) => p === "Create Public Threads" || p === "Send Messages in Threads");
    throw new PostError(
      `${error.message}: bot-02 lacks ${missing.join(", ")} in channel ${this.entry.channel_id} (entry ${this.entry.index}); grant it in the channel's permissions${threadsOnly ? ', or set "threads": false for this entry' : ""}`,
      error.status,
      error.code,
      error.retryAfterMs,
      error,
    );
  };

  /** Hands `listener` every message of the reply to `promptId`, those that came before too; returns the function that stops it. */
  follow(promptId: string, channelId: string, listener: (message: ReplyMessage) => void): () => void {
    return this.connection.router.follow(promptId, listener, channelId);
  }
}

/** PROMPT_MAX_POSTS's default. */
export const DEFAULT_MAX_POSTS = 8;
/** What posting the pieces themselves may take beyond the rate limit's waits. */
const POST_MARGIN_MS = 500;
/** How long the later pieces of a prompt whose first piece went out may wait past the start deadline: a prompt is never left half-posted. */
const COMMITTED_GRACE_MS = 60_000;
