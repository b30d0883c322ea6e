/**
 * The per-model round-robin pool of discord.js clients. This folder is the
 * only place that speaks discord.js: one client per distinct `bot_token`
 * (connection.ts), shared by every `bot.json` entry that uses it (entry.ts).
 * Entries that reach Coze through its API (SPEC §9) sit in the same pool with
 * a client of their own, so both kinds take turns under one admission.
 * The relay asks for a lease on an entry of a model and gives it back with
 * an outcome; admission, rests and the breaker stay in here.
 */
import type { BotEntry } from "../config/bots.ts";
import { CozeApiClient } from "../coze-api/client.ts";
import type { Metrics } from "../metrics.ts";
import type { ClientOptions } from "./client.ts";
import { Connection } from "./connection.ts";
import { PoolEntry, type Lease, type Link, type RestPolicy } from "./entry.ts";
import { setGatewayProxy } from "./gateway-proxy.ts";

export interface PoolOptions extends ClientOptions {
  metrics: Metrics;
  /** Requests one entry may have in flight; beyond it the entry is skipped. */
  maxInFlightPerEntry: number;
  /** How long an entry rests after Coze reported a quota error (QUOTA_COOLDOWN). */
  quotaCooldownMs: number;
  /** First rest after a failed Discord call (FAILURE_COOLDOWN); doubles with each incident in a row, up to 5 minutes. */
  failureCooldownMs: number;
  /** Quota rests that outlived the last run, by entry key, as Date.now() times. */
  restoredQuota?: ReadonlyMap<string, number>;
  /** Told when an entry's quota rest changes, so that it can be stored. */
  onQuotaRest?: (key: string, until: number) => void;
}

/** Why no entry could be leased. */
export type PickFailure =
  | { reason: "cooling"; retryAfterMs: number }
  | { reason: "busy" }
  | { reason: "disconnected"; problems: string[] };

interface ModelGroup {
  entries: PoolEntry[];
  /** Where the next round-robin turn starts. */
  next: number;
}

interface Assignment {
  connections: Map<string, Connection>;
  apiClients: Map<string, CozeApiClient>;
  byModel: Map<string, ModelGroup>;
}

const MAX_FAILURE_COOLDOWN_MS = 5 * 60_000;
/** How long a reload waits for new tokens to connect before it applies the new list anyway. */
const RELOAD_CONNECT_WAIT_MS = 30_000;

/** The key an entry is remembered by across restarts: what it is, never its token in clear. */
export function entryKey(e: BotEntry): string {
  const digest = (secret: string) => new Bun.CryptoHasher("sha256").update(secret).digest("hex").slice(0, 16);
  if (e.kind === "api") return [e.model, "api", digest(e.coze_api_token), e.bot_id, e.api_base].join("/");
  return [e.model, digest(e.bot_token), e.coze_bot_id, e.guild_id, e.channel_id].join("/");
}

export class DiscordPool {
  private connections = new Map<string, Connection>();
  private apiClients = new Map<string, CozeApiClient>();
  private byModel = new Map<string, ModelGroup>();
  private readonly policy: RestPolicy;
  private labels = 0;

  constructor(
    entries: BotEntry[],
    private readonly options: PoolOptions,
  ) {
    setGatewayProxy(options.proxyUrl);
    this.policy = {
      quotaCooldownMs: options.quotaCooldownMs,
      failureCooldownMs: options.failureCooldownMs,
      maxFailureCooldownMs: MAX_FAILURE_COOLDOWN_MS,
      maxInFlight: options.maxInFlightPerEntry,
    };
    this.install(this.plan(entries));
  }

  /** Connections and entries for `entries`, reusing what already exists (unchanged entries keep their state). */
  private plan(entries: BotEntry[]): Assignment {
    const oldEntries = new Map<string, PoolEntry>();
    for (const group of this.byModel.values()) for (const e of group.entries) oldEntries.set(entryKey(e.config), e);
    const connections = new Map<string, Connection>();
    const apiClients = new Map<string, CozeApiClient>();
    const byModel = new Map<string, ModelGroup>();
    for (const config of entries) {
      const key = entryKey(config);
      const old = oldEntries.get(key);
      let entry: PoolEntry;
      if (config.kind === "api") {
        const client = apiClients.get(key) ?? (old?.api && this.apiClients.get(key)) ?? new CozeApiClient(config, { proxyUrl: this.options.proxyUrl });
        apiClients.set(key, client);
        entry = old?.api === client ? old : this.newEntry(config, key, { kind: "api", client });
      } else {
        let connection = connections.get(config.bot_token) ?? this.connections.get(config.bot_token);
        if (!connection) connection = new Connection(config.bot_token, `bot ${++this.labels}`, this.options);
        connections.set(config.bot_token, connection);
        // Only ever added to: a request still following a removed entry's Coze bot must keep getting its reply.
        connection.cozeIds.add(config.coze_bot_id);
        entry = old && old.link.kind === "discord" && old.connection === connection ? old : this.newEntry(config, key, { kind: "discord", connection });
      }
      Object.assign(entry.config, { index: config.index });
      const group = byModel.get(config.model) ?? { entries: [], next: this.byModel.get(config.model)?.next ?? 0 };
      group.entries.push(entry);
      byModel.set(config.model, group);
    }
    return { connections, apiClients, byModel };
  }

  private newEntry(config: BotEntry, key: string, link: Link): PoolEntry {
    const entry = new PoolEntry(config, key, link, this.policy, (e) => this.options.onQuotaRest?.(key, e.quotaUntil));
    entry.quotaUntil = this.options.restoredQuota?.get(key) ?? 0;
    return entry;
  }

  private install(assignment: Assignment): void {
    this.connections = assignment.connections;
    this.apiClients = assignment.apiClients;
    this.byModel = assignment.byModel;
  }

  /** Logs every client in and checks every API entry; resolves when each is connected or has failed. */
  async start(): Promise<void> {
    await Promise.all([...[...this.connections.values()].map((c) => c.connect()), ...[...this.apiClients.values()].map((c) => c.connect())]);
  }

  /**
   * Applies a new bot list without dropping a request: new tokens log in
   * while the old entries keep serving, the new list takes over once they
   * are connected (or have failed), and connections no longer used close once
   * the replies they follow are done.
   */
  async reload(entries: BotEntry[]): Promise<void> {
    const next = this.plan(entries);
    const fresh = [...next.connections.values()].filter((c) => ![...this.connections.values()].includes(c));
    const freshApi = [...next.apiClients.values()].filter((c) => ![...this.apiClients.values()].includes(c));
    await Promise.race([Promise.all([...fresh.map((c) => c.connect()), ...freshApi.map((c) => c.connect())]), Bun.sleep(RELOAD_CONNECT_WAIT_MS)]);
    const retired = [...this.connections.values()].filter((c) => ![...next.connections.values()].includes(c));
    const retiredApi = [...this.apiClients.values()].filter((c) => ![...next.apiClients.values()].includes(c));
    this.install(next);
    for (const connection of retired) void retireWhenIdle(connection);
    for (const client of retiredApi) void client.close();
  }

  async stop(): Promise<void> {
    await Promise.all([...[...this.connections.values()].map((c) => c.close()), ...[...this.apiClients.values()].map((c) => c.close())]);
  }

  get models(): string[] {
    return [...this.byModel.keys()];
  }

  hasModel(model: string): boolean {
    return this.byModel.has(model);
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
    for (const group of this.byModel.values()) for (const e of group.entries) if (e.key === key) return e;
    return undefined;
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
    const now = Date.now();
    return [...this.byModel].map(([model, { entries }]) => ({
      model,
      ready: entries.some((e) => e.usable),
      entries: entries.map((e) => ({
        index: e.config.index,
        via: e.config.kind,
        ...(e.threads ? {} : { shared_context: "threads are off: requests share one Coze context in the channel, one at a time" }),
        state: e.state,
        in_flight: e.inFlight,
        cooling_down_seconds: Math.ceil(e.restingFor(now) / 1000),
        ...(e.problem ? { problem: e.problem } : {}),
      })),
    }));
  }
}

async function retireWhenIdle(connection: Connection): Promise<void> {
  const deadline = performance.now() + 10 * 60_000;
  while (connection.router.following > 0 && performance.now() < deadline) await Bun.sleep(1000);
  await connection.close();
}
