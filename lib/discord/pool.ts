/**
 * The per-model round-robin pool of discord.js clients: the only module that
 * speaks discord.js. One client per distinct `bot_token`, shared by every
 * `bot.json` entry that uses it. Everything it hands out is plain data
 * (`ReplyMessage`, `PostError`), so the relay above it knows nothing of
 * discord.js.
 */
import {
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  HTTPError,
  Options,
  Partials,
  RateLimitError,
  Routes,
  type GatewayDispatchPayload,
  type APIMessage,
  type GatewayMessageUpdateDispatchData,
} from "discord.js";
import type { BotEntry } from "../config/bots.ts";
import { log } from "../log.ts";
import { PostError } from "../relay/post-error.ts";
import type { ReplyMessage } from "../relay/reply-message.ts";
import { ReplyRouter } from "../relay/reply-router.ts";

export type ConnectionState = "connecting" | "ready" | "reconnecting" | "down";

export interface PoolOptions {
  discordApiUrl: string;
  proxyUrl?: string;
  /** How long an entry rests after Coze reported a quota error. */
  quotaCooldownMs?: number;
  /** First rest after a failed post; doubles on each failure in a row. */
  failureCooldownMs?: number;
}

/** A file to upload with the prompt message. */
export interface OutgoingFile {
  name: string;
  data: Uint8Array;
  contentType: string;
}

const QUOTA_COOLDOWN_MS = 10 * 60_000;
const FAILURE_COOLDOWN_MS = 5_000;
const MAX_FAILURE_COOLDOWN_MS = 5 * 60_000;

/** Close codes after which reconnecting cannot help, and what the user must fix. */
const FATAL_CLOSE: Record<number, string> = {
  4004: "Discord refused the bot token (close 4004): copy the token of bot-02 again from the developer portal",
  4010: "Discord refused the shard settings (close 4010)",
  4011: "Discord wants this bot sharded (close 4011)",
  4012: "Discord refused the gateway version (close 4012)",
  4013: "Discord refused the intents (close 4013)",
  4014: "Discord refused the MessageContent intent (close 4014): enable 'Message Content Intent' for bot-02 in the developer portal (Bot → Privileged Gateway Intents)",
};

/** One Discord login: a discord.js client and the replies it routes. */
class Connection {
  state: ConnectionState = "connecting";
  /** Why the connection is down, in words a user can act on. */
  problem: string | undefined;
  readonly router = new ReplyRouter();
  readonly client: Client;
  private readonly cozeIds = new Set<string>();
  /** Settles the first time the connection is ready or down. */
  private readonly settled = Promise.withResolvers<void>();

  constructor(
    private readonly token: string,
    readonly label: string,
    options: PoolOptions,
  ) {
    this.client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
      partials: [Partials.Message, Partials.Channel],
      rest: { api: options.discordApiUrl },
      // A relay reads replies from raw gateway payloads and keeps nothing:
      // without these limits discord.js would cache every message and user it sees.
      makeCache: Options.cacheWithLimits({
        MessageManager: 0,
        ReactionManager: 0,
        ReactionUserManager: 0,
        PresenceManager: 0,
        ThreadManager: 0,
        ThreadMemberManager: 0,
        VoiceStateManager: 0,
        GuildEmojiManager: 0,
        GuildStickerManager: 0,
        GuildScheduledEventManager: 0,
        StageInstanceManager: 0,
        GuildInviteManager: 0,
        GuildBanManager: 0,
        AutoModerationRuleManager: 0,
        GuildMemberManager: { maxSize: 0, keepOverLimit: (member) => member.id === member.client.user.id },
        UserManager: { maxSize: 0, keepOverLimit: (user) => user.id === user.client.user.id },
      }),
      sweepers: {},
    });
    this.client.on(Events.Raw, (packet: GatewayDispatchPayload) => this.onDispatch(packet));
    this.client.on(Events.ClientReady, () => this.setState("ready"));
    this.client.on(Events.ShardResume, () => this.setState("ready"));
    this.client.on(Events.ShardReady, () => this.setState("ready"));
    this.client.on(Events.ShardReconnecting, () => this.state !== "down" && this.setState("reconnecting"));
    this.client.on(Events.ShardDisconnect, (event) => this.fail(FATAL_CLOSE[event.code] ?? `gateway closed (code ${event.code})`));
    this.client.on(Events.ShardError, (error) => log.debug("discord shard error", { bot: this.label, error: error.message }));
    this.client.on(Events.Error, (error) => log.warn("discord client error", { bot: this.label, error: error.message }));
  }

  watch(cozeBotId: string): void {
    this.cozeIds.add(cozeBotId);
  }

  /** Logs in; resolves once the client is ready (guilds received) or has failed. */
  async connect(): Promise<void> {
    try {
      await this.client.login(this.token);
      await this.settled.promise;
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      const code = (error as { code?: string }).code;
      this.fail(
        code === "TokenInvalid" || /401|token/i.test(message)
          ? FATAL_CLOSE[4004]
          : /disallowed intent/i.test(message)
            ? FATAL_CLOSE[4014]
            : `could not log in to Discord: ${message}`,
      );
    }
  }

  async close(): Promise<void> {
    this.state = "down";
    this.problem = "stopped";
    await this.client.destroy();
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    if (state === "ready") {
      this.problem = undefined;
      this.settled.resolve();
      log.info("discord bot connected", { bot: this.label, user: this.client.user?.tag });
    } else log.info("discord bot reconnecting", { bot: this.label });
  }

  private fail(problem: string): void {
    if (this.state === "down" && this.problem === problem) return;
    this.state = "down";
    this.problem = problem;
    this.settled.resolve();
    log.error(`discord bot is down: ${problem}`, { bot: this.label });
  }

  private onDispatch(packet: GatewayDispatchPayload): void {
    if (packet.t !== "MESSAGE_CREATE" && packet.t !== "MESSAGE_UPDATE") return;
    const data = packet.d as GatewayMessageUpdateDispatchData;
    const authorId = data.author?.id;
    if (authorId !== undefined && !this.cozeIds.has(authorId)) return;
    this.router.deliver(toReplyMessage(data, authorId));
  }

  async post(channelId: string, content: string, mentionId: string | undefined, files: OutgoingFile[]): Promise<string> {
    try {
      const message = (await this.client.rest.post(Routes.channelMessages(channelId), {
        body: {
          content,
          // The prompt can ping the Coze bot and nobody else, whatever it says.
          allowed_mentions: { parse: [], users: mentionId ? [mentionId] : [], replied_user: false },
          ...(files.length > 0 ? { attachments: files.map((f, id) => ({ id, filename: f.name })) } : {}),
        },
        files: files.map((f) => ({ name: f.name, data: Buffer.from(f.data), contentType: f.contentType })),
      })) as APIMessage;
      return message.id;
    } catch (error) {
      throw toPostError(error);
    }
  }
}

function toReplyMessage(data: GatewayMessageUpdateDispatchData, authorId: string | undefined): ReplyMessage {
  const imageUrls: string[] = [];
  for (const embed of data.embeds ?? []) if (embed.image?.url) imageUrls.push(embed.image.url);
  for (const file of data.attachments ?? []) {
    if (file.content_type?.startsWith("image/") || /\.(png|jpe?g|gif|webp)$/i.test(file.filename)) imageUrls.push(file.url);
  }
  return {
    id: data.id,
    authorId: authorId ?? "",
    referenceId: data.message_reference?.message_id,
    content: data.content ?? "",
    hasComponents: (data.components?.length ?? 0) > 0,
    imageUrls,
  };
}

function toPostError(error: unknown): PostError {
  if (error instanceof DiscordAPIError) return new PostError(`Discord refused the post: ${error.message}`, error.status, Number(error.code) || undefined);
  if (error instanceof HTTPError) return new PostError(`Discord answered ${error.status} to the post`, error.status);
  if (error instanceof RateLimitError) return new PostError(`Discord rate limit on the channel (retry after ${error.retryAfter} ms)`, 429);
  return new PostError(`Discord could not be reached: ${(error as Error)?.message ?? error}`, 0);
}

/** A `bot.json` entry as the pool serves it: its connection and its rest after failures. */
export class PoolEntry {
  /** performance.now() until which the entry is not picked. */
  coolingUntil = 0;
  private failures = 0;

  constructor(
    readonly config: BotEntry,
    private readonly connection: Connection,
    private readonly options: Required<Pick<PoolOptions, "quotaCooldownMs" | "failureCooldownMs">>,
  ) {}

  get label(): string {
    return `entry ${this.config.index} (${this.config.model})`;
  }

  get cozeBotId(): string {
    return this.config.coze_bot_id;
  }

  get state(): ConnectionState {
    return this.connection.state;
  }

  get problem(): string | undefined {
    return this.connection.problem;
  }

  get usable(): boolean {
    return this.connection.state === "ready" || this.connection.state === "reconnecting";
  }

  /** Posts the prompt messages in order; returns the id of the last one, the one Coze answers. */
  async post(contents: string[], files: OutgoingFile[]): Promise<string> {
    let id = "";
    for (let i = 0; i < contents.length; i++) {
      const last = i === contents.length - 1;
      id = await this.connection.post(this.config.channel_id, contents[i], last ? this.config.coze_bot_id : undefined, last ? files : []);
    }
    this.failures = 0;
    return id;
  }

  follow(promptId: string, listener: (message: ReplyMessage) => void): () => void {
    return this.connection.router.follow(promptId, listener);
  }

  /** Rests the entry: a fixed time after a quota error, a doubling one after failed posts. */
  coolDown(reason: "quota" | "failure"): void {
    const ms =
      reason === "quota"
        ? this.options.quotaCooldownMs
        : Math.min(MAX_FAILURE_COOLDOWN_MS, this.options.failureCooldownMs * 2 ** this.failures++);
    this.coolingUntil = performance.now() + ms;
    log.warn("bot entry cooling down", { entry: this.config.index, model: this.config.model, reason, seconds: Math.round(ms / 1000) });
  }
}

/** Why no entry could be picked. */
export type PickFailure = { reason: "cooling"; retryAfterMs: number } | { reason: "disconnected"; problems: string[] };

export class DiscordPool {
  private readonly connections = new Map<string, Connection>();
  private readonly byModel = new Map<string, { entries: PoolEntry[]; next: number }>();

  constructor(entries: BotEntry[], options: PoolOptions) {
    const cooldowns = {
      quotaCooldownMs: options.quotaCooldownMs ?? QUOTA_COOLDOWN_MS,
      failureCooldownMs: options.failureCooldownMs ?? FAILURE_COOLDOWN_MS,
    };
    for (const config of entries) {
      let connection = this.connections.get(config.bot_token);
      if (!connection) {
        connection = new Connection(config.bot_token, `bot ${this.connections.size + 1}`, options);
        this.connections.set(config.bot_token, connection);
      }
      connection.watch(config.coze_bot_id);
      const model = this.byModel.get(config.model) ?? { entries: [], next: 0 };
      model.entries.push(new PoolEntry(config, connection, cooldowns));
      this.byModel.set(config.model, model);
    }
  }

  /** Logs every client in; resolves when each is connected or has failed. */
  async start(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.connect()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }

  get models(): string[] {
    return [...this.byModel.keys()];
  }

  hasModel(model: string): boolean {
    return this.byModel.has(model);
  }

  /**
   * The model's next entry in round-robin order that is connected, not
   * cooling down, and not in `skip` (the entries this request already tried).
   */
  pick(model: string, skip: ReadonlySet<PoolEntry>): PoolEntry | PickFailure {
    const group = this.byModel.get(model);
    if (!group) return { reason: "disconnected", problems: [`no entry serves ${model}`] };
    const now = performance.now();
    const { entries } = group;
    let soonest = Infinity;
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[(group.next + k) % entries.length];
      if (skip.has(entry) || !entry.usable) continue;
      if (entry.coolingUntil > now) {
        soonest = Math.min(soonest, entry.coolingUntil - now);
        continue;
      }
      group.next = (entries.indexOf(entry) + 1) % entries.length;
      return entry;
    }
    if (soonest !== Infinity) return { reason: "cooling", retryAfterMs: soonest };
    return { reason: "disconnected", problems: entries.filter((e) => !e.usable).map((e) => `${e.label}: ${e.problem ?? e.state}`) };
  }

  /** Replies being followed right now, and replies kept for prompts nobody follows yet. */
  get tracking(): { following: number; waiting: number } {
    let following = 0;
    let waiting = 0;
    for (const c of this.connections.values()) {
      following += c.router.following;
      waiting += c.router.waiting;
    }
    return { following, waiting };
  }

  /** Connection state of every entry, for `/readyz`, `/` and metrics. */
  status() {
    const now = performance.now();
    return [...this.byModel].map(([model, { entries }]) => ({
      model,
      ready: entries.some((e) => e.usable),
      entries: entries.map((e) => ({
        index: e.config.index,
        state: e.state,
        cooling_down_seconds: e.coolingUntil > now ? Math.ceil((e.coolingUntil - now) / 1000) : 0,
        ...(e.problem ? { problem: e.problem } : {}),
      })),
    }));
  }
}
