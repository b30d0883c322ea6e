import type { BotEntry } from "../config/bots.ts";
import { log } from "../log.ts";
import { Turns } from "../turns.ts";
import type { Outcome } from "./failure.ts";
import type { Link, LinkState, ProbeVerdict, ReplyTimings } from "./seam.ts";

/** How an entry rests: a fixed time after a Coze quota error, a doubling one (a circuit breaker) after failed calls. */
export interface RestPolicy {
  quotaCooldownMs: number;
  failureCooldownMs: number;
  maxFailureCooldownMs: number;
  /** Requests one entry may have in flight; beyond it the entry is skipped. */
  maxInFlight: number;
  /** How a suspect entry's probe waits for Coze (the request timings). */
  probeTimings: ReplyTimings;
}

/** Whether an entry takes a request now, and if not, why. */
export type Admission = "open" | "probe" | "busy" | "quota" | "suspect" | "resting" | "down";

/**
 * A `bot.json` entry as the pool serves it: its way to Coze, its load, and its
 * rest after failures.
 *
 * Failed calls work a circuit breaker: the first failure opens it for
 * FAILURE_COOLDOWN, each further incident doubles that (up to 5 minutes); the
 * failures of one incident (requests that were under way together when it
 * tripped) count once. When the rest ends the entry is half-open: one request
 * probes it, and its success closes the breaker.
 *
 * A quota text a prompt could have made Coze repeat does not rest the entry
 * at once: the entry is *suspect*, takes no new request, and a fixed neutral
 * probe asks Coze in a fresh place. Only a quota text in answer to the probe
 * too rests it for QUOTA_COOLDOWN; any other outcome brings it back at once,
 * with no rest recorded.
 */
export class PoolEntry {
  inFlight = 0;
  /** Date.now() until which a Coze quota error rests the entry. */
  quotaUntil = 0;
  private restUntil = 0;
  private failures = 0;
  private trippedAt = -Infinity;
  private probing = false;
  /** Requests on an entry whose conversations share one Coze context take turns. */
  private readonly turns = new Turns<string>();

  constructor(
    readonly config: BotEntry,
    /** What the entry is remembered by across restarts (conversations, rests). */
    readonly key: string,
    readonly link: Link,
    private readonly policy: RestPolicy,
    /** Told when the quota rest changes, so that it can outlive a restart. */
    private readonly onQuotaRest: (entry: PoolEntry) => void = () => {},
    /** Told when the entry turns suspect (with the time its probe ends at the latest) and when it is cleared (0). */
    private readonly onSuspect: (entry: PoolEntry, until: number) => void = () => {},
  ) {}

  /** The probe of a suspect entry, while it runs: what it finds decides whether the entry rests. */
  suspectProbe: Promise<ProbeVerdict> | undefined;

  get label(): string {
    return `entry ${this.config.index} (${this.config.model})`;
  }

  get state(): LinkState {
    return this.link.state;
  }

  get problem(): string | undefined {
    return this.link.problem;
  }

  get usable(): boolean {
    return this.link.usable;
  }

  /** Calls of the entry under way or waiting out a rate limit: how far behind it is. */
  get queued(): number {
    return this.link.queued;
  }

  /** Waits for this request's turn on the entry; resolves with the function that ends it. */
  takeTurn(signal: AbortSignal): Promise<() => void> {
    return this.turns.take(this.key, signal);
  }

  admission(now = Date.now()): Admission {
    if (!this.usable) return "down";
    if (this.quotaUntil > now) return "quota";
    if (this.suspectProbe) return "suspect";
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
      this.restForQuota(now);
    } else if (outcome === "suspect") {
      this.suspect();
    } else if (outcome === "failure" && (lease.probe || lease.startedAt > this.trippedAt)) {
      // A request that started before the breaker last tripped failed in that same incident: it counts once.
      const ms = Math.min(this.policy.maxFailureCooldownMs, this.policy.failureCooldownMs * 2 ** this.failures++);
      this.restUntil = now + ms;
      this.trippedAt = now;
      log.warn("bot entry resting", { entry: this.config.index, model: this.config.model, reason: "failure", seconds: Math.round(ms / 1000) });
    }
  }

  private restForQuota(now: number): void {
    this.quotaUntil = now + this.policy.quotaCooldownMs;
    log.warn("bot entry resting", { entry: this.config.index, model: this.config.model, reason: "quota", seconds: Math.round(this.policy.quotaCooldownMs / 1000) });
    this.remember(() => this.onQuotaRest(this));
  }

  /** Tells the store; a store that cannot take it (closed at shutdown, failing) never loses the entry's state here. */
  private remember(write: () => void): void {
    try {
      write();
    } catch (error) {
      log.warn("could not store an entry's rest or suspect mark", { entry: this.config.index, error: String(error) });
    }
  }

  /**
   * Makes the entry suspect and probes it, unless it already is suspect or
   * resting on a quota. A link without a probe (whose quota signals a prompt
   * cannot forge) rests at once. Returns the probe's verdict.
   */
  suspect(): Promise<ProbeVerdict> {
    if (this.suspectProbe) return this.suspectProbe;
    if (this.quotaUntil > Date.now()) return Promise.resolve("quota");
    if (!this.link.probe) {
      this.restForQuota(Date.now());
      return Promise.resolve("quota");
    }
    const { replyStartTimeoutMs, replyTimeoutMs } = this.policy.probeTimings;
    this.remember(() => this.onSuspect(this, Date.now() + replyStartTimeoutMs + replyTimeoutMs));
    log.warn("coze answered with a quota text; the entry is suspect until a probe confirms it", { entry: this.config.index, model: this.config.model });
    const probe = this.probeInTurn(this.link.probe.bind(this.link))
      .catch((error): ProbeVerdict => {
        log.warn("the probe of a suspect entry failed", { entry: this.config.index, model: this.config.model, error: String(error) });
        return "failed";
      })
      .then((verdict) => {
        this.suspectProbe = undefined;
        this.remember(() => this.onSuspect(this, 0));
        if (verdict === "quota") this.restForQuota(Date.now());
        else log.info("a suspect entry's probe was not a quota text; the entry is back", { entry: this.config.index, model: this.config.model, probe: verdict });
        return verdict;
      });
    this.suspectProbe = probe;
    return probe;
  }

  /** The probe, in its turn where the entry's conversations share one Coze context (so that no request reads it as context). */
  private async probeInTurn(probe: (timings: RestPolicy["probeTimings"]) => Promise<ProbeVerdict>): Promise<ProbeVerdict> {
    const endTurn = this.link.sharesContext ? await this.takeTurn(new AbortController().signal) : undefined;
    try {
      return await probe(this.policy.probeTimings);
    } finally {
      endTurn?.();
    }
  }

  /** Milliseconds until a quota rest ends (0 when there is none). */
  quotaRestFor(now = Date.now()): number {
    return Math.max(0, this.quotaUntil - now);
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

  release(outcome: Outcome): void {
    if (this.released) return;
    this.released = true;
    this.entry.settle(this, outcome);
  }
}
