import type { DiscordEntry } from "../config/bots.ts";
import type { InputFile } from "../pool/seam.ts";
import type { CallLimits, Connection } from "./connection.ts";
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
  ) {}

  /** How a prompt addresses the Coze bot (bot-01). */
  get mention(): string {
    return `<@${this.entry.coze_bot_id}>`;
  }

  /** Posts the prompt messages in order; returns the id of the last one, the one that mentions Coze and that Coze answers. */
  async post(channelId: string, contents: string[], files: InputFile[], limits: CallLimits): Promise<string> {
    this.queued++;
    try {
      let id = "";
      for (let i = 0; i < contents.length; i++) {
        const last = i === contents.length - 1;
        id = await this.connection.post(channelId, contents[i], last ? this.entry.coze_bot_id : undefined, last ? files : [], limits);
      }
      return id;
    } finally {
      this.queued--;
    }
  }

  async createThread(name: string, limits: CallLimits): Promise<string> {
    this.queued++;
    try {
      return await this.connection.createThread(this.entry.channel_id, name, limits);
    } finally {
      this.queued--;
    }
  }

  /** Hands `listener` every message of the reply to `promptId`, those that came before too; returns the function that stops it. */
  follow(promptId: string, channelId: string, listener: (message: ReplyMessage) => void): () => void {
    return this.connection.router.follow(promptId, listener, channelId);
  }
}
