import type { APIAttachment, APIMessage, APIUser } from "discord-api-types/v10";
import { runCoze } from "./coze.ts";
import { Intent } from "./gateway.ts";
import type { MessagePatch, SimulatedDiscord } from "./simulated-discord.ts";
import { snowflake } from "./snowflake.ts";
import { apiUser, type AllowedMentions, type NewMessage, type PostRecord, type SimChannel, type SimUser, type StoredFile } from "./world.ts";

/**
 * The simulated Discord's messages and files: what a channel holds, what a
 * bot posted (for tests to read), signed CDN URLs, and the dispatches a
 * create, edit or delete sends, with Discord's rules on mentions and the
 * MessageContent intent.
 */
export class MessageStore {
  readonly messages = new Map<string, { message: APIMessage; files: StoredFile[] }>();
  /** Message ids by channel, oldest first: what Coze reads as a channel's history without scanning every message. */
  readonly channelMessages = new Map<string, string[]>();
  readonly files = new Map<string, StoredFile>();
  /** Messages our bots posted, and Coze's replies to them, for tests (the oldest go past recordLimit). */
  readonly posts: PostRecord[] = [];
  /** Part of every CDN signature: changing it expires the URLs issued before. */
  private cdnKey = 0;

  constructor(
    private readonly sim: SimulatedDiscord,
    private readonly limits: { recordLimit: number; messageLimit: number },
  ) {}

  storeFile(file: Omit<StoredFile, "id">): StoredFile {
    const stored = { ...file, id: snowflake() };
    this.files.set(stored.id, stored);
    if (this.files.size > this.limits.messageLimit) this.files.delete(this.files.keys().next().value!);
    return stored;
  }

  /** The signed CDN URL of a stored file, like Discord's `cdn.discordapp.com/attachments/...?ex=&is=&hm=`. */
  fileUrl(channelId: string, file: StoredFile): string {
    const issued = Math.floor(Date.now() / 1000);
    const expires = issued + 86_400;
    const path = `/cdn/attachments/${channelId}/${file.id}/${encodeURIComponent(file.filename)}`;
    return `${this.sim.origin}${path}?ex=${expires.toString(16)}&is=${issued.toString(16)}&hm=${this.sign(path, expires)}&`;
  }

  sign(path: string, expires: number): string {
    return new Bun.CryptoHasher("sha256").update(`${path}|${expires}|simulator|${this.cdnKey}`).digest("hex");
  }

  /** Expires every CDN URL issued so far, as a day's wait does on Discord. */
  expireCdnUrls(): void {
    this.cdnKey++;
  }

  private attachment(channelId: string, file: StoredFile): APIAttachment {
    const url = this.fileUrl(channelId, file);
    return { id: file.id, filename: file.filename, size: file.data.byteLength, url, proxy_url: url, content_type: file.contentType };
  }

  /** Creates a message as `author` and dispatches it; Coze bots it mentions start answering. */
  createMessage(channel: SimChannel, author: SimUser, input: NewMessage): APIMessage {
    const content = input.content ?? "";
    const reference = input.referenceId ? this.messages.get(input.referenceId)?.message : undefined;
    const mentions = this.resolveMentions(content, input.allowedMentions, reference);
    const files = input.files ?? [];
    const message: APIMessage & { guild_id: string } = {
      id: snowflake(),
      type: reference ? 19 : 0,
      channel_id: channel.id,
      guild_id: channel.guildId,
      author: apiUser(author),
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: mentions.everyone,
      mentions: mentions.users,
      mention_roles: mentions.roles,
      attachments: files.map((f) => this.attachment(channel.id, f)),
      embeds: input.embeds ?? [],
      pinned: false,
      flags: 0 as APIMessage["flags"],
      components: (input.components ?? []) as APIMessage["components"],
      ...(reference
        ? {
            message_reference: { type: 0, message_id: reference.id, channel_id: channel.id, guild_id: channel.guildId },
            referenced_message: reference,
          }
        : {}),
    };
    this.remember(message, files);
    // Posting in an archived thread unarchives it, as on Discord (for a thread that is not locked).
    if (channel.thread?.archived) this.sim.setArchived(channel, false);
    if (author.token) {
      this.posts.push({
        id: message.id,
        channelId: channel.id,
        authorId: author.id,
        content,
        files,
        allowedMentions: input.allowedMentions,
        mentions: mentions.users.map((u) => u.id),
        mentionEveryone: mentions.everyone,
        mentionRoles: mentions.roles,
        reply: undefined,
        at: performance.now(),
      });
      if (this.posts.length > this.limits.recordLimit) this.posts.splice(0, this.posts.length - this.limits.recordLimit);
    }
    this.dispatchMessage("MESSAGE_CREATE", message, channel);
    for (const user of mentions.users) {
      const coze = this.sim.cozes.get(user.id);
      if (coze && coze.user.id !== author.id && this.sim.guilds.get(channel.guildId)?.members.has(coze.user.id)) {
        void runCoze(this.sim, coze, channel, message);
      }
    }
    this.sim.changed();
    return message;
  }

  /** Edits a message in place and dispatches the whole new message, as Discord does. */
  editMessage(id: string, patch: MessagePatch): APIMessage | undefined {
    const stored = this.messages.get(id);
    if (!stored) return undefined;
    const { message } = stored;
    const channel = this.sim.channels.get(message.channel_id)!;
    if (patch.content !== undefined) message.content = patch.content;
    if (patch.embeds !== undefined) message.embeds = patch.embeds;
    if (patch.components !== undefined) message.components = patch.components as APIMessage["components"];
    if (patch.files !== undefined) {
      stored.files.push(...patch.files);
      message.attachments = stored.files.map((f) => this.attachment(channel.id, f));
    }
    message.edited_timestamp = new Date().toISOString();
    this.dispatchMessage("MESSAGE_UPDATE", message, channel);
    this.sim.changed();
    return message;
  }

  /** Deletes a message and dispatches MESSAGE_DELETE, as Discord does. */
  deleteMessage(id: string): boolean {
    const stored = this.messages.get(id);
    if (!stored) return false;
    this.messages.delete(id);
    const { channel_id } = stored.message;
    const ids = this.channelMessages.get(channel_id);
    if (ids) ids.splice(ids.indexOf(id) >>> 0, 1);
    const channel = this.sim.channels.get(channel_id);
    const guild = channel && this.sim.guilds.get(channel.guildId);
    const data = JSON.stringify({ id, channel_id, guild_id: channel?.guildId });
    for (const session of this.sim.sessions) if (guild?.members.has(session.user.id) && session.has(Intent.GuildMessages)) session.dispatch("MESSAGE_DELETE", data);
    this.sim.changed();
    return true;
  }

  /** The record of the prompt a reply answers, for `reply` bookkeeping. */
  postRecord(id: string): PostRecord | undefined {
    for (let i = this.posts.length - 1; i >= 0; i--) if (this.posts[i].id === id) return this.posts[i];
    return undefined;
  }

  private remember(message: APIMessage, files: StoredFile[]): void {
    this.messages.set(message.id, { message, files });
    const list = this.channelMessages.get(message.channel_id);
    if (list) list.push(message.id);
    else this.channelMessages.set(message.channel_id, [message.id]);
    if (this.messages.size > this.limits.messageLimit) {
      const oldest = this.messages.get(this.messages.keys().next().value!)!.message;
      this.messages.delete(oldest.id);
      const ids = this.channelMessages.get(oldest.channel_id);
      if (ids?.[0] === oldest.id) ids.shift();
      if (ids?.length === 0) this.channelMessages.delete(oldest.channel_id);
    }
  }

  private resolveMentions(content: string, allowed: AllowedMentions | undefined, reference: APIMessage | undefined) {
    const parse = allowed?.parse;
    const mayUser = (id: string) => !allowed || parse?.includes("users") || allowed.users?.includes(id);
    const ids = new Set<string>();
    for (const match of content.matchAll(/<@!?(\d+)>/g)) if (mayUser(match[1])) ids.add(match[1]);
    if (reference && (allowed?.replied_user ?? true) && !ids.has(reference.author.id)) ids.add(reference.author.id);
    const users: APIUser[] = [];
    for (const id of ids) {
      const user = this.sim.users.get(id);
      if (user) users.push(apiUser(user));
    }
    const everyone = /@(everyone|here)\b/.test(content) && (!allowed || parse?.includes("everyone") === true);
    const roles: string[] = [];
    for (const match of content.matchAll(/<@&(\d+)>/g)) {
      if (!allowed || parse?.includes("roles") || allowed.roles?.includes(match[1])) roles.push(match[1]);
    }
    return { users, everyone, roles };
  }

  /**
   * Sends a message event to every session in the guild that asked for
   * guild messages. Without the MessageContent intent a bot sees content,
   * embeds, attachments and components only of its own messages and of
   * messages that mention it, as on Discord.
   */
  private dispatchMessage(event: "MESSAGE_CREATE" | "MESSAGE_UPDATE", message: APIMessage, channel: SimChannel): void {
    const guild = this.sim.guilds.get(channel.guildId);
    if (!guild) return;
    let full: string | undefined;
    for (const session of this.sim.sessions) {
      if (!guild.members.has(session.user.id) || !session.has(Intent.GuildMessages)) continue;
      const sees =
        session.has(Intent.MessageContent) || message.author.id === session.user.id || message.mentions.some((u) => u.id === session.user.id);
      if (sees) session.dispatch(event, (full ??= JSON.stringify(message)));
      else session.dispatch(event, JSON.stringify({ ...message, content: "", embeds: [], attachments: [], components: [] }));
    }
  }
}
