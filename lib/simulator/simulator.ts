import type { Server } from "bun";
import type { APIMessage } from "discord-api-types/v10";
import { defaultScript, type CozeScript } from "./coze-script.ts";
import { HEARTBEAT_INTERVAL_MS, Op, send, type Session, type SocketData } from "./gateway.ts";
import { GatewayServer } from "./gateway-server.ts";
import { MessageStore } from "./messages.ts";
import { RateLimits, type RateLimitBucket, type RateLimitOptions } from "./limits.ts";
import { guildPayload } from "./payloads.ts";
import { handleRest } from "./rest.ts";
import type { MessagePatch, SimulatedDiscord } from "./simulated-discord.ts";
import { snowflake } from "./snowflake.ts";
import { ThreadBook } from "./threads.ts";
import { Waiters } from "./waiters.ts";
import { type NewMessage, type PostRecord, type SimChannel, type SimCoze, type SimGuild, type SimUser, type StoredFile } from "./world.ts";

export type { AllowedMentions, NewMessage, PostRecord, StoredFile } from "./world.ts";
export { CONTENT_LIMIT } from "./limits.ts";

export interface SimulatorOptions {
  /**
   * Posts per channel per window for each bot (Discord's is about 5 per 5 s),
   * and requests per second for each bot over all routes (Discord's global
   * limit, 50); null turns both off.
   */
  rateLimit?: RateLimitOptions | null;
  /** How many posts `posts` keeps (the oldest go first), so long benchmarks do not grow it. */
  recordLimit?: number;
  /** How many messages the simulated Discord keeps for GET/PATCH. */
  messageLimit?: number;
}

type Fault = { status: number; remaining: number };

/**
 * A Discord API v10 simulator that the real discord.js client connects to:
 * REST under `/api/v10`, the gateway at `/gateway`, a CDN under `/cdn`, and
 * simulated Coze bots that answer mentions the way Coze does. It keeps
 * Discord's rules (limits, permissions, mentions, threads) and can be told to
 * misbehave. It holds the world and builds the parts that serve it (REST,
 * gateway, messages, threads, limits), which see it as a SimulatedDiscord.
 */
export class DiscordSimulator implements SimulatedDiscord {
  readonly users = new Map<string, SimUser>();
  readonly guilds = new Map<string, SimGuild>();
  readonly channels = new Map<string, SimChannel>();
  readonly cozes = new Map<string, SimCoze>();
  readonly sessions = new Set<Session>();
  /** Every IDENTIFY and RESUME, for tests that check how a client reconnected. */
  readonly gatewayLog: { op: "identify" | "resume"; userId: string; at: number }[] = [];
  /**
   * Delay before a message POST answers, after the message was created and
   * dispatched: Discord's REST latency, which lets a reply reach the gateway
   * before the post call returns.
   */
  postResponseDelayMs = 0;
  /** While true, every REST call fails as a broken connection would: Discord unreachable. */
  unreachable = false;
  /** Discord's limit of active (unarchived) threads per guild; beyond it starting one answers 160006. */
  activeThreadLimit = 1000;
  private readonly postFaults: Fault[] = [];
  private readonly limits: RateLimits;
  private server: Server<SocketData> | undefined;
  private readonly waiters = new Waiters();
  private readonly gateway = new GatewayServer(this);
  private readonly threads = new ThreadBook(this);
  /** Messages, files and the record of posts (messages.ts). */
  readonly store: MessageStore;

  constructor(options: SimulatorOptions = {}) {
    this.store = new MessageStore(this, { recordLimit: options.recordLimit ?? 10_000, messageLimit: options.messageLimit ?? 5_000 });
    this.limits = new RateLimits(options.rateLimit === undefined ? { limit: 5, windowMs: 5000, globalPerSecond: 50 } : options.rateLimit);
  }

  // ---- lifecycle --------------------------------------------------------

  start(port = 0): this {
    this.server = Bun.serve<SocketData>({
      hostname: "127.0.0.1",
      port,
      idleTimeout: 60,
      fetch: (req, server) => {
        const url = new URL(req.url);
        if (url.pathname === "/gateway") {
          return server.upgrade(req, { data: {} }) ? undefined : new Response("expected a websocket", { status: 400 });
        }
        return handleRest(this, req, url);
      },
      websocket: {
        open: (ws) => send(ws, Op.Hello, { heartbeat_interval: HEARTBEAT_INTERVAL_MS }),
        message: (ws, raw) => this.gateway.onMessage(ws, String(raw)),
        close: (ws) => ws.data.session?.detach(),
      },
    });
    return this;
  }

  async stop(): Promise<void> {
    for (const session of this.sessions) session.socket?.close(1001, "simulator stopping");
    await this.server?.stop(true);
    this.server = undefined;
  }

  get port(): number {
    return this.server!.port!;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What DISCORD_API_URL should be for a client of this simulator. */
  get apiUrl(): string {
    return `${this.origin}/api`;
  }

  // ---- the simulated world ---------------------------------------------

  /** A bot that logs in over the gateway (bot-02). */
  addBot(options: { username?: string; token?: string; messageContentAllowed?: boolean } = {}): SimUser {
    const id = snowflake();
    const user: SimUser = {
      id,
      username: options.username ?? `relay-${this.users.size + 1}`,
      token: options.token ?? `sim.${id}.${crypto.randomUUID()}`,
      messageContentAllowed: options.messageContentAllowed ?? true,
    };
    this.users.set(id, user);
    return user;
  }

  /** A Coze-hosted bot (bot-01) that answers mentions. */
  addCoze(options: { username?: string; behaviour?: SimCoze["behaviour"] } = {}): SimCoze {
    const id = snowflake();
    const user: SimUser = { id, username: options.username ?? `coze-${this.cozes.size + 1}`, messageContentAllowed: true };
    this.users.set(id, user);
    const coze: SimCoze = { user, queue: [], behaviour: options.behaviour ?? defaultScript, ignoreBots: false, offline: false, dialogRounds: 10, continueButtons: false, unfinished: new Map() };
    this.cozes.set(id, coze);
    return coze;
  }

  addGuild(members: SimUser[], name = `guild-${this.guilds.size + 1}`): SimGuild {
    const guild: SimGuild = { id: snowflake(), name, ownerId: snowflake(), members: new Set(members.map((m) => m.id)), channels: [] };
    this.guilds.set(guild.id, guild);
    for (const session of this.sessions) if (guild.members.has(session.user.id)) session.dispatch("GUILD_CREATE", JSON.stringify(guildPayload(guild, this.activeThreads(guild.id), session.user)));
    return guild;
  }

  addChannel(guild: SimGuild, name = `chat-${guild.channels.length + 1}`): SimChannel {
    const channel: SimChannel = { id: snowflake(), guildId: guild.id, name, denied: new Set(), deniedThreads: new Set(), hidden: new Set() };
    guild.channels.push(channel);
    this.channels.set(channel.id, channel);
    return channel;
  }

  /** The text channel a message was posted in: a thread's parent, or the channel itself. */
  parentOf(channelId: string): string {
    return this.channels.get(channelId)?.thread?.parentId ?? channelId;
  }

  /** Queues how `coze` answers its next prompts, one script per prompt. */
  script(coze: SimCoze, ...scripts: CozeScript[]): void {
    coze.queue.push(...scripts);
  }

  // ---- threads (threads.ts) ----------------------------------------------

  /** How many threads of a guild are active. */
  activeThreadCount(guildId: string): number {
    return this.threads.activeThreadCount(guildId);
  }
  /** Active threads of a guild (for GUILD_CREATE and tests). */
  activeThreads(guildId: string): SimChannel[] {
    return this.threads.activeThreads(guildId);
  }
  /** Starts a public thread (type 11) in `parent`; with `id` (a message's), the thread is that message's. */
  createThread(parent: SimChannel, owner: SimUser, name: string, id?: string): SimChannel {
    return this.threads.createThread(parent, owner, name, id);
  }
  /** Archives or unarchives a thread, as `PATCH /channels/{thread}` does. */
  setArchived(thread: SimChannel, archived: boolean): void {
    this.threads.setArchived(thread, archived);
  }

  // ---- faults -----------------------------------------------------------

  /** The next `count` posts (from any bot) fail with `status` (429 or 5xx), or with a broken connection (0). */
  failPosts(count: number, status: number): void {
    this.postFaults.push({ status, remaining: count });
  }

  /** Takes a pending post fault, if any. */
  takePostFault(): number | undefined {
    const fault = this.postFaults[0];
    if (!fault) return undefined;
    if (--fault.remaining <= 0) this.postFaults.shift();
    return fault.status;
  }

  /** Op 7: tells the user's connected sessions to reconnect and resume. */
  reconnect(user?: SimUser): number {
    return this.gateway.reconnect(user);
  }
  /** Op 9: the session is invalid; `resumable` says whether RESUME may still work. */
  invalidateSession(user?: SimUser, resumable = false): number {
    return this.gateway.invalidateSession(user, resumable);
  }
  /** Drops the TCP connection with no close frame, as a network failure would. */
  dropSocket(user?: SimUser): number {
    return this.gateway.dropSocket(user);
  }

  // ---- observing (waiters.ts) -------------------------------------------

  /** Resolves when `check` returns a value other than undefined/false, checked on every change and every few milliseconds. */
  waitFor<T>(check: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    return this.waiters.waitFor(check, timeoutMs);
  }

  /** Wakes `waitFor` callers: something in the simulated world changed. */
  changed(): void {
    this.waiters.changed();
  }

  /** Sessions currently connected, per user. */
  connected(user: SimUser): number {
    let n = 0;
    for (const s of this.sessions) if (s.user.id === user.id && s.socket) n++;
    return n;
  }

  // ---- rate limits (limits.ts) ------------------------------------------

  /** The bot's global bucket: requests per second over every route. */
  globalLimitFor(user: SimUser): RateLimitBucket | undefined {
    return this.limits.global(user.id);
  }
  rateLimitFor(user: SimUser, channel: SimChannel): RateLimitBucket | undefined {
    return this.limits.channel(user.id, channel.id);
  }
  /** Thread creation per parent channel. */
  threadRateLimitFor(user: SimUser, parent: SimChannel): RateLimitBucket | undefined {
    return this.limits.threads(user.id, parent.id);
  }

  // ---- messages (messages.ts) -----------------------------------------

  get messages() {
    return this.store.messages;
  }
  get channelMessages() {
    return this.store.channelMessages;
  }
  get files() {
    return this.store.files;
  }
  get posts() {
    return this.store.posts;
  }
  storeFile(file: Omit<StoredFile, "id">): StoredFile {
    return this.store.storeFile(file);
  }
  fileUrl(channelId: string, file: StoredFile): string {
    return this.store.fileUrl(channelId, file);
  }
  sign(path: string, expires: number): string {
    return this.store.sign(path, expires);
  }
  /** Expires every CDN URL issued so far, as a day's wait does on Discord. */
  expireCdnUrls(): void {
    this.store.expireCdnUrls();
  }
  /** Creates a message as `author` and dispatches it; Coze bots it mentions start answering. */
  createMessage(channel: SimChannel, author: SimUser, input: NewMessage): APIMessage {
    return this.store.createMessage(channel, author, input);
  }
  editMessage(id: string, patch: MessagePatch): APIMessage | undefined {
    return this.store.editMessage(id, patch);
  }
  deleteMessage(id: string): boolean {
    return this.store.deleteMessage(id);
  }
  postRecord(id: string): PostRecord | undefined {
    return this.store.postRecord(id);
  }
}
