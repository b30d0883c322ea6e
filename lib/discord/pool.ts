/**
 * The per-model round-robin pool of discord.js clients: the only module that
 * speaks discord.js. One client per distinct `bot_token`, shared by every
 * `bot.json` entry that uses it. Everything it hands out is plain data
 * (`ReplyMessage`, `PostError`), so the relay above it knows nothing of
 * discord.js.
 */
import { setGatewayProxy } from "./gateway-proxy.ts";
import type { APIMessage, Client as DiscordClient, GatewayDispatchPayload, GatewayMessageUpdateDispatchData } from "discord.js";
// discord.js captures globalThis.WebSocket when it loads, and Bun evaluates an
// imported CommonJS package before any module body: require it here, after
// gateway-proxy.ts has put the proxy-aware WebSocket in place.
const { Client, DiscordAPIError, Events, GatewayIntentBits, HTTPError, Options, Partials, RateLimitError, RESTEvents, Routes } =
  require("discord.js") as typeof import("discord.js");
import type { BotEntry } from "../config/bots.ts";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { PostError } from "./post-error.ts";
import type { ReplyMessage } from "./reply-message.ts";
import { ReplyRouter } from "./reply-router.ts";

export type ConnectionState = "connecting" | "ready" | "reconnecting" | "down";

export interface PoolOptions {
  discordApiUrl: string;
  /** Requests per second discord.js allows itself per bot token (Discord's global limit). */
  globalRateLimit: number;
  proxyUrl?: string;
  metrics: Metrics;
  /** Requests one entry may have in flight; beyond it the entry is skipped. */
  maxInFlightPerEntry: number;
  /** How long a post may wait out Discord's rate limit before another entry is tried. */
  rateLimitWaitMs?: number;
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
const RATE_LIMIT_WAIT_MS = 5_000;
const LOGIN_RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000];

/** Close codes after which reconnecting cannot help, and what the user must fix. */
const FATAL_CLOSE: Record<number, string> = {
  4004: "Discord refused the bot token (close 4004): copy the token of bot-02 again from the Discord developer portal (Bot → Reset Token)",
  4010: "Discord refused the shard settings (close 4010)",
  4011: "Discord wants this bot sharded (close 4011)",
  4012: "Discord refused the gateway version (close 4012)",
  4013: "Discord refused the intents (close 4013)",
  4014: "Discord refused the MessageContent intent (close 4014): enable 'Message Content Intent' for bot-02 in the Discord developer portal (Bot → Privileged Gateway Intents)",
};

/** One Discord login: a discord.js client and the replies it routes. */
class Connection {
  state: ConnectionState = "connecting";
  /** Why the connection is down, in words a user can act on. */
  problem: string | undefined;
  readonly router = new ReplyRouter();
  readonly client: DiscordClient;
  /** Authors whose messages may be replies: the Coze bots of the entries on this connection. */
  readonly cozeIds = new Set<string>();
  private everReady = false;
  private closed = false;
  private loginAttempts = 0;
  private retryTimer: Timer | undefined;
  /** Settles the first time the connection is ready or down. */
  private readonly settled = Promise.withResolvers<void>();

  constructor(
    private readonly token: string,
    readonly label: string,
    private readonly options: PoolOptions,
  ) {
    const rateLimitWait = options.rateLimitWaitMs ?? RATE_LIMIT_WAIT_MS;
    this.client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
      partials: [Partials.Message, Partials.Channel],
      rest: {
        api: options.discordApiUrl,
        // One retry of a 5xx: another entry is a better second try than the same channel again.
        retries: 1,
        globalRequestsPerSecond: options.globalRateLimit,
        // Wait out a short rate limit; a long one fails the post so the request moves on.
        rejectOnRateLimit: (limit) => limit.retryAfter > rateLimitWait,
        ...(options.proxyUrl ? { makeRequest: proxiedFetch(options.proxyUrl) } : {}),
      },
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
    skipMessageObjects(this.client);
    this.client.on(Events.ClientReady, () => {
      this.everReady = true;
      this.setState("ready");
    });
    this.client.on(Events.ShardResume, () => this.setState("ready"));
    this.client.on(Events.ShardReady, () => {
      // A READY after the first one is a new session (op 9): what was dispatched meanwhile is lost, fetch it.
      if (this.everReady) void this.recover();
      this.setState("ready");
    });
    this.client.on(Events.ShardReconnecting, () => this.state !== "down" && this.setState("reconnecting"));
    this.client.on(Events.ShardDisconnect, (event) => this.fail(FATAL_CLOSE[event.code] ?? `the gateway closed (code ${event.code})`));
    this.client.on(Events.ShardError, (error) => log.debug("discord shard error", { bot: this.label, error: error.message }));
    this.client.on(Events.Error, (error) => log.warn("discord client error", { bot: this.label, error: error.message }));
    this.client.rest.on(RESTEvents.RateLimited, (info) => {
      options.metrics.discordRateLimits.inc();
      log.debug("discord rate limit", { bot: this.label, route: info.route, retry_ms: info.retryAfter });
    });
  }

  /** Logs in; resolves once the client is ready (guilds received) or has failed. */
  connect(): Promise<void> {
    void this.login();
    return this.settled.promise;
  }

  private async login(): Promise<void> {
    try {
      await this.client.login(this.token);
    } catch (error) {
      if (this.closed) return;
      const message = (error as Error)?.message ?? String(error);
      const code = (error as { code?: string }).code;
      if (code === "TokenInvalid") return this.fail(FATAL_CLOSE[4004]);
      if (/disallowed intent/i.test(message)) return this.fail(FATAL_CLOSE[4014]);
      // Discord unreachable or answering 5xx: try again, more slowly each time.
      const delay = LOGIN_RETRY_MS[Math.min(this.loginAttempts++, LOGIN_RETRY_MS.length - 1)];
      this.fail(`could not log in to Discord (${message}); trying again in ${delay / 1000} s`);
      this.retryTimer = setTimeout(() => void this.login(), delay);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.state = "down";
    this.problem = "stopped";
    await this.client.destroy();
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    if (state === "ready") {
      this.problem = undefined;
      this.loginAttempts = 0;
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
    this.take(packet.d as GatewayMessageUpdateDispatchData);
  }

  private take(data: GatewayMessageUpdateDispatchData | APIMessage): void {
    const authorId = data.author?.id;
    if (authorId !== undefined && !this.cozeIds.has(authorId)) return;
    this.router.deliver(toReplyMessage(data, authorId));
  }

  /** Fetches the replies to every prompt being followed, for what a lost session did not deliver. */
  private async recover(): Promise<void> {
    const prompts = this.router.prompts();
    if (prompts.length === 0) return;
    log.info("discord session was replaced; fetching replies it may have missed", { bot: this.label, prompts: prompts.length });
    await Promise.all(
      prompts.map(async ({ promptId, channelId }) => {
        try {
          const messages = (await this.client.rest.get(Routes.channelMessages(channelId), {
            query: new URLSearchParams({ after: promptId, limit: "50" }),
          })) as APIMessage[];
          for (const message of messages.reverse()) if (message.message_reference?.message_id === promptId) this.take(message);
        } catch (error) {
          log.warn("could not fetch missed replies", { bot: this.label, error: (error as Error).message });
        }
      }),
    );
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
      const failure = toPostError(error);
      this.options.metrics.postFailures.inc({ status: String(failure.status) });
      throw failure;
    }
  }
}

/**
 * The relay reads messages from raw gateway payloads (the `raw` event comes
 * first), so discord.js turning each message dispatch into Message, User and
 * Member objects is pure cost: about a third of the service's CPU under load
 * (bun run bench). Message events skip discord.js's handlers; every other
 * event (READY, GUILD_CREATE, RESUMED…) goes through as usual. `handlePacket`
 * is internal to discord.js (14.28.1 is pinned); if it ever goes away this
 * does nothing and discord.js keeps its slower path.
 */
const SKIPPED_PACKETS = new Set(["MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK", "TYPING_START"]);

function skipMessageObjects(client: DiscordClient): void {
  const manager = client.ws as unknown as { handlePacket?: (packet?: { t?: string }, shard?: unknown) => boolean };
  const handle = manager.handlePacket;
  if (typeof handle !== "function") return;
  manager.handlePacket = (packet, shard) => (packet?.t && SKIPPED_PACKETS.has(packet.t) ? true : handle.call(manager, packet, shard));
}

/** discord.js's REST through Bun's fetch with a proxy. */
function proxiedFetch(proxy: string) {
  // discord.js types `init` with undici's RequestInit; Bun's fetch takes the same fields plus `proxy`.
  return (url: string, init: object) => fetch(url, { ...init, proxy } as RequestInit) as Promise<never>;
}

function toReplyMessage(data: GatewayMessageUpdateDispatchData | APIMessage, authorId: string | undefined): ReplyMessage {
  let imageUrls: string[] | undefined;
  if (data.embeds !== undefined || data.attachments !== undefined) {
    imageUrls = [];
    for (const embed of data.embeds ?? []) if (embed.image?.url) imageUrls.push(embed.image.url);
    for (const file of data.attachments ?? []) {
      if (file.content_type?.startsWith("image/") || /\.(png|jpe?g|gif|webp)$/i.test(file.filename)) imageUrls.push(file.url);
    }
  }
  return {
    id: data.id,
    authorId: authorId ?? "",
    referenceId: data.message_reference?.message_id,
    content: data.content,
    hasComponents: data.components === undefined ? undefined : data.components.length > 0,
    imageUrls,
  };
}

function toPostError(error: unknown): PostError {
  if (error instanceof DiscordAPIError) return new PostError(`Discord refused the post: ${error.message}`, error.status, Number(error.code) || undefined);
  if (error instanceof HTTPError) return new PostError(`Discord answered ${error.status} to the post`, error.status);
  if (error instanceof RateLimitError) return new PostError(`Discord rate-limits the channel for ${Math.ceil(error.retryAfter / 1000)} s`, 429);
  return new PostError(`Discord could not be reached: ${(error as Error)?.message ?? error}`, 0);
}

type Cooldowns = { quotaCooldownMs: number; failureCooldownMs: number };

/** A `bot.json` entry as the pool serves it: its connection, its load and its rest after failures. */
export class PoolEntry {
  /** performance.now() until which the entry is not picked. */
  coolingUntil = 0;
  /** Requests using this entry right now. */
  inFlight = 0;
  private failures = 0;

  constructor(
    readonly config: BotEntry,
    readonly connection: Connection,
    private readonly cooldowns: Cooldowns,
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
    return this.connection.router.follow(promptId, listener, this.config.channel_id);
  }

  /** Rests the entry: a fixed time after a quota error, a doubling one after failed posts. */
  coolDown(reason: "quota" | "failure"): void {
    const ms =
      reason === "quota"
        ? this.cooldowns.quotaCooldownMs
        : Math.min(MAX_FAILURE_COOLDOWN_MS, this.cooldowns.failureCooldownMs * 2 ** this.failures++);
    this.coolingUntil = performance.now() + ms;
    log.warn("bot entry resting", { entry: this.config.index, model: this.config.model, reason, seconds: Math.round(ms / 1000) });
  }
}

/** Why no entry could be picked. */
export type PickFailure =
  | { reason: "cooling"; retryAfterMs: number }
  | { reason: "busy" }
  | { reason: "disconnected"; problems: string[] };

export class DiscordPool {
  private connections = new Map<string, Connection>();
  private byModel = new Map<string, { entries: PoolEntry[]; next: number }>();
  private readonly cooldowns: Cooldowns;
  private labels = 0;

  constructor(
    entries: BotEntry[],
    private readonly options: PoolOptions,
  ) {
    setGatewayProxy(options.proxyUrl);
    this.cooldowns = {
      quotaCooldownMs: options.quotaCooldownMs ?? QUOTA_COOLDOWN_MS,
      failureCooldownMs: options.failureCooldownMs ?? FAILURE_COOLDOWN_MS,
    };
    this.assign(entries);
  }

  /** Builds connections and entries for `entries`, reusing what already exists; returns connections no longer used. */
  private assign(entries: BotEntry[]): Connection[] {
    const previous = this.connections;
    const oldEntries = new Map<string, PoolEntry>();
    for (const group of this.byModel.values()) for (const e of group.entries) oldEntries.set(entryKey(e.config), e);
    const connections = new Map<string, Connection>();
    const byModel = new Map<string, { entries: PoolEntry[]; next: number }>();
    for (const config of entries) {
      let connection = connections.get(config.bot_token) ?? previous.get(config.bot_token);
      if (!connection) connection = new Connection(config.bot_token, `bot ${++this.labels}`, this.options);
      connections.set(config.bot_token, connection);
      // Only ever added to: a request still following a removed entry's Coze bot must keep getting its reply.
      connection.cozeIds.add(config.coze_bot_id);
      const old = oldEntries.get(entryKey(config));
      const entry = old && old.connection === connection ? old : new PoolEntry(config, connection, this.cooldowns);
      if (entry === old) Object.assign(entry.config, { index: config.index });
      const group = byModel.get(config.model) ?? { entries: [], next: this.byModel.get(config.model)?.next ?? 0 };
      group.entries.push(entry);
      byModel.set(config.model, group);
    }
    this.connections = connections;
    this.byModel = byModel;
    return [...previous].filter(([token]) => !connections.has(token)).map(([, c]) => c);
  }

  /** Logs every client in; resolves when each is connected or has failed. */
  async start(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.connect()));
  }

  /**
   * Applies a new bot list without dropping requests in flight: unchanged
   * entries keep their state, new tokens log in, and connections no longer
   * used close once the replies they follow are done.
   */
  async reload(entries: BotEntry[]): Promise<void> {
    const known = new Set(this.connections.values());
    const retired = this.assign(entries);
    const fresh = [...this.connections.values()].filter((c) => !known.has(c));
    for (const connection of retired) void retireWhenIdle(connection);
    await Promise.all(fresh.map((c) => c.connect()));
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
   * cooling down, not at its in-flight limit, and not in `skip` (the entries
   * this request already tried).
   */
  pick(model: string, skip: ReadonlySet<PoolEntry>): PoolEntry | PickFailure {
    const group = this.byModel.get(model);
    if (!group) return { reason: "disconnected", problems: [`no entry serves ${model}`] };
    const now = performance.now();
    const { entries } = group;
    let soonest = Infinity;
    let busy = false;
    for (let k = 0; k < entries.length; k++) {
      const at = (group.next + k) % entries.length;
      const entry = entries[at];
      if (skip.has(entry) || !entry.usable) continue;
      if (entry.coolingUntil > now) {
        soonest = Math.min(soonest, entry.coolingUntil - now);
        continue;
      }
      if (entry.inFlight >= this.options.maxInFlightPerEntry) {
        busy = true;
        continue;
      }
      group.next = (at + 1) % entries.length;
      return entry;
    }
    if (busy) return { reason: "busy" };
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
        in_flight: e.inFlight,
        cooling_down_seconds: e.coolingUntil > now ? Math.ceil((e.coolingUntil - now) / 1000) : 0,
        ...(e.problem ? { problem: e.problem } : {}),
      })),
    }));
  }
}

const entryKey = (e: BotEntry) => [e.model, e.bot_token, e.coze_bot_id, e.guild_id, e.channel_id].join("\u0000");

async function retireWhenIdle(connection: Connection): Promise<void> {
  const deadline = performance.now() + 10 * 60_000;
  while (connection.router.following > 0 && performance.now() < deadline) await Bun.sleep(1000);
  await connection.close();
}
