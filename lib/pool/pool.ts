/**
 * The per-model round-robin pool of entries. It knows the ways to Coze only
 * through the seam (seam.ts): each kind named in the registry makes the
 * links of its entries, and the pool admits requests to them alike. The
 * relay asks for a lease on an entry of a model and gives it back with an
 * outcome; admission, rests and the breaker stay in here.
 */
import type { BotEntry } from "../config/bots.ts";
import { PoolEntry, type Lease, type RestPolicy } from "./entry.ts";
import type { Backend, BackendKind, BackendOptions, ProbeVerdict, ReplyTimings } from "./seam.ts";

export interface PoolOptions extends BackendOptions {
  /** Requests one entry may have in flight; beyond it the entry is skipped. */
  maxInFlightPerEntry: number;
  /** How long an entry rests after Coze reported a quota error (QUOTA_COOLDOWN). */
  quotaCooldownMs: number;
  /** First rest after a failed call (FAILURE_COOLDOWN); doubles with each incident in a row, up to 5 minutes. */
  failureCooldownMs: number;
  /** Quota rests that outlived the last run, by entry key, as Date.now() times. */
  restoredQuota?: ReadonlyMap<string, number>;
  /** Told when an entry's quota rest changes, so that it can be stored. */
  onQuotaRest?: (key: string, until: number) => void;
  /** How a suspect entry's probe waits for Coze. */
  probeTimings: ReplyTimings;
  /** Entries that were suspect when the last run ended (their probe never finished), by key, with the time the mark lapses. */
  restoredSuspects?: ReadonlyMap<string, number>;
  /** Told when an entry turns suspect (until: the latest its probe ends) and when it is cleared (until 0), so that it can be stored. */
  onSuspect?: (key: string, until: number) => void;
}

/** Why no entry could be leased. */
export type PickFailure =
  | { reason: "cooling"; retryAfterMs: number }
  | { reason: "busy" }
  /** The entries left are suspect: their probe, which settles when the first of them is decided, may bring one back. */
  | { reason: "suspect"; probe: Promise<ProbeVerdict> }
  | { reason: "disconnected"; problems: string[] };

interface ModelGroup {
  entries: PoolEntry[];
  /** Where the next round-robin turn starts. */
  next: number;
}

const MAX_FAILURE_COOLDOWN_MS = 5 * 60_000;
/** How long a reload waits for new links to connect before it applies the new list anyway. */
const RELOAD_CONNECT_WAIT_MS = 30_000;

export class Pool {
  private byModel = new Map<string, ModelGroup>();
  private readonly backends = new Map<string, { kind: BackendKind; backend: Backend }>();
  private readonly policy: RestPolicy;

  constructor(
    /** The registry of kinds: every way into Coze the entries may name. */
    kinds: readonly BackendKind[],
    entries: BotEntry[],
    private readonly options: PoolOptions,
  ) {
    for (const kind of kinds) this.backends.set(kind.kind, { kind, backend: kind.create(options) });
    this.policy = {
      quotaCooldownMs: options.quotaCooldownMs,
      failureCooldownMs: options.failureCooldownMs,
      maxFailureCooldownMs: MAX_FAILURE_COOLDOWN_MS,
      maxInFlight: options.maxInFlightPerEntry,
      probeTimings: options.probeTimings,
    };
    this.byModel = this.plan(entries);
  }

  private backendOf(config: BotEntry): { kind: BackendKind; backend: Backend } {
    const found = this.backends.get(config.kind);
    if (!found) throw new Error(`no backend of kind "${config.kind}" is registered`);
    return found;
  }

  /** The key `config` is remembered by across restarts. */
  keyOf(config: BotEntry): string {
    return this.backendOf(config).kind.entryKey(config);
  }

  /** Entries for `entries`, reusing what already exists: an unchanged entry keeps its state and its link. */
  private plan(entries: BotEntry[]): Map<string, ModelGroup> {
    const old = new Map<string, PoolEntry>();
    for (const e of this.all()) old.set(e.key, e);
    const byModel = new Map<string, ModelGroup>();
    for (const config of entries) {
      const { kind, backend } = this.backendOf(config);
      const key = kind.entryKey(config);
      const previous = old.get(key);
      const link = backend.link(config, previous?.link);
      const entry = previous?.link === link ? previous : this.newEntry(config, key, link);
      // A kept entry takes its line's place in bot.json, and its model's name (a bot renamed in its workspace).
      Object.assign(entry.config, { index: config.index, model: config.model });
      const group = byModel.get(config.model) ?? { entries: [], next: this.byModel.get(config.model)?.next ?? 0 };
      group.entries.push(entry);
      byModel.set(config.model, group);
    }
    return byModel;
  }

  private newEntry(config: BotEntry, key: string, link: PoolEntry["link"]): PoolEntry {
    const entry = new PoolEntry(
      config,
      key,
      link,
      this.policy,
      (e) => this.options.onQuotaRest?.(key, e.quotaUntil),
      (_e, until) => this.options.onSuspect?.(key, until),
    );
    entry.quotaUntil = this.options.restoredQuota?.get(key) ?? 0;
    return entry;
  }

  private *all(groups = this.byModel): Iterable<PoolEntry> {
    for (const group of groups.values()) yield* group.entries;
  }

  private connectAll(groups: Map<string, ModelGroup>): Promise<void> {
    const links = [...this.all(groups)].map((e) => e.link);
    return Promise.all([...this.backends.values()].map(({ backend }) => backend.connect(links))).then(() => {});
  }

  /** Connects every link; resolves when each is connected or has failed. */
  start(): Promise<void> {
    return this.connectAll(this.byModel).then(() => this.probeRestoredSuspects());
  }

  /** An entry whose probe a restart cut short is suspect again, and probed again, once its link is up. */
  private probeRestoredSuspects(): void {
    const now = Date.now();
    for (const entry of this.all()) {
      if ((this.options.restoredSuspects?.get(entry.key) ?? 0) > now) void entry.suspect();
    }
  }

  /**
   * Applies a new bot list without dropping a request: new links connect
   * while the old entries keep serving, the new list takes over once they
   * are connected (or have failed), and what is no longer used is let go once
   * the requests it serves are done. Entries may come and go this way while
   * the service serves.
   */
  async reload(entries: BotEntry[]): Promise<void> {
    const next = this.plan(entries);
    await Promise.race([this.connectAll(next), Bun.sleep(RELOAD_CONNECT_WAIT_MS)]);
    this.byModel = next;
    const kept = [...this.all()].map((e) => e.link);
    for (const { backend } of this.backends.values()) backend.retire(kept);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.backends.values()].map(({ backend }) => backend.stop()));
  }

  /** Every entry served now, model by model in bot.json order: for calls that pick their own entries (audio lists). */
  get entries(): PoolEntry[] {
    return [...this.all()];
  }

  get models(): string[] {
    return [...this.byModel.keys()];
  }

  hasModel(model: string): boolean {
    return this.byModel.has(model);
  }

  /** The bot.json lines (or the bots found in a workspace) that serve `model`. */
  configsOf(model: string): BotEntry[] {
    return this.byModel.get(model)?.entries.map((e) => e.config) ?? [];
  }

  /**
   * A lease on one of the model's entries, not in `tried` (the entries this
   * request already used). Among the entries that take requests now, the one
   * whose channel is least behind on Discord's rate limit wins, ties going in
   * round-robin order. When every entry left rests after failures, the one
   * whose rest ends first is probed anyway: a short Discord outage then costs
   * seconds once Discord is back, not the length of a rest.
   */
  acquire(model: string, tried: ReadonlySet<PoolEntry>): Lease | PickFailure {
    const group = this.byModel.get(model);
    if (!group) return { reason: "disconnected", problems: [`no entry serves ${model}`] };
    const now = Date.now();
    const { entries } = group;
    let best: PoolEntry | undefined;
    let bestAt = 0;
    let bestProbe = false;
    let busy = false;
    let cooling = Infinity;
    let probeCandidate: PoolEntry | undefined;
    const suspects: Promise<ProbeVerdict>[] = [];
    for (let k = 0; k < entries.length; k++) {
      const at = (group.next + k) % entries.length;
      const entry = entries[at];
      if (tried.has(entry)) continue;
      const admission = entry.admission(now);
      if (admission === "open" || admission === "probe") {
        if (!best || entry.queued < best.queued) {
          best = entry;
          bestAt = at;
          bestProbe = admission === "probe";
        }
      } else if (admission === "busy") busy = true;
      else if (admission === "suspect") suspects.push(entry.suspectProbe!);
      else if (admission === "quota" || admission === "resting") {
        cooling = Math.min(cooling, entry.restingFor(now) || 1000);
        if (admission === "resting" && entry.failureRestEndsIn(now) < (probeCandidate?.failureRestEndsIn(now) ?? Infinity)) probeCandidate = entry;
      }
    }
    if (best) {
      group.next = (bestAt + 1) % entries.length;
      return best.lease(bestProbe);
    }
    if (probeCandidate && probeCandidate.quotaUntil <= now && probeCandidate.inFlight < this.policy.maxInFlight) return probeCandidate.lease(true);
    // Suspect is not unready: the request waits for the probe that may bring the entry back.
    if (suspects.length > 0) return { reason: "suspect", probe: Promise.race(suspects) };
    if (busy) return { reason: "busy" };
    if (cooling !== Infinity) return { reason: "cooling", retryAfterMs: cooling };
    return { reason: "disconnected", problems: entries.filter((e) => !e.usable).map((e) => `${e.label}: ${e.problem ?? e.state}`) };
  }

  /**
   * A lease on the entry `key` of the model, the one holding a conversation,
   * when it takes requests now; undefined when it does not (down, resting,
   * full, already tried, or gone from bot.json): the conversation then moves.
   */
  acquireEntry(model: string, key: string, tried: ReadonlySet<PoolEntry>): Lease | undefined {
    const entry = this.byModel.get(model)?.entries.find((e) => e.key === key);
    if (!entry || tried.has(entry)) return undefined;
    const admission = entry.admission();
    return admission === "open" || admission === "probe" ? entry.lease(admission === "probe") : undefined;
  }

  /** The entry remembered as `key`, if bot.json still has it. */
  entry(key: string): PoolEntry | undefined {
    for (const e of this.all()) if (e.key === key) return e;
    return undefined;
  }

  /** Answers being followed right now, and answers kept for prompts nobody follows yet. */
  get tracking(): { following: number; waiting: number } {
    let following = 0;
    let waiting = 0;
    for (const { backend } of this.backends.values()) {
      following += backend.tracking?.following ?? 0;
      waiting += backend.tracking?.waiting ?? 0;
    }
    return { following, waiting };
  }

  /**
   * Every model and entry, for `/readyz`, `/` and metrics: `connected` when
   * some entry's link is up (infrastructure), `ready` when some entry can
   * serve now (connected and not resting; a suspect entry counts, its
   * requests wait for its probe).
   */
  status() {
    const now = Date.now();
    return [...this.byModel].map(([model, { entries }]) => {
      const admissions = entries.map((e) => e.admission(now));
      return {
        model,
        connected: entries.some((e) => e.usable),
        ready: admissions.some((a) => a !== "down" && a !== "quota" && a !== "resting"),
        entries: entries.map((e, i) => ({
          index: e.config.index,
          via: e.config.kind,
          ...(!e.link.sharesContext ? {} : { shared_context: "threads are off: requests share one Coze context in the channel, one at a time" }),
          state: e.state,
          ...(reasonOf(admissions[i]) ? { reason: reasonOf(admissions[i]) } : {}),
          in_flight: e.inFlight,
          cooling_down_seconds: Math.ceil(e.restingFor(now) / 1000),
          ...(e.problem ? { problem: e.problem } : {}),
        })),
      };
    });
  }
}

/** Why an entry does not take requests now, in the words `/readyz` shows; undefined when it does. */
function reasonOf(admission: string): string | undefined {
  switch (admission) {
    case "quota":
      return "resting after Coze reported its quota spent (QUOTA_COOLDOWN)";
    case "suspect":
      return "suspect: Coze answered with a quota text; a probe decides whether the entry rests";
    case "resting":
      return "resting after failed calls (FAILURE_COOLDOWN)";
    case "down":
      return "not connected";
    default:
      return undefined;
  }
}
