/**
 * The whole real path for tests: the Discord simulator, the service with its
 * real discord.js clients, and the official `openai` SDK as the client, all on
 * 127.0.0.1 with ports the OS picks. `stop()` closes every socket it opened.
 */
import { afterEach, expect } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { startApp, type App } from "../lib/app.ts";
import type { ApiEntry, BotEntry, DiscordEntry, WorkspaceEntry } from "../lib/config/bots.ts";
import { readSettings, type Settings } from "../lib/config/settings.ts";
import { setLogSink } from "../lib/log.ts";
import type { Store } from "../lib/store/store.ts";
import { decodeSse } from "../lib/sse-decoder.ts";
import { buildScenario } from "../lib/simulator/scenario.ts";
import { CozeApiSimulator, type ApiBot, type ApiDialect, type ApiWorkflow } from "../lib/simulator/coze-api.ts";
import { DiscordSimulator, type SimulatorOptions } from "../lib/simulator/simulator.ts";
import type { SimChannel, SimCoze, SimUser } from "../lib/simulator/world.ts";

export const KEY = "test-key-1";
export const SECOND_KEY = "test-key-2";

export interface StackOptions {
  /** Entries to configure: the model, and which of `cozes` (by index) answers it. Defaults to one "gpt-test" entry. */
  entries?: { model: string; coze?: number; bot?: number; token?: string; channelId?: string; threads?: boolean }[];
  /** How many of our bots (bot-02 tokens) to create; entries choose one with `bot`. */
  bots?: number;
  settings?: Partial<Settings>;
  simulator?: SimulatorOptions;
  /** Set to false to leave the stack's Discord clients connecting (tests of failures). */
  waitReady?: boolean;
  /** A running simulator and entries to start a second service on (a restart test). */
  reuse?: { sim: DiscordSimulator; entries: DiscordEntry[]; api?: { apiSim: CozeApiSimulator; apiBots: ApiBot[]; apiEntries: ApiEntry[] } };
  /** The service's DATA_DIR; a fresh temporary one by default (a restart test passes the same one twice). */
  dataDir?: string;
  /**
   * Entries on Coze's API (after the Discord ones in bot.json), each with a bot of its own on one simulated API;
   * `workflow` makes the entry a chatflow (its own chatflow on the simulator), with `parameters` and `imageHosts` as bot.json says.
   */
  api?: { model: string; published?: boolean; token?: string; workflow?: boolean; parameters?: Record<string, unknown>; imageHosts?: (apiUrl: string) => string[]; voices?: Record<string, string>; default_voice?: string }[];
  /** Which server the simulated API is: coze.com (default) or a self-hosted Coze Studio. */
  apiDialect?: ApiDialect;
  /** `workspace_id` entries (after the API ones in bot.json), made on the running simulated Coze API. */
  workspaces?: (apiSim: CozeApiSimulator, index: number) => WorkspaceEntry[];
  /** The store to use instead of the one the settings open (a test that makes it fail). */
  store?: Store;
  /** Override our bots' simulator options (e.g. a bot whose intents are refused). */
  botOptions?: { messageContentAllowed?: boolean }[];
}

export interface Stack {
  sim: DiscordSimulator;
  app: App;
  base: string;
  openai: OpenAI;
  bots: SimUser[];
  cozes: SimCoze[];
  channels: SimChannel[];
  entries: DiscordEntry[];
  /** The simulated Coze API, its bots (or chatflows, for chatflow entries) and the API entries (when `api` asked for them). */
  apiSim: CozeApiSimulator;
  apiBots: (ApiBot | ApiWorkflow)[];
  apiEntries: ApiEntry[];
  /** Log lines the service wrote while the stack ran. */
  logs: string[];
  /** fetch against the service, with the API key unless `headers.authorization` says otherwise. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** Stacks still running, so that what one test left queued cannot answer the next. */
const live = new Set<Stack>();
afterEach(() => {
  for (const stack of live) {
    for (const coze of stack.cozes) coze.queue.length = 0;
    for (const bot of stack.apiBots) bot.queue.length = 0;
  }
});

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const { sim, bots, cozes, channels, entries } = options.reuse ? reuseWorld(options.reuse) : newWorld(options);
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "coze-test-data-"));
  const settings: Settings = {
    ...readSettings({ AUTH_TOKEN: `${KEY},${SECOND_KEY}` }),
    dataDir,
    host: "127.0.0.1",
    port: 0,
    discordApiUrl: sim.apiUrl,
    replyStartTimeoutMs: 3000,
    replyQuietMs: 1000,
    replyTimeoutMs: 20_000,
    // A test whose requests are all done has nothing to drain; a leaked slot then fails fast, by name.
    shutdownGraceMs: 500,
    ...options.settings,
  };
  // A second instance on the same Coze API (reuse.api) has the same API entries as the first.
  const reused = options.reuse?.api;
  const apiSim = reused?.apiSim ?? new CozeApiSimulator({ dialect: options.apiDialect }).start();
  const apiBots = reused?.apiBots ?? (options.api ?? []).map((a) => (a.workflow ? apiSim.addWorkflow({ published: a.published }) : apiSim.addBot(a.published ?? true)));
  const apiEntries = reused?.apiEntries ?? (options.api ?? []).map(
    (a, i): ApiEntry => ({
      kind: "api",
      index: entries.length + i,
      model: a.model,
      coze_api_token: a.token ?? apiSim.addToken(),
      ...(a.workflow ? { workflow_id: apiBots[i].id } : { bot_id: apiBots[i].id }),
      ...(a.parameters ? { parameters: a.parameters } : {}),
      ...(a.imageHosts ? { image_hosts: a.imageHosts(apiSim.url) } : {}),
      api_base: apiSim.url,
      ...(a.voices ? { voices: a.voices } : {}),
      ...(a.default_voice ? { default_voice: a.default_voice } : {}),
    }),
  );
  const logs: string[] = [];
  const previousSink = setLogSink((line) => logs.push(line));
  const workspaces = options.workspaces?.(apiSim, entries.length + apiEntries.length) ?? [];
  const app = startApp(settings, [...entries, ...apiEntries], workspaces, { store: options.store });
  if (options.waitReady !== false) await app.ready;
  const base = `http://127.0.0.1:${app.server.port}`;
  const stack: Stack = {
    sim,
    app,
    base,
    openai: new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0 }),
    bots,
    cozes,
    channels,
    entries,
    apiSim,
    apiBots,
    apiEntries,
    logs,
    fetch: (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has("authorization")) headers.set("authorization", `Bearer ${KEY}`);
      if (init.body && !headers.has("content-type")) headers.set("content-type", "application/json");
      return fetch(base + path, { ...init, headers });
    },
    async stop() {
      // Every request a test made has ended by now: a slot still held is a leak, and must fail here by name,
      // not as a hook timeout or a later test's 429.
      const leaked = await settle(() => app.inFlight.size + app.pool.status().reduce((n, m) => n + m.entries.reduce((k, e) => k + e.in_flight, 0), 0));
      app.server.stop(true);
      await app.stop();
      await sim.stop();
      await apiSim.stop();
      setLogSink(previousSink);
      live.delete(stack);
      if (leaked > 0) throw new Error(`leaked in-flight slots: ${leaked} still held after the test's requests ended`);
      if (app.inputMemory.inUse > 0) throw new Error(`leaked input memory: ${app.inputMemory.inUse} bytes still reserved after the test's requests ended`);
    },
  };
  live.add(stack);
  return stack;
}

function newWorld(options: StackOptions) {
  const sim = new DiscordSimulator({ rateLimit: null, ...options.simulator }).start();
  const wanted = options.entries ?? [{ model: "gpt-test" }];
  const { bots, cozes, channels, entries } = buildScenario(sim, {
    bots: Array.from({ length: options.bots ?? 1 }, (_, i) => options.botOptions?.[i] ?? {}),
    entries: wanted.map(({ model, coze, bot, threads }) => ({ model, coze, bot, threads })),
  });
  // Entries a test points elsewhere: another token, or a channel that does not exist.
  wanted.forEach((w, i) => Object.assign(entries[i], w.token ? { bot_token: w.token } : {}, w.channelId ? { channel_id: w.channelId } : {}));
  return { sim, bots, cozes, channels, entries: entries.map((e): DiscordEntry => ({ kind: "discord", ...e })) };
}

/** The world of a running simulator, for a second service on it (a restart). */
function reuseWorld({ sim, entries }: { sim: DiscordSimulator; entries: DiscordEntry[] }) {
  const bots = [...new Set(entries.map((e) => [...sim.users.values()].find((u) => u.token === e.bot_token)!))];
  const cozes = entries.map((e) => sim.cozes.get(e.coze_bot_id)!);
  const channels = entries.map((e) => sim.channels.get(e.channel_id)!);
  return { sim, bots, cozes, channels, entries };
}

/**
 * A stack per test: returns the function that starts one (over `defaults`),
 * and stops every stack it started after each test of the calling file.
 */
export function stackPerTest(defaults: StackOptions = {}): (options?: StackOptions) => Promise<Stack> {
  const started: Stack[] = [];
  afterEach(async () => {
    for (const stack of started.splice(0)) await stack.stop();
  });
  return async (options = {}) => {
    const stack = await startStack({ ...defaults, ...options });
    started.push(stack);
    return stack;
  };
}

/** Polls `count` until it is 0 or a second has passed (a request's slot is freed just after its response). */
async function settle(count: () => number): Promise<number> {
  for (let i = 0; i < 100 && count() > 0; i++) await Bun.sleep(10);
  return count();
}

/** Reads an SSE response into its `data:` payloads (without `[DONE]`) and whether `[DONE]` came. */
export async function readSse(response: Response): Promise<{ events: any[]; done: boolean; raw: string }> {
  const raw = await response.text();
  const events: any[] = [];
  let done = false;
  // An event may be named (`event: …`, as the Responses API does); its data carries the JSON.
  for (const { data } of decodeSse(raw)) {
    if (data === "[DONE]") done = true;
    else events.push(JSON.parse(data));
  }
  return { events, done, raw };
}

/** A response body as JSON, loosely typed for assertions. */
export const json = (response: Response): Promise<any> => response.json();

/** A turn of a conversation a test sends. */
export type Turn = { role: "system" | "user" | "assistant"; content: string };

/** Sends `messages` to `model` and returns the answer's text, asserting a 200. */
export async function chatAnswer(stack: Stack, model: string, messages: Turn[], headers: Record<string, string> = {}): Promise<string> {
  const response = await stack.fetch("/v1/chat/completions", { method: "POST", headers, body: JSON.stringify({ model, messages }) });
  expect(response.status).toBe(200);
  return (await json(response)).choices[0].message.content as string;
}

/** The same streamed: the deltas' text joined, asserting a 200 and a closing `[DONE]`. */
export async function streamAnswer(stack: Stack, model: string, messages: Turn[]): Promise<string> {
  const response = await stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model, messages, stream: true }) });
  expect(response.status).toBe(200);
  const { events, done } = await readSse(response);
  expect(done).toBe(true);
  return events.map((e) => e.choices?.[0]?.delta?.content ?? "").join("");
}

export const chatBody = (model: string, content: string, extra: object = {}) =>
  JSON.stringify({ model, messages: [{ role: "user", content }], ...extra });
