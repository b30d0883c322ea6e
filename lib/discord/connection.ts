import type { APIMessage, APIThreadChannel, Client as DiscordClient, GatewayDispatchPayload, GatewayMessageUpdateDispatchData } from "discord.js";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { createClient, type ClientOptions } from "./client.ts";
import type { CallLimits } from "./call-limits.ts";
import { runWithDeadline } from "./deadline.ts";
import { DiscordAPIError, Events, RESTEvents, Routes } from "./discord-js.ts";
import { missingIn } from "./permissions.ts";
import { toPostError, toReplyMessage } from "./payload.ts";
import { PostError } from "./post-error.ts";
import { PostPacing } from "./post-pacing.ts";
import { MultipartBody } from "../multipart-body.ts";
import { ReplyRouter } from "./reply-router.ts";
import { skipPacketObjects } from "./skip-packets.ts";
import { errorText } from "../error-text.ts";
import type { InputFile, LinkState } from "../pool/seam.ts";

export type ConnectionState = LinkState;

export interface ConnectionOptions extends ClientOptions {
  metrics: Metrics;
}

const LOGIN_RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000, 60_000];
/** What a request is told to wait when its deadline passed while queued behind Discord's rate limit. */
const QUEUED_RETRY_AFTER_MS = 5_000;

/** Close codes after which reconnecting cannot help, and what the user must fix. */
const FATAL_CLOSE: Record<number, string> = {
  4004: "Discord refused the bot token (close 4004): copy the token of bot-02 again from the Discord developer portal (Bot → Reset Token)",
  4010: "Discord refused the shard settings (close 4010)",
  4011: "Discord wants this bot sharded (close 4011)",
  4012: "Discord refused the gateway version (close 4012)",
  4013: "Discord refused the intents (close 4013)",
  4014: "Discord refused the MessageContent intent (close 4014): enable 'Message Content Intent' for bot-02 in the Discord developer portal (Bot → Privileged Gateway Intents)",
};

/** What `check` learns about an entry's place in Discord. */
export interface ChannelInspection {
  /** bot-02 is a member of the server. */
  inGuild: boolean;
  channel: "ok" | "unknown" | "no-access";
  /** Permissions bot-02 lacks in the channel, by name. */
  missing: string[];
  /** bot-01 (the Coze bot) is a member of the server; undefined when that could not be asked. */
  cozeInGuild: boolean | undefined;
}

/** One Discord login (one `bot_token`): a discord.js client, its state, and the replies it routes. */
export class Connection {
  state: ConnectionState = "connecting";
  /** Why the connection is down, in words a user can act on. */
  problem: string | undefined;
  /** The gateway's close code that took the connection down for good (4004 a refused token, 4014 a refused intent). */
  fatalCode: number | undefined;
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
  /** How Discord paces posts in each channel, so that a prompt of several pieces goes out whole or not at all. */
  readonly pacing: PostPacing;

  constructor(
    private readonly token: string,
    readonly label: string,
    private readonly options: ConnectionOptions,
  ) {
    this.client = createClient(options);
    this.pacing = new PostPacing(this.client.rest);
    this.client.on(Events.Raw, (packet: GatewayDispatchPayload) => this.onDispatch(packet));
    skipPacketObjects(this.client);
    this.client.on(Events.ClientReady, () => {
      this.everReady = true;
      this.setState("ready");
    });
    this.client.on(Events.ShardResume, () => this.setState("ready"));
    this.client.on(Events.ShardReady, () => {
      // A READY after the first one is a new session (op 9): what was dispatched meanwhile is lost. The
      // connection stays "reconnecting" (quiet timers paused) until the missed replies have been fetched.
      if (this.everReady) void this.recover().finally(() => this.setState("ready"));
      else this.setState("ready");
    });
    this.client.on(Events.ShardReconnecting, () => this.state !== "down" && this.setState("reconnecting"));
    this.client.on(Events.ShardDisconnect, (event) => this.fail(FATAL_CLOSE[event.code] ?? `the gateway closed (code ${event.code})`, FATAL_CLOSE[event.code] ? event.code : undefined));
    this.client.on(Events.ShardError, (error) => log.debug("discord shard error", { bot: this.label, error: error.message }));
    this.client.on(Events.Error, (error) => log.warn("discord client error", { bot: this.label, error: error.message }));
    this.client.rest.on(RESTEvents.RateLimited, (info) => {
      options.metrics.discordRateLimits.inc();
      log.debug("discord rate limit", { bot: this.label, route: info.route, retry_ms: info.retryAfter });
    });
  }

  /** Ready or resuming: replies still arrive (a resume replays what was missed). */
  get usable(): boolean {
    return this.state === "ready" || this.state === "reconnecting";
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
      const message = errorText(error);
      const code = (error as { code?: string }).code;
      if (code === "TokenInvalid") return this.fail(FATAL_CLOSE[4004], 4004);
      if (/disallowed intent/i.test(message)) return this.fail(FATAL_CLOSE[4014], 4014);
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
    if (state === this.state || this.closed) return;
    this.state = state;
    if (state === "ready") {
      this.problem = undefined;
      this.loginAttempts = 0;
      this.settled.resolve();
      log.info("discord bot connected", { bot: this.label, user: this.client.user?.tag });
    } else log.info("discord bot reconnecting", { bot: this.label });
  }

  private fail(problem: string, fatalCode?: number): void {
    if (this.state === "down" && this.problem === problem) return;
    this.state = "down";
    this.problem = problem;
    this.fatalCode = fatalCode;
    this.settled.resolve();
    log.error(`discord bot is down: ${problem}`, { bot: this.label });
  }

  private onDispatch(packet: GatewayDispatchPayload): void {
    if (packet.t === "MESSAGE_CREATE" || packet.t === "MESSAGE_UPDATE") this.take(packet.d as GatewayMessageUpdateDispatchData);
    else if (packet.t === "MESSAGE_DELETE") {
      const { id } = packet.d;
      this.router.deliver({ id, authorId: "", referenceId: undefined, content: undefined, hasComponents: undefined, imageUrls: undefined, deleted: true });
    }
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
          log.warn("could not fetch missed replies", { bot: this.label, error: errorText(error) });
        }
      }),
    );
  }

  /** Posts one message; only `mentionId` may be pinged by it. Returns the message id. */
  post(channelId: string, content: string, mentionId: string | undefined, files: InputFile[], limits: CallLimits): Promise<string> {
    return this.call("the post", limits, async (signal) => {
      const payload = {
        content,
        // The prompt can ping the Coze bot and nobody else, whatever it says.
        allowed_mentions: { parse: [], users: mentionId ? [mentionId] : [], replied_user: false },
        ...(files.length > 0 ? { attachments: files.map((f, id) => ({ id, filename: f.name })) } : {}),
      };
      // Files go as a body of our own, streamed from their bytes (multipart-body.ts), still through discord.js's queue.
      const multipart =
        files.length > 0
          ? new MultipartBody([{ name: "payload_json", value: JSON.stringify(payload), contentType: "application/json" }], files.map((f, i) => ({ field: `files[${i}]`, ...f })))
          : undefined;
      const message = (await this.client.rest.post(Routes.channelMessages(channelId), {
        body: multipart ?? payload,
        ...(multipart ? { passThroughBody: true, headers: { "Content-Type": multipart.contentType } } : {}),
        signal,
      })) as APIMessage;
      // Right after a post the bucket's window is freshest: the longest reset seen is the window's length.
      this.pacing.learn(channelId);
      return message.id;
    });
  }

  /** Starts a public thread (type 11) without a starter message in `channelId`; returns its id. */
  createThread(channelId: string, name: string, limits: CallLimits): Promise<string> {
    return this.call("the new thread", limits, async (signal) => {
      const thread = (await this.client.rest.post(Routes.threads(channelId), {
        body: { name, type: 11, auto_archive_duration: 1440 },
        signal,
      })) as APIThreadChannel;
      return thread.id;
    });
  }

  /**
   * Where bot-02 stands in an entry's server and channel: membership, the
   * channel, each permission the relay needs, and whether bot-01 is there.
   */
  async inspect(guildId: string, channelId: string, cozeId: string): Promise<ChannelInspection> {
    const guild = this.client.guilds.cache.get(guildId);
    const codeOf = (error: unknown) => (error instanceof DiscordAPIError ? Number(error.code) : undefined);
    let channel: ChannelInspection["channel"] = "ok";
    try {
      await this.client.rest.get(Routes.channel(channelId));
    } catch (error) {
      const code = codeOf(error);
      if (code === 10003) channel = "unknown";
      else if (code === 50001) channel = "no-access";
      else throw error;
    }
    let missing = (channel === "ok" && this.missingPermissions(guildId, channelId)) || [];
    if (channel === "no-access") missing = ["View Channel"];
    let cozeInGuild: boolean | undefined;
    try {
      await this.client.rest.get(Routes.guildMember(guildId, cozeId));
      cozeInGuild = true;
    } catch (error) {
      cozeInGuild = codeOf(error) === 10007 ? false : undefined;
    }
    return { inGuild: guild !== undefined, channel, missing, cozeInGuild };
  }

  /** The permissions bot-02 lacks in a channel, by name, from its computed permissions there; undefined when they are not known. */
  missingPermissions(guildId: string, channelId: string): string[] | undefined {
    return missingIn(this.client, guildId, channelId);
  }

  /** Archives or unarchives a thread the service started. */
  async setArchived(threadId: string, archived: boolean): Promise<void> {
    await this.client.rest.patch(Routes.channel(threadId), { body: { archived } });
  }

  /**
   * One REST call for a request: it waits out Discord's rate limits while the
   * request's start deadline allows, is never sent once the client is gone,
   * and fails as a PostError (a 429 one when the deadline came first).
   */
  private async call<T>(what: string, limits: CallLimits, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    // The limits' shared signal, not AbortSignal.timeout: that one would keep every call's signal (and what
    // discord.js hangs on it) alive until the deadline, a minute by default.
    const signal = limits.callSignal;
    try {
      return await runWithDeadline(limits.deadline, () => send(signal));
    } catch (error) {
      if (limits.signal.aborted) throw limits.signal.reason ?? error;
      const failure = signal.aborted
        ? new PostError(`Discord's rate limit kept ${what} waiting past the request's start deadline`, 429, undefined, QUEUED_RETRY_AFTER_MS)
        : toPostError(error, what);
      if (failure.rateLimited) this.options.metrics.rateLimitedCalls.inc();
      else this.options.metrics.postFailures.inc({ status: String(failure.status) });
      throw failure;
    }
  }
}
