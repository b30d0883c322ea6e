import type { BotEntry, DiscordEntry } from "../config/bots.ts";
import type { CozeApiClient } from "../coze-api/client.ts";
import { log } from "../log.ts";
import type { CallLimits, Connection, ConnectionState, OutgoingFile } from "./connection.ts";
import type { ReplyMessage } from "./reply-message.ts";

/** How an entry rests: a fixed time after a Coze quota error, a doubling one (a circuit breaker) after failed Discord calls. */
export interface RestPolicy {
  quotaCooldownMs: number;
  failureCooldownMs: number;
  maxFailureCooldownMs: number;
  /** Requests one entry may have in flight; beyond it the entry is skipped. */
  maxInFlight: number;
}

/**
 * What a request's use of an entry came to, for the entry's health:
 * `quota` rests it, `failure` trips its breaker, `ok` closes the breaker,
 * `neutral` (a rate limit, a client that left, a Coze answer that was an
 * error text of the bot's own) changes nothing.
 */
export type Outcome = "ok" | "quota" | "failure" | "neutral";

/** Whether an entry takes a request now, and if not, why. */
export type Admission = "open" | "probe" | "busy" | "quota" | "resting" | "down";

/** How an entry reaches Coze: a Discord connection (shared by the entries of one bot token), or Coze's API. */
export type Link = { kind: "discord"; connection: Connection } | { kind: "api"; client: CozeApiClient };

/**
 * A `bot.json` entry as the pool serves it: its way to Coze, its load, and its
 * rest after failures.
 *
 * Failed Discord calls work a circuit breaker: the first failure opens it for
 * FAILURE_COOLDOWN, each further incident doubles that (up to 5 minutes); the
 * failures of one incident (requests that were under way together when it
 * tripped) count once. When the rest ends the entry is half-open: one request
 * probes it, and its success closes the breaker.
 */
export class PoolEntry {
  inFlight = 0;
  /** Discord calls of this entry under way or waiting out a rate limit: how far behind its channel is. */
  queued = 0;
  /** Date.now() until which a Coze quota error rests the entry. */
  quotaUntil = 0;
  private restUntil = 0;
  private failures = 0;
  private trippedAt = -Infinity;
  private probing = false;

  /** Requests on a threadless entry take turns: Coze reads the shared channel as one context. */
  private turn: Promise<void> = Promise.resolve();

  constructor(
    readonly config: BotEntry,
    /** What the entry is remembered by across restarts (conversations, rests). */
    readonly key: string,
    readonly link: Link,
    private readonly policy: RestPolicy,
    /** Told when the quota rest changes, so that it can outlive a restart. */
    private readonly onQuotaRest: (entry: PoolEntry) => void = () => {},
  ) {}

  get label(): string {
    return `entry ${this.config.index} (${this.config.model})`;
  }

  /** The Discord connection of a Discord entry; asking an API entry for one is a bug. */
  get connection(): Connection {
    if (this.link.kind !== "discord") throw new Error(`${this.label} reaches Coze through its API, not Discord`);
    return this.link.connection;
  }

  /** The API client of an API entry, undefined for a Discord entry. */
  get api(): CozeApiClient | undefined {
    return this.link.kind === "api" ? this.link.client : undefined;
  }

  /** What both kinds of link report alike: state, problem, usable. */
  private get linkState(): { state: ConnectionState; problem: string | undefined; usable: boolean } {
    return this.link.kind === "api" ? this.link.client : this.link.connection;
  }

  get cozeBotId(): string {
    return (this.config as DiscordEntry).coze_bot_id;
  }

  /** Whether conversations get a place of their own: a thread each on Discord (unless turned off); always on the API. */
  get threads(): boolean {
    return this.config.kind === "api" || this.config.threads;
  }

  /**
   * Waits for this request's turn in the entry's channel; resolves with the
   * function that ends the turn. A request whose client leaves while it waits
   * gives up its place.
   */
  async takeTurn(signal: AbortSignal): Promise<() => void> {
    const previous = this.turn;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.turn = previous.then(() => promise);
    const aborted = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason));
    });
    try {
      await Promise.race([previous, aborted]);
    } catch (error) {
      // Give up the place without blocking those behind: they wait for the one before us instead.
      void previous.then(resolve);
      throw error;
    }
    return resolve;
  }

  get state(): ConnectionState {
    return this.linkState.state;
  }

  get problem(): string | undefined {
    return this.linkState.problem;
  }

  get usable(): boolean {
    return this.linkState.usable;
  }

  admission(now = Date.now()): Admission {
    if (!this.usable) return "down";
    if (this.quotaUntil > now) return "quota";
    if (this.failures > 0) {
      if (this.restUntil > now || this.probing) return "resting";
      return this.inFlight >= this.policy.maxInFlight ? "busy" : "probe";
    }
    return this.inFlight >= this.policy.maxInFlight ? "busy" : "open";
  }

  /** Milliseconds until the entry takes requests again (0 when it does now). */
  restingFor(now = Date.now()): number {
    return Math.max(0, this.quotaUntil - now, this.failures > 0 ? this.restUntil - now : 0);
  }

  /** Milliseconds until a failure rest ends, or Infinity when the entry is not resting after failures. */
  failureRestEndsIn(now = Date.now()): number {
    return this.failures > 0 && !this.probing ? Math.max(0, this.restUntil - now) : Infinity;
  }

  lease(probe: boolean): Lease {
    this.inFlight++;
    if (probe) this.probing = true;
    return new Lease(this, probe);
  }

  /** Called once per lease. */
  settle(lease: Lease, outcome: Outcome): void {
    this.inFlight--;
    if (lease.probe) this.probing = false;
    const now = Date.now();
    if (outcome === "ok") {
      if (this.failures > 0) log.info("bot entry works again", { entry: this.config.index, model: this.config.model });
      this.failures = 0;
      this.restUntil = 0;
    } else if (outcome === "quota") {
      this.quotaUntil = now + this.policy.quotaCooldownMs;
      log.warn("bot entry resting", { entry: this.config.index, model: this.config.model, reason: "quota", seconds: Math.round(this.policy.quotaCooldownMs / 1000) });
      this.onQuotaRest(this);
    } else if (outcome === "failure" && (lease.probe || lease.startedAt > this.trippedAt)) {
      // A request that started before the breaker last tripped failed in that same incident: it counts once.
      const ms = Math.min(this.policy.maxFailureCooldownMs, this.policy.failureCooldownMs * 2 ** this.failures++);
      this.restUntil = now + ms;
      this.trippedAt = now;
      log.warn("bot entry resting", { entry: this.config.index, model: this.config.model, reason: "failure", seconds: Math.round(ms / 1000) });
    }
  }

  /** Posts the prompt messages in order; returns the id of the last one, the one that mentions Coze and that Coze answers. */
  async post(channelId: string, contents: string[], files: OutgoingFile[], limits: CallLimits): Promise<string> {
    this.queued++;
    try {
      let id = "";
      for (let i = 0; i < contents.length; i++) {
        const last = i === contents.length - 1;
        id = await this.connection.post(channelId, contents[i], last ? this.cozeBotId : undefined, last ? files : [], limits);
      }
      return id;
    } finally {
      this.queued--;
    }
  }

  async createThread(name: string, limits: CallLimits): Promise<string> {
    this.queued++;
    try {
      return await this.connection.createThread((this.config as DiscordEntry).channel_id, name, limits);
    } finally {
      this.queued--;
    }
  }

  follow(promptId: string, channelId: string, listener: (message: ReplyMessage) => void): () => void {
    return this.connection.router.follow(promptId, listener, channelId);
  }
}

/**
 * One request's use of one entry: what it may do with it, and the one
 * `release` that tells the entry how it went. The relay holds leases and
 * never touches an entry's counters or rests itself.
 */
export class Lease {
  readonly startedAt = Date.now();
  private released = false;

  constructor(
    readonly entry: PoolEntry,
    /** This request probes an entry whose breaker is half-open. */
    readonly probe: boolean,
  ) {}

  /** While the gateway reconnects or recovers, silence says nothing about Coze: quiet timers wait. */
  get quietHeld(): boolean {
    return this.entry.state !== "ready";
  }

  release(outcome: Outcome): void {
    if (this.released) return;
    this.released = true;
    this.entry.settle(this, outcome);
  }
}
