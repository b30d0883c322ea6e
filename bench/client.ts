/** The load the bench puts on a service: closed loops of whole requests, and concurrent streams whose every piece is timed. */
import { SseDecoder } from "../lib/sse-decoder.ts";
import { MODEL, type Row, type Service, config, dispatched, headers, percentile, rows, rssMb } from "./setup.ts";

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

/**
 * The added latency at each concurrency of `config.latency`: the time from
 * the simulator writing a marked piece of an answer to the client reading
 * it, through the service and then through the no-logic relay, measured
 * alike. Rows go to `out`, figures to `into`; the service's peak RSS during
 * the last run is returned.
 */
export async function compareLatency(
  { service, relayBase, what, counted, into, firstRun }: { service: Service; relayBase: string; what: string; counted: string; into: Record<string, unknown>; firstRun: number },
  out: Row[] = rows,
): Promise<number> {
  let peak = 0;
  for (const [run, streams] of config.latency.entries()) {
    peak = rssMb(service.pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(service.pid))), 20);
    const samples = (await streamLatency(service.base, streams, firstRun + 2 * run)).sort((a, b) => a - b);
    clearInterval(sampler);
    const relayed = (await streamLatency(relayBase, streams, firstRun + 2 * run + 1)).sort((a, b) => a - b);
    const [p50, p90, p99] = [50, 90, 99].map((p) => percentile(samples, p));
    const relayP99 = percentile(relayed, 99);
    into[`latency_${streams}_ms`] = { p50, p90, p99, samples: samples.length, peak_rss_mb: peak, bare_relay: { p50: percentile(relayed, 50), p99: relayP99, samples: relayed.length } };
    const last = run === config.latency.length - 1;
    out.push({
      figure: `${what} → SSE chunk over a bare relay, ${streams} streams`,
      value: p99 - relayP99,
      unit: "ms p99",
      budget: last ? "< 1 ms" : "",
      holds: !last || p99 - relayP99 < 1,
      detail: `proxy ${p50.toFixed(2)} / ${p90.toFixed(2)} / ${p99.toFixed(2)} ms (p50/p90/p99), bare relay ${percentile(relayed, 50).toFixed(2)} / ${relayP99.toFixed(2)} ms (p50/p99); ${samples.length} and ${relayed.length} ${counted}; RSS peak ${peak.toFixed(0)} MB`,
    });
  }
  return peak;
}
