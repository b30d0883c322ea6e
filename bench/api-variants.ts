/** The API path's throughput and first text on Coze Studio's dialect and for chatflows, each against a bare fetch loop making the same calls. */
import type { ApiEntry } from "../lib/config/bots.ts";
import { CozeApiSimulator, type ApiDialect } from "../lib/simulator/coze-api.ts";
import { answerDeltas } from "./answer-deltas.ts";
import { MODEL, QUICK, config, headers, median, rows, sim, startService } from "./setup.ts";
import { compareCosts } from "./client.ts";

const VARIANTS: { name: string; dialect: ApiDialect; chatflow: boolean }[] = [
  // The API part's own case again, measured the same way in the same run: what the others compare with.
  { name: "coze.com bot", dialect: "coze", chatflow: false },
  { name: "Studio bot", dialect: "studio", chatflow: false },
  { name: "coze.com chatflow", dialect: "coze", chatflow: true },
  { name: "Studio chatflow", dialect: "studio", chatflow: true },
];

/**
 * For each variant: one entry on its own simulated API with an instantly
 * answering bot or chatflow; the service's throughput (c=32, whole answers,
 * a fixed number of requests a run, as the API part measures it) as a share
 * of a bare `fetch` loop that makes the same calls and reads the stream to
 * its answer, runs alternating; the service's CPU per request; and the first
 * text's median over the bare call's.
 */
export async function measureApiVariants(command: string[]) {
  for (const variant of VARIANTS) {
    const api = new CozeApiSimulator({ dialect: variant.dialect }).start();
    const token = api.addToken();
    const target = variant.chatflow ? api.addWorkflow() : api.addBot();
    target.behaviour = () => ({ text: "pong from the API", deltas: 3, firstDelayMs: 0, intervalMs: 0, followUps: [] });
    const entry: ApiEntry = { kind: "api", index: 0, model: MODEL, coze_api_token: token, api_base: api.url, ...(variant.chatflow ? { workflow_id: target.id } : { bot_id: target.id }) };
    const service = await startService(command, [entry], sim, { MAX_IN_FLIGHT_PER_BOT: "64" });
    const message = { role: "user", type: "question", content: "ping", content_type: "text" };
    let named = 0;
    // The bare client names each chatflow conversation as the service does (Studio needs a name).
    const bareCall = () =>
      variant.chatflow
        ? fetch(`${api.url}/v1/workflows/chat`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ workflow_id: target.id, stream: true, additional_messages: [message], parameters: { CONVERSATION_NAME: `bench-${named++}` } }) })
        : fetch(`${api.url}/v3/chat`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ bot_id: target.id, user_id: "bench", stream: true, auto_save_history: true, additional_messages: [message] }) });
    const answerBare = async () => {
      const started = performance.now();
      const reader = (await bareCall()).body!.getReader();
      const decoder = new TextDecoder();
      let answer = "";
      let first = NaN;
      const take = answerDeltas((content) => {
        answer += content;
        if (Number.isNaN(first)) first = performance.now() - started;
      });
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        take(decoder.decode(value, { stream: true }));
      }
      if (!answer) throw new Error(`the bare client found no answer (${variant.name})`);
      return first;
    };
    const viaService = async () => {
      const started = performance.now();
      const response = await fetch(`${service.base}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: "ping" }] }) });
      if (response.status !== 200) throw new Error(`${variant.name}: answered ${response.status}: ${await response.text()}`);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let seen = "";
      let first = NaN;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (Number.isNaN(first) && (seen += decoder.decode(value, { stream: true })).includes("pong")) first = performance.now() - started;
      }
      return first;
    };
    const firstProxy: number[] = [];
    const firstBare: number[] = [];
    for (let i = 0; i < (QUICK ? 20 : 100); i++) {
      firstProxy.push(await viaService());
      firstBare.push(await answerBare());
    }
    const wholeService = async () => (await fetch(`${service.base}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "ping" }] }) })).arrayBuffer();
    const costs = await compareCosts({ proxy: { one: wholeService, pid: service.pid }, bare: { one: answerBare } }, config.costRuns, config.apiRequests, config.apiWarmup);
    const ratios = costs.proxy.map((c, k) => c.rps / costs.bare[k].rps);
    await service.stop();
    await api.stop();
    const ratio = median(ratios) * 100;
    const rps = (name: keyof typeof costs) => median(costs[name].map((c) => c.rps)).toFixed(0);
    rows.push({
      figure: `API path (${variant.name}): throughput vs bare fetch, c=32`,
      value: ratio,
      unit: "%",
      budget: "",
      holds: true,
      detail: `${rps("proxy")} vs ${rps("bare")} req/s; runs ${ratios.map((r) => (r * 100).toFixed(0)).join(", ")} %; service ${median(costs.proxy.map((c) => c.cpuUs)).toFixed(0)} µs CPU a request`,
    });
    rows.push({ figure: `API path (${variant.name}): first text over bare fetch, p50`, value: median(firstProxy) - median(firstBare), unit: "ms", budget: "", holds: true, detail: `${median(firstProxy).toFixed(2)} vs ${median(firstBare).toFixed(2)} ms, the proxy's HTTP hop included` });
  }
}
