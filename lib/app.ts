import type { Server } from "bun";
import type { BotEntry, WorkspaceEntry } from "./config/bots.ts";
import { FoundModels } from "./coze-api/found-models.ts";
import type { Settings } from "./config/settings.ts";
import { BACKENDS } from "./backends.ts";
import { Pool } from "./pool/pool.ts";
import { ConversationBook } from "./relay/conversation-book.ts";
import { unavailable } from "./openai/api-error.ts";
import { startServer } from "./routes/server.ts";
import { log } from "./log.ts";
import { Gauge, Metrics } from "./metrics.ts";
import type { AppContext } from "./routes/context.ts";
import { InFlight } from "./http/in-flight.ts";
import { AudioCatalog } from "./relay/audio-catalog.ts";
import { imagePolicy } from "./images/policy.ts";
import { InputMemory } from "./input-memory.ts";
import { openStore } from "./store/open.ts";
import type { Store } from "./store/store.ts";
import { StatusSessions } from "./routes/status-sessions.ts";
import { VERSION } from "./version.ts";
import { errorText } from "./error-text.ts";


export interface App {
  server: Server<unknown>;
  pool: Pool;
  /** Relay requests under way (a request holds one slot from its first byte to its last event). */
  inFlight: InFlight;
  metrics: Metrics;
  /** IMAGE_INPUT_MEMORY's accounting of the input (images, audio uploads) requests hold. */
  inputMemory: InputMemory;
  /** Conversations, rests, images, transcripts, sessions (SQLite or PostgreSQL). */
  store: Store;
  /** Settles when every entry's link has connected or failed. */
  ready: Promise<void>;
  /** Applies a new bot list (and lists its workspaces afresh); requests in flight finish on what they started with. */
  reload(entries: BotEntry[], workspaces?: WorkspaceEntry[]): Promise<void>;
  /** Lists the workspaces of `workspace_id` entries again and serves what they hold now (also every WORKSPACE_REFRESH). */
  refreshWorkspaces(): Promise<void>;
  /**
   * Stops accepting requests, lets those in flight finish for up to
   * SHUTDOWN_GRACE, ends the rest with an error (an error event on a stream),
   * then closes every link to Coze.
   */
  stop(): Promise<void>;
}

/** Starts the HTTP API at once and the links to Coze beside it; `/readyz` tells when they are up. */
export function startApp(settings: Settings, entries: BotEntry[], workspaceEntries: WorkspaceEntry[] = [], given: { store?: Store } = {}): App {
  const metrics = new Metrics();
  // A store may be given (a test that makes the disk fail under the real store); else the one the settings ask for.
  const store = given.store ?? openStore(settings);
  const conversations = new ConversationBook(store);
  // Read from the store as it opens; the pool consults it once the links are up (their connecting takes longer).
  const restoredSuspects = new Map<string, number>();
  void store.entryStates().then(({ suspects }) => suspects.forEach((until, key) => restoredSuspects.set(key, until)));
  const backend = { discordApiUrl: settings.discordApiUrl, globalRateLimit: settings.discordGlobalRateLimit, proxyUrl: settings.proxyUrl, metrics, promptMaxPosts: settings.promptMaxPosts };
  const pool = new Pool(BACKENDS, entries, {
    ...backend,
    maxInFlightPerEntry: settings.maxInFlightPerBot,
    quotaCooldownMs: settings.quotaCooldownMs,
    failureCooldownMs: settings.failureCooldownMs,
    onQuotaRest: (key, until) => store.rest(key, until),
    probeTimings: settings,
    // A suspect entry whose probe a restart cut short is probed again: the mark outlives the process.
    restoredSuspects,
    onSuspect: (key, until) => store.suspect(key, until),
  });
  const inFlight = new InFlight(settings.maxInFlight);
  // Images on a backend's own hosts are downloaded as they are; each backend names its hosts.
  const own = BACKENDS.map((kind) => kind.imageHosts(entries.filter((e) => e.kind === kind.kind), backend));
  // One budget for what requests' inputs hold: image input and audio uploads.
  const inputMemory = new InputMemory(settings.imageInputMemory);
  const images = imagePolicy({
    proxyUrl: settings.proxyUrl,
    allowPrivate: settings.allowPrivateImageUrls,
    backendHosts: [...own.flatMap((o) => o.hosts), ...workspaceEntries.map((w) => new URL(w.api_base).host)],
    backendSuffixes: own.flatMap((o) => o.suffixes),
    fetchTimeoutMs: settings.imageFetchTimeoutMs,
    memory: inputMemory,
  });
  const sessions = new StatusSessions(store.sessions, settings.authTokens);
  metrics.gauges.push(
    ...poolGauges(pool, inFlight),
    new Gauge("coze_proxy_image_input_bytes", "Input bytes (decoded images, audio uploads) reserved by requests (IMAGE_INPUT_MEMORY bounds it).", () => [{ value: inputMemory.inUse }]),
    new Gauge("coze_proxy_store_degraded", "1 while the store fails (answers still go out; writes wait and are retried).", () => [{ value: store.health().state === "degraded" ? 1 : 0 }]),
    new Gauge("coze_proxy_store_queued_writes", "Writes waiting for the store.", () => [{ value: store.health().queued }]),
  );
  const audio = new AudioCatalog(pool);
  const ctx: AppContext = { settings, pool, store, conversations, images, inputMemory, metrics, audio, inFlight, sessions, version: VERSION, startedAt: Math.floor(Date.now() / 1000) };
  const housekeeping = setInterval(() => void tidy(pool, store, conversations, settings.threadIdleMs), Math.min(60_000, Math.max(100, settings.threadIdleMs / 2)));
  // Rests outlive a restart and are shared by every instance on one database: read at start, then followed.
  const followRests = () => void applyRests(pool, store);
  followRests();
  const restFollower = setInterval(followRests, REST_FOLLOW_MS);
  const server = startServer(ctx);
  log.info("listening", { url: `http://${settings.host}:${server.port}`, models: pool.models.join(",") });
  const found = new FoundModels(pool, entries, workspaceEntries, settings.proxyUrl);
  const ready = Promise.all([pool.start(), found.refresh()]).then(() => {});
  const refreshing = setInterval(() => void found.refresh(), settings.workspaceRefreshMs);
  let stopping: Promise<void> | undefined;
  const stopOnce = async () => {
    const closing = server.stop(false);
    const cut = await inFlight.drain(settings.shutdownGraceMs, unavailable("The service is shutting down."));
    if (cut > 0) log.warn("shutdown grace period over; ended requests still in flight", { requests: cut });
    // Let the error events just sent reach their clients before the sockets close.
    if (cut > 0) await Bun.sleep(50);
    await Promise.race([closing, Bun.sleep(1000)]);
    await server.stop(true);
    clearInterval(housekeeping);
    clearInterval(refreshing);
    await found.stop();
    clearInterval(restFollower);
    await pool.stop();
    await store.close();
  };
  return {
    server,
    pool,
    inFlight,
    metrics,
    inputMemory,
    store,
    ready,
    reload: (next, workspaces = []) => found.reload(next, workspaces),
    refreshWorkspaces: () => found.refresh(),
    // Once: a second SIGTERM, or a test stopping what shutdown already stopped, waits for the first.
    stop: () => (stopping ??= stopOnce()),
  };
}

function poolGauges(pool: Pool, inFlight: InFlight): Gauge[] {
  const perEntry = (value: (e: ReturnType<Pool["status"]>[number]["entries"][number]) => number) => () =>
    pool.status().flatMap(({ model, entries }) => entries.map((e) => ({ labels: { model, entry: String(e.index) }, value: value(e) })));
  return [
    new Gauge("coze_proxy_requests_in_flight", "Relay requests under way.", () => [{ value: inFlight.size }]),
    new Gauge("coze_proxy_replies_following", "Coze replies being followed.", () => [{ value: pool.tracking.following }]),
    new Gauge("coze_proxy_bot_connected", "1 when the entry's Discord bot is connected.", perEntry((e) => (e.state === "ready" || e.state === "reconnecting" ? 1 : 0))),
    new Gauge("coze_proxy_bot_cooldown_seconds", "Seconds until a resting entry takes requests again.", perEntry((e) => e.cooling_down_seconds)),
  ];
}

/** How often the rests other instances recorded are read (a quota seen by one instance is honoured by all). */
const REST_FOLLOW_MS = 1000;

/** Rests the store holds that this process does not know yet (another instance's, or a previous run's). */
async function applyRests(pool: Pool, store: Store): Promise<void> {
  const { rests } = await store.entryStates();
  for (const [key, until] of rests) {
    const entry = pool.entry(key);
    if (entry && entry.quotaUntil < until) entry.quotaUntil = until;
  }
}

/**
 * Off the request path: archives threads idle for THREAD_IDLE (a guild allows
 * 1000 active threads; posting in an archived thread unarchives it when its
 * conversation goes on), and forgets what the store keeps past its age.
 */
async function tidy(pool: Pool, store: Store, conversations: ConversationBook, idleMs: number): Promise<void> {
  try {
    await store.sweep();
    for (const place of await conversations.idle(Date.now() - idleMs)) {
      await pool.entry(place.entryKey)?.link.archive?.(place.conversationId);
      await conversations.archived(place.conversationId);
    }
  } catch (error) {
    log.warn("housekeeping failed; trying again later", { error: errorText(error) });
  }
}
