/** What every measurement of the bench shares: its settings, the simulated Discord, the service as a child process, and the rows of the report. */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { BotEntry, DiscordEntry } from "../lib/config/bots.ts";
import { DiscordSimulator } from "../lib/simulator/simulator.ts";
import { freePort } from "../test/support/ports.ts";
import type { SimCoze } from "../lib/simulator/world.ts";

export const QUICK = process.argv.includes("--quick");
/** `--only api,store`: just those parts (start, load, burst, store, images, api, api-variants, binary), to measure one change quickly. */
export const ONLY = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",");
export const part = (name: string) => !ONLY || ONLY.includes(name);
export const ROOT = join(import.meta.dir, "..");
export const KEY = "bench-key";
/**
 * Discord allows a bot 50 requests per second, and discord.js keeps to it: at
 * that rate proxy and baseline both measure the limit, not the relay. Both are
 * given a raised limit (Discord grants them to large bots) so that the ratio
 * measures what the proxy costs.
 */
export const GLOBAL_LIMIT = 100_000;
export const MODEL = "bench";
/**
 * Runs and sizes. `costRuns` runs of a fixed number of requests per contender
 * (`*Requests`, after `*Warmup` unmeasured ones) give CPU per request and
 * throughput; the highest latency concurrency runs `latencyRuns` times.
 */
export const config = QUICK
  ? { startRuns: 1, idleWaitMs: 500, costRuns: 1, discordRequests: 120, discordWarmup: 30, apiRequests: 250, apiWarmup: 50, throughputSeconds: 1, latency: [1, 10, 30], latencyRuns: 1, edits: 4, editMs: 100, growthRequests: 800, growthWarmup: 200 }
  : { startRuns: 5, idleWaitMs: 1500, costRuns: 3, discordRequests: 3000, discordWarmup: 3000, apiRequests: 5000, apiWarmup: 5000, throughputSeconds: 5, latency: [1, 100, 1000], latencyRuns: 3, edits: 10, editMs: 500, growthRequests: 20_000, growthWarmup: 5_000 };
export const tmp = mkdtempSync(join(tmpdir(), "coze-bench-"));

/** Every process the bench starts, stopped when it exits, failed or not: a crash must leave none behind. */
export const children = new Set<Subprocess>();
process.on("exit", () => {
  for (const child of children) child.kill();
});
export const spawnChild = ((...args: Parameters<typeof Bun.spawn>) => {
  const child = Bun.spawn(...args);
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}) as typeof Bun.spawn;

// ---- the simulated Discord -------------------------------------------------

export const sim = new DiscordSimulator({ rateLimit: null, recordLimit: 100, messageLimit: 4000 }).start();
// Every request starts a thread, on both sides; the guild limit (1000 active) is the service's to manage
// by archiving idle threads, not this benchmark's to measure.
sim.activeThreadLimit = Number.POSITIVE_INFINITY;
/** Dispatch time of each scripted edit, by "stream:edit". */
export const dispatched = new Map<string, number>();

export function cozeFor(coze: SimCoze, edits: number, intervalMs: number): void {
  coze.behaviour = (prompt) => {
    const stream = /^lat (\d+)$/.exec(prompt)?.[1];
    if (stream === undefined) return { text: "ok", steps: 1, firstDelayMs: 0, editIntervalMs: 0 };
    const marks = Array.from({ length: edits }, (_, k) => `#${k}`);
    return {
      edits: marks.map((_, k) => marks.slice(0, k + 1).join(" ")),
      firstDelayMs: Math.random() * intervalMs,
      editIntervalMs: intervalMs,
      onEdit: (k) => dispatched.set(`${stream}:${k}`, performance.now()),
    };
  };
}

/** A world of `tokens` bots (bot-02s), each entry with its own Coze bot and channel. */
export function world(tokens: number, entries: number) {
  const bots = Array.from({ length: tokens }, () => sim.addBot());
  const cozes = Array.from({ length: entries }, () => sim.addCoze());
  const guild = sim.addGuild([...bots, ...cozes.map((c) => c.user)]);
  const list: DiscordEntry[] = cozes.map((coze, index) => ({
    kind: "discord",
    index,
    model: MODEL,
    bot_token: bots[index % tokens].token!,
    coze_bot_id: coze.user.id,
    guild_id: guild.id,
    channel_id: sim.addChannel(guild).id,
    threads: true,
  }));
  return { bots, cozes, entries: list };
}

// ---- the service under test ------------------------------------------------

export interface Service {
  base: string;
  pid: number;
  readyMs: number;
  stop(): Promise<void>;
}


export async function startService(command: string[], entries: BotEntry[], discord = sim, env: Record<string, string> = {}): Promise<Service> {
  const file = join(tmp, `bot-${crypto.randomUUID()}.json`);
  writeFileSync(file, JSON.stringify(entries));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const proc = spawnChild(command, {
    cwd: tmp,
    env: { PATH: process.env.PATH!, SERVER_HOST: "127.0.0.1", SERVER_PORT: String(port), BOT_CONFIG: file, AUTH_TOKEN: KEY, DISCORD_API_URL: discord.apiUrl, DISCORD_GLOBAL_RATE_LIMIT: String(GLOBAL_LIMIT), ...env },
    stdout: process.env.BENCH_DEBUG ? "inherit" : "ignore",
    stderr: "inherit",
  });
  for (;;) {
    const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (proc.exitCode !== null) throw new Error(`service exited with ${proc.exitCode}`);
    if (performance.now() - started > 20_000) throw new Error("service did not become ready");
    await Bun.sleep(2);
  }
  const readyMs = performance.now() - started;
  return {
    base,
    pid: proc.pid,
    readyMs,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

/** The first line a child process prints. */
export async function firstLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text.trim();
}

/** CPU seconds a process has used (user + system). */
export function cpuSeconds(pid: number | "self"): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident memory of a process, MB. */
export function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
  return kb / 1024;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
export const headers = { authorization: `Bearer ${KEY}`, "content-type": "application/json" };


export type Row = { figure: string; value: number; unit: string; budget: string; holds: boolean; detail?: string };
export const rows: Row[] = [];
export const results: Record<string, unknown> = { date: new Date().toISOString(), quick: QUICK, bun: Bun.version, cpus: navigator.hardwareConcurrency };
