/** The load the bench puts on a service: closed loops of whole requests, and concurrent streams whose every piece is timed. */
import { SseDecoder } from "../lib/sse-decoder.ts";
import { MODEL, type Row, type Service, config, cpuSeconds, dispatched, headers, median, percentile, rows, rssMb } from "./setup.ts";

/** Closed loop of whole (non-streaming) chat requests until `until(started)` says stop; returns how many completed. */
export async function closedLoop(base: string, concurrency: number, until: (started: number) => boolean): Promise<number> {
  let done = 0;
  let started = 0;
  const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "ping" }] });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!until(started)) {
        started++;
        const res = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers, body });
        if (res.status !== 200) throw new Error(`chat answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
        done++;
      }
    }),
  );
  return done;
}

/** One whole (non-streaming) chat request to `base`, read to its end; the same call for the service and a no-logic relay. */
export function chatCall(base: string): () => Promise<unknown> {
  const body = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "ping" }] });
  return async () => {
    const res = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers, body });
    if (res.status !== 200) throw new Error(`chat answered ${res.status}: ${await res.text()}`);
    return res.arrayBuffer();
  };
}

/** What a run of requests cost: requests per second, and CPU µs per request of the process serving them (NaN when it is not one of its own). */
export type Cost = { rps: number; cpuUs: number };

/**
 * `requests` calls of `one`, 32 at a time: the throughput, and the user+system
 * CPU time the serving process (`pid`) spent over the run divided by the
 * requests. The CPU a request costs moves far less with this shared
 * machine's load than wall time does, so it is the primary figure.
 */
export async function costOf(one: () => Promise<unknown>, requests: number, pid?: number): Promise<Cost> {
  let started = 0;
  const cpu = pid === undefined ? NaN : cpuSeconds(pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (started < requests) {
        started++;
        await one();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { rps: requests / seconds, cpuUs: pid === undefined ? NaN : ((cpuSeconds(pid) - cpu) * 1e6) / requests };
}

/**
 * Each contender warmed up (JSC compiles the hot code in its first seconds of
 * load, on the process's own CPU), then `runs` runs of `requests` each, in
 * alternating order so that this shared machine's drift weighs on all alike.
 */
export async function compareCosts<K extends string>(contenders: Record<K, { one: () => Promise<unknown>; pid?: number }>, runs: number, requests: number, warmup: number): Promise<Record<K, Cost[]>> {
  const names = Object.keys(contenders) as K[];
  const costs = Object.fromEntries(names.map((name) => [name, [] as Cost[]])) as Record<K, Cost[]>;
  for (const name of names) await costOf(contenders[name].one, warmup);
  for (let run = 0; run < runs; run++) {
    for (const name of run % 2 === 0 ? names : names.toReversed()) costs[name].push(await costOf(contenders[name].one, requests, contenders[name].pid));
  }
  return costs;
}

/**
 * CPU per request of two processes loaded at the same time, each by its own
 * 32 clients, `runs` times: both meet the same machine at the same moments
 * (this shared machine's speed changes by a third within a minute, and its
 * other work takes caches and cores from whoever runs), so their ratio holds
 * better than one taken from runs minutes apart.
 */
export async function cpuSideBySide(a: { one: () => Promise<unknown>; pid: number }, b: { one: () => Promise<unknown>; pid: number }, runs: number, requests: number): Promise<[Cost[], Cost[]]> {
  const costs: [Cost[], Cost[]] = [[], []];
  for (let run = 0; run < runs; run++) {
    const [x, y] = await Promise.all([costOf(a.one, requests, a.pid), costOf(b.one, requests, b.pid)]);
    costs[0].push(x);
    costs[1].push(y);
  }
  return costs;
}

/**
 * The CPU and throughput rows of one path: CPU per request from runs side by
 * side, throughput from runs one after the other (alternating), each ratio
 * taken within its run.
 */
export function costRows(path: string, cpu: { service: Cost[]; relay: Cost[] }, alone: { service: Cost[]; relay: Cost[] }, budget: { cpu: number; throughput: number }, requests: number): Row[] {
  const cpuRatios = cpu.service.map((s, k) => s.cpuUs / cpu.relay[k].cpuUs);
  const aloneCpu = alone.service.map((s, k) => s.cpuUs / alone.relay[k].cpuUs);
  const rpsRatios = alone.service.map((s, k) => s.rps / alone.relay[k].rps);
  const ratio = median(cpuRatios);
  const rps = median(rpsRatios) * 100;
  const us = (costs: Cost[]) => median(costs.map((c) => c.cpuUs)).toFixed(0);
  return [
    {
      figure: `${path}: CPU per request vs no-logic relay`,
      value: ratio,
      unit: "×",
      budget: `<= ${budget.cpu}×`,
      holds: ratio <= budget.cpu,
      detail: `${us(cpu.service)} vs ${us(cpu.relay)} µs a request (user+system, median; side by side, ${requests} requests each at c=32): runs ${cpuRatios.map((r) => r.toFixed(2)).join(", ")}×; alone ${us(alone.service)} vs ${us(alone.relay)} µs (${aloneCpu.map((r) => r.toFixed(2)).join(", ")}×)`,
    },
    {
      figure: `${path}: throughput vs a no-logic relay, c=32`,
      value: rps,
      unit: "%",
      budget: `>= ${budget.throughput} %`,
      holds: rps >= budget.throughput,
      detail: `${median(alone.service.map((c) => c.rps)).toFixed(0)} vs ${median(alone.relay.map((c) => c.rps)).toFixed(0)} req/s, each alone; runs ${rpsRatios.map((r) => (r * 100).toFixed(0)).join(", ")} %`,
    },
  ];
}

/** `streams` concurrent SSE requests; each Coze edit's dispatch-to-receipt time, ms. */
export async function streamLatency(base: string, streams: number, run: number): Promise<number[]> {
  const samples: number[] = [];
  await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      const id = `${run}${String(i).padStart(4, "0")}`;
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers,
        body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: "user", content: `lat ${id}` }] }),
      });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      const events = new SseDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const now = performance.now();
        for (const event of events.push(decoder.decode(value, { stream: true }))) {
          for (const match of event.data.matchAll(/#(\d+)/g)) {
            const sent = dispatched.get(`${id}:${match[1]}`);
            if (sent !== undefined) samples.push(now - sent);
          }
        }
      }
    }),
  );
  return samples;
}

/** Runs of `streamLatency` so far: each run's streams get ids of their own. */
let latencyRuns = 0;

type Summary = { p50: number; p90: number; p99: number; max: number; samples: number };
function summary(sorted: number[]): Summary {
  const [p50, p90, p99] = [50, 90, 99].map((p) => percentile(sorted, p));
  return { p50, p90, p99, max: sorted.at(-1) ?? NaN, samples: sorted.length };
}

/**
 * The added latency at each concurrency of `config.latency`: the time from
 * the simulator writing a marked piece of an answer to the client reading
 * it, through the service and through the no-logic relay, measured alike.
 * The highest concurrency runs `config.latencyRuns` times in alternating
 * order (its figures are the medians: one run at 1,000 streams moves with
 * the machine's load), and gives the largest single gap: a pause that holds
 * every stream at once (a sweep, a flush, a GC pause) shows there and
 * nowhere else. Rows go to `out`, figures to `into`; the service's peak RSS
 * during the last concurrency is returned.
 */
export async function compareLatency(
  { service, relayBase, what, counted, into }: { service: Service; relayBase: string; what: string; counted: string; into: Record<string, unknown> },
  out: Row[] = rows,
): Promise<number> {
  let peak = 0;
  const timed = async (base: string, streams: number) => {
    const sorted = (await streamLatency(base, streams, ++latencyRuns)).sort((a, b) => a - b);
    dispatched.clear();
    return summary(sorted);
  };
  for (const [level, streams] of config.latency.entries()) {
    const last = level === config.latency.length - 1;
    peak = rssMb(service.pid);
    const runs: { proxy: Summary; relay: Summary }[] = [];
    for (let run = 0; run < (last ? config.latencyRuns : 1); run++) {
      const viaService = async () => {
        const sampler = setInterval(() => (peak = Math.max(peak, rssMb(service.pid))), 20);
        try {
          return await timed(service.base, streams);
        } finally {
          clearInterval(sampler);
        }
      };
      if (run % 2 === 0) {
        const proxy = await viaService();
        runs.push({ proxy, relay: await timed(relayBase, streams) });
      } else {
        const relay = await timed(relayBase, streams);
        runs.push({ proxy: await viaService(), relay });
      }
    }
    const mid = (pick: (r: (typeof runs)[number]) => number) => median(runs.map(pick));
    const [p50, p90, p99, max] = [mid((r) => r.proxy.p50), mid((r) => r.proxy.p90), mid((r) => r.proxy.p99), mid((r) => r.proxy.max)];
    const relay = { p50: mid((r) => r.relay.p50), p99: mid((r) => r.relay.p99), max: mid((r) => r.relay.max), samples: runs[0].relay.samples };
    const added = mid((r) => r.proxy.p99 - r.relay.p99);
    into[`latency_${streams}_ms`] = { p50, p90, p99, max, samples: runs[0].proxy.samples, peak_rss_mb: peak, bare_relay: relay, runs };
    const ofRuns = runs.length > 1 ? ` (median of ${runs.length} runs: ${runs.map((r) => (r.proxy.p99 - r.relay.p99).toFixed(2)).join(", ")})` : "";
    out.push({
      figure: `${what} → SSE chunk over a bare relay, ${streams} streams`,
      value: added,
      unit: "ms p99",
      budget: last ? "< 1 ms" : "",
      holds: !last || added < 1,
      detail: `proxy ${p50.toFixed(2)} / ${p90.toFixed(2)} / ${p99.toFixed(2)} ms (p50/p90/p99), no-logic relay ${relay.p50.toFixed(2)} / ${relay.p99.toFixed(2)} ms (p50/p99)${ofRuns}; ${runs[0].proxy.samples} and ${relay.samples} ${counted}; RSS peak ${peak.toFixed(0)} MB`,
    });
    if (last) {
      out.push({
        figure: `${what} → SSE chunk, largest gap, ${streams} streams`,
        value: max,
        unit: "ms",
        budget: "< 50 ms",
        holds: max < 50,
        detail: `no-logic relay's largest ${relay.max.toFixed(1)} ms; runs ${runs.map((r) => `${r.proxy.max.toFixed(1)} vs ${r.relay.max.toFixed(1)}`).join(", ")} ms`,
      });
    }
  }
  return peak;
}
