import type { Server } from "bun";
import type { APIMessage } from "discord-api-types/v10";
import { defaultScript, type CozeScript } from "./coze-script.ts";
import { HEARTBEAT_INTERVAL_MS, Intent, Op, send, type GatewaySocket, type Session, type SocketData } from "./gateway.ts";
import { GatewayServer } from "./gateway-server.ts";
import { MessageStore } from "./messages.ts";
import { RateLimitBucket } from "./limits.ts";
import { guildPayload, threadPayload } from "./payloads.ts";
import { handleRest } from "./rest.ts";
import { snowflake } from "./snowflake.ts";
import { type NewMessage, type PostRecord, type SimChannel, type SimCoze, type SimGuild, type SimUser, type StoredFile } from "./world.ts";

export type { AllowedMentions, NewMessage, PostRecord, StoredFile } from "./world.ts";
export { CONTENT_LIMIT } from "./limits.ts";


export interface SimulatorOptions {
  /**
   * Posts per channel per window for each bot (Discord's is about 5 per 5 s),
   * and requests per second for each bot over all routes (Discord's global
   * limit, 50); null turns both off.
   */
  rateLimit?: { limit: number; windowMs: number; globalPerSecond?: number } | null;
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
 * Discord's rules (limits, permissions, mentions, threads) and can be told to misbehave.
 */
export class DiscordSimulator {
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
  private readonly buckets = new Map<string, RateLimitBucket>();
  private readonly postFaults: Fault[] = [];
  private readonly options: Required<SimulatorOptions>;
  private server: Server<SocketData> | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly gateway = new GatewayServer(this);
  /** Messages, files and the record of posts (messages.ts). */
  readonly store: MessageStore;

  constructor(options: SimulatorOptions = {}) {
    this.store = new MessageStore(this, { recordLimit: options.recordLimit ?? 10_000, messageLimit: options.messageLimit ?? 5_000 });
    this.options = {
      rateLimit: options.rateLimit === undefined ? { limit: 5, windowMs: 5000, globalPerSecond: 50 } : options.rateLimit,
      recordLimit: options.recordLimit ?? 10_000,
      messageLimit: options.messageLimit ?? 5_000,
    };
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

  /** Discord's limit of active (unarchived) threads per guild; beyond it starting one answers 160006. */
  activeThreadLimit = 1000;

  /** The text channel a message was posted in: a thread's parent, or the channel itself. */
  parentOf(channelId: string): string {
    return this.channels.get(channelId)?.thread?.parentId ?? channelId;
  }

  /** Active (unarchived) threads per guild, counted as they change: a guild can have many thousands of threads. */
  private readonly activeCount = new Map<string, number>();

  /** How many threads of a guild are active. */
  activeThreadCount(guildId: string): number {
    return this.activeCount.get(guildId) ?? 0;
  }

  /** Active threads of a guild (for GUILD_CREATE and tests). */
  activeThreads(guildId: string): SimChannel[] {
    return [...this.channels.values()].filter((c) => c.guildId === guildId && c.thread && !c.thread.archived);
  }

  private countActive(guildId: string, by: number): void {
    this.activeCount.set(guildId, this.activeThreadCount(guildId) + by);
  }

  /** Starts a public thread (type 11) in `parent`; with `id` (a message's), the thread is that message's. */
  createThread(parent: SimChannel, owner: SimUser, name: string, id = snowflake()): SimChannel {
    const thread: SimChannel = {
      id,
      guildId: parent.guildId,
      name,
      denied: parent.denied,
      deniedThreads: parent.deniedThreads,
      hidden: parent.hidden,
      thread: { parentId: parent.id, ownerId: owner.id, archived: false, archiveTimestamp: new Date().toISOString() },
    };
    this.channels.set(thread.id, thread);
    this.countActive(thread.guildId, 1);
    this.dispatchThread("THREAD_CREATE", thread, { newly_created: true });
    this.changed();
    return thread;
  }

  /** Archives or unarchives a thread, as `PATCH /channels/{thread}` does. */
  setArchived(thread: SimChannel, archived: boolean): void {
    if (!thread.thread || thread.thread.archived === archived) return;
    thread.thread.archived = archived;
    thread.thread.archiveTimestamp = new Date().toISOString();
    this.countActive(thread.guildId, archived ? -1 : 1);
    this.dispatchThread("THREAD_UPDATE", thread);
    this.changed();
  }

  private dispatchThread(event: "THREAD_CREATE" | "THREAD_UPDATE", thread: SimChannel, extra: object = {}): void {
    const guild = this.guilds.get(thread.guildId);
    const data = JSON.stringify({ ...threadPayload(thread), ...extra });
    for (const session of this.sessions) if (guild?.members.has(session.user.id) && session.has(Intent.Guilds)) session.dispatch(event, data);
  }

  /** Queues how `coze` answers its next prompts, one script per prompt. */
  script(coze: SimCoze, ...scripts: CozeScript[]): void {
    coze.queue.push(...scripts);
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
    return this.eachSocket(user, (ws) => {
      send(ws, Op.Reconnect, null);
      setTimeout(() => ws.readyState === 1 && ws.close(4000, "reconnect requested"), 1000);
    });
  }

  /** Op 9: the session is invalid; `resumable` says whether RESUME may still work. */
  invalidateSession(user?: SimUser, resumable = false): number {
    return this.eachSocket(user, (ws) => {
      if (!resumable && ws.data.session) this.sessions.delete(ws.data.session);
      send(ws, Op.InvalidSession, resumable);
    });
  }

  /** Drops the TCP connection with no close frame, as a network failure would. */
  dropSocket(user?: SimUser): number {
    return this.eachSocket(user, (ws) => ws.terminate());
  }

  private eachSocket(user: SimUser | undefined, act: (ws: GatewaySocket) => void): number {
    let n = 0;
    for (const session of this.sessions) {
      if (session.socket && (!user || session.user.id === user.id)) {
        act(session.socket);
        n++;
      }
    }
    return n;
  }

  // ---- observing --------------------------------------------------------

  /**
   * Resolves when `check` returns a value other than undefined/false. It is
   * checked on every change the simulator makes and every few milliseconds,
   * since what a client received arrives after the simulator's change.
   */
  waitFor<T>(check: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined || value === false) return;
        this.waiters.delete(attempt);
        clearInterval(poll);
        clearTimeout(timer);
        resolve(value);
      };
      const poll = setInterval(attempt, 5);
      const timer = setTimeout(() => {
        this.waiters.delete(attempt);
        clearInterval(poll);
        reject(new Error("simulator: condition not met in time"));
      }, timeoutMs);
      this.waiters.add(attempt);
      attempt();
    });
  }

  /** Wakes `waitFor` callers: something in the simulated world changed. */
  changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Sessions currently connected, per user. */
  connected(user: SimUser): number {
    let n = 0;
    for (const s of this.sessions) if (s.user.id === user.id && s.socket) n++;
    return n;
  }

  // ---- messages ---------------------------------------------------------

  /** The bot's global bucket: requests per second over every route. */
  globalLimitFor(user: SimUser): RateLimitBucket | undefined {
    const perSecond = this.options.rateLimit?.globalPerSecond;
    if (!perSecond) return undefined;
    let bucket = this.buckets.get(user.id);
    if (!bucket) this.buckets.set(user.id, (bucket = new RateLimitBucket(perSecond, 1000, "global")));
    return bucket;
  }

  rateLimitFor(user: SimUser, channel: SimChannel): RateLimitBucket | undefined {
    const config = this.options.rateLimit;
    if (!config) return undefined;
    const key = `${user.id}:${channel.id}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new RateLimitBucket(config.limit, config.windowMs, Bun.hash(channel.id).toString(16));
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Thread creation per parent channel: Discord publishes no figure, so the messages' limit. */
  threadRateLimitFor(user: SimUser, parent: SimChannel): RateLimitBucket | undefined {
    const config = this.options.rateLimit;
    if (!config) return undefined;
    const key = `${user.id}:${parent.id}:threads`;
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new RateLimitBucket(config.limit, config.windowMs, Bun.hash(key).toString(16))));
    return bucket;
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
  editMessage(id: string, patch: Parameters<MessageStore["editMessage"]>[1]): APIMessage | undefined {
    return this.store.editMessage(id, patch);
  }
  deleteMessage(id: string): boolean {
    return this.store.deleteMessage(id);
  }
  postRecord(id: string): PostRecord | undefined {
    return this.store.postRecord(id);
  }
}
