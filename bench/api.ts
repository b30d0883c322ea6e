/** The Coze API path against its no-logic relay (CPU per request, throughput, latency per delta) and a bare fetch loop. */
import { join } from "node:path";
import type { ApiEntry } from "../lib/config/bots.ts";
import { CozeApiSimulator } from "../lib/simulator/coze-api.ts";
import { answerDeltas } from "./answer-deltas.ts";
import { MODEL, QUICK, type Row, config, dispatched, firstLine, headers, median, percentile, results, rows, sim, spawnChild, startService } from "./setup.ts";
import { chatCall, compareCosts, compareLatency, costRows, cpuSideBySide } from "./client.ts";

/**
 * The Coze API path against a bare `fetch` loop making the same
 * `/v3/chat` calls to the same simulated API: throughput with an instantly
 * answering bot, and the time to the first text of an answer (the proxy's
 * extra HTTP hop included), median and p99 of sequential requests.
 */
export async function measureApi(command: string[]) {
  const api = new CozeApiSimulator().start();
  const token = api.addToken();
  const bot = api.addBot();
  bot.behaviour = (prompt) => {
    const stream = /^lat (\d+)$/.exec(prompt)?.[1];
    if (stream === undefined) return { text: "pong from the API", deltas: 3, firstDelayMs: 0, intervalMs: 0, followUps: [] };
    // One marker a delta, each timed as the simulator writes it, as cozeFor does for Discord's edits.
    const marks = Array.from({ length: config.edits }, (_, k) => `#${k} `);
    return { text: marks.join(""), deltas: marks.length, firstDelayMs: Math.random() * config.editMs, intervalMs: config.editMs, onDelta: (k) => dispatched.set(`${stream}:${k}`, performance.now()) };
  };
  const entry: ApiEntry = { kind: "api", index: 0, model: MODEL, coze_api_token: token, bot_id: bot.id, api_base: api.url };
  // The latency runs hold up to 1,000 chats at once on this one entry, the throughput runs 32.
  const service = await startService(command, [entry], sim, { MAX_IN_FLIGHT_PER_BOT: String(Math.max(32, ...config.latency)) });
  const bareBody = JSON.stringify({ bot_id: bot.id, user_id: "bench", stream: true, auto_save_history: true, additional_messages: [{ role: "user", type: "question", content: "ping", content_type: "text" }] });
  const bareHeaders = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  /** One call, to its first answer text; then read to the end. Returns ms to the first text. */
  const firstText = async (call: () => Promise<Response>, marker: string) => {
    const started = performance.now();
    const res = await call();
    if (res.status !== 200) throw new Error(`answered ${res.status}: ${await res.text()}`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    let at = NaN;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (Number.isNaN(at)) {
        seen += decoder.decode(value, { stream: true });
        if (seen.includes(marker)) at = performance.now() - started;
      }
    }
    return at;
  };
  const viaService = () => fetch(`${service.base}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: "ping" }] }) });
  const viaBare = () => fetch(`${api.url}/v3/chat`, { method: "POST", headers: bareHeaders, body: bareBody });
  const runs = QUICK ? 30 : 300;
  const proxied: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    proxied.push(await firstText(viaService, "pong"));
    bare.push(await firstText(viaBare, "pong"));
  }
  proxied.sort((a, b) => a - b);
  bare.sort((a, b) => a - b);
  const bareRelay = spawnChild(["bun", join(import.meta.dir, "bare-api-relay.ts"), api.url, token, bot.id], { stdout: "pipe", stderr: "inherit" });
  const relayBase = `http://127.0.0.1:${await firstLine(bareRelay.stdout)}`;
  // The bare client reads the stream as it comes and takes the answer out of it, as a client of the streamed
  // API must (the SDK does the same): the same work as the Discord path's bare discord.js client, which waits for the
  // reply by its events. The raw loop only drains the bytes, a floor no client that reads the answer reaches.
  const answerBare = async () => {
    const reader = (await viaBare()).body!.getReader();
    const decoder = new TextDecoder();
    let answer = "";
    const take = answerDeltas((content) => (answer += content));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      take(decoder.decode(value, { stream: true }));
    }
    if (!answer) throw new Error("the bare client found no answer");
  };
  const rawBare = async () => (await viaBare()).arrayBuffer();
  // CPU per request and throughput of the service against the no-logic relay (the budgets' pair), each in its own
  // process; the bare loops run in this process (its CPU is the simulator's too), for throughput only.
  const relay = { one: chatCall(relayBase), pid: bareRelay.pid };
  const proxy = { one: chatCall(service.base), pid: service.pid };
  const costs = await compareCosts({ relay, proxy, bare: { one: answerBare }, raw: { one: rawBare } }, config.costRuns, config.apiRequests, config.apiWarmup);
  const [proxyCpu, relayCpu] = await cpuSideBySide(proxy, relay, config.costRuns, config.apiRequests);
  const ratioTo = (name: "bare" | "raw") => costs.proxy.map((c, k) => c.rps / costs[name][k].rps);
  // Added latency per Coze delta, as it is measured for Discord's edits: delta written → SSE chunk read,
  // through the service and through the no-logic relay (which streams each delta's text as it comes).
  const latency: Record<string, unknown> = {};
  const latencyRows: Row[] = [];
  await compareLatency({ service, relayBase, what: "API path: delta", counted: "deltas", into: latency }, latencyRows);
  bareRelay.kill();
  await bareRelay.exited;
  await service.stop();
  await api.stop();
  const rps = (name: keyof typeof costs) => median(costs[name].map((c) => c.rps)).toFixed(0);
  results.api = { first_text_ms: { proxy: { p50: median(proxied), p99: percentile(proxied, 99) }, bare: { p50: median(bare), p99: percentile(bare, 99) } }, costs, side_by_side: { proxy: proxyCpu, relay: relayCpu }, ...latency };
  rows.push(...costRows("API path", { service: proxyCpu, relay: relayCpu }, { service: costs.proxy, relay: costs.relay }, { cpu: 1.25, throughput: 80 }, config.apiRequests));
  const ratio = median(ratioTo("bare")) * 100;
  rows.push({ figure: "API path: throughput vs bare fetch, c=32", value: ratio, unit: "%", budget: "", holds: true, detail: `${rps("proxy")} vs ${rps("bare")} req/s (bare: fetch, reading the stream to its answer); runs ${ratioTo("bare").map((r) => (r * 100).toFixed(0)).join(", ")} %` });
  const rawRatio = median(ratioTo("raw")) * 100;
  rows.push({ figure: "API path: throughput vs bare fetch draining bytes", value: rawRatio, unit: "%", budget: "", holds: true, detail: `${rps("proxy")} vs ${rps("raw")} req/s (arrayBuffer(): no stream read, no answer)` });
  rows.push({ figure: "API path: first text over bare fetch, p50", value: median(proxied) - median(bare), unit: "ms", budget: "", holds: true, detail: `${median(proxied).toFixed(2)} vs ${median(bare).toFixed(2)} ms, the proxy's HTTP hop included` });
  rows.push({ figure: "API path: first text over bare fetch, p99", value: percentile(proxied, 99) - percentile(bare, 99), unit: "ms", budget: "", holds: true, detail: `${percentile(proxied, 99).toFixed(2)} vs ${percentile(bare, 99).toFixed(2)} ms` });
  rows.push(...latencyRows);
}
