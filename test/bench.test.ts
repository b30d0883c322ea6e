/**
 * The benchmark is not a test (figures are never asserted: shared machines
 * are noisy), but it must start, run and produce every figure of the README's budgets.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { postgresBin } from "./support/postgres.ts";

test("bun run bench --quick produces every figure", async () => {
  const root = join(import.meta.dir, "..");
  const run = Bun.spawn(["bun", "bench/run.ts", "--quick"], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = [await run.exited, await new Response(run.stdout).text(), await new Response(run.stderr).text()];
  expect(err).not.toContain("error");
  expect(code).toBe(0);
  const results = await Bun.file(join(root, "bench-results.quick.json")).json();
  const figures: string[] = results.rows.map((r: { figure: string }) => r.figure);
  for (const wanted of [
    "source: start to ready, 10 bots",
    "source: RSS idle, 10 bots",
    "throughput vs bare discord.js, c=32",
    "edit → SSE chunk over a bare relay, 1 streams",
    "edit → SSE chunk over a bare relay, 30 streams",
    "edit → SSE chunk, largest gap, 30 streams",
    "Discord path: CPU per request vs no-logic relay",
    "Discord path: throughput vs a no-logic relay, c=32",
    "RSS peak, 30 streams",
    "RSS growth over 800 requests",
    "binary size over a hello-world binary",
    "burst of 20 on one entry: failures",
    "continued conversation over a new one (store)",
    "RSS for one request with ten 9.9 MiB images",
    "burst of 20: last post after the earliest allowed",
    "binary: start to ready, 10 bots",
    "binary: RSS idle, 10 bots",
    "API path: throughput vs bare fetch, c=32",
    "API path: throughput vs a no-logic relay, c=32",
    "API path: first text over bare fetch, p50",
    "API path: first text over bare fetch, p99",
    "API path: delta → SSE chunk over a bare relay, 30 streams",
    "API path: delta → SSE chunk, largest gap, 30 streams",
    "API path: CPU per request vs no-logic relay",
  ]) {
    expect(figures).toContain(wanted);
    expect(out).toContain(wanted);
  }
  // The store's figure for PostgreSQL too, where a server is installed (CI installs one).
  if ("bin" in postgresBin()) expect(figures).toContain("continued conversation over a new one (store, PostgreSQL)");
  for (const row of results.rows) expect(Number.isFinite(row.value)).toBe(true);
  // CPU per request is measured for the service and for each no-logic relay, each in its own process.
  const { alone, side_by_side } = results.discord_cost;
  for (const cost of [...alone.service, ...alone.relay, ...side_by_side.service, ...side_by_side.relay, ...results.api.costs.proxy, ...results.api.costs.relay, ...results.api.side_by_side.proxy, ...results.api.side_by_side.relay]) {
    expect(cost.cpuUs).toBeGreaterThan(0);
  }
  expect(results.latency_30_ms.samples).toBe(30 * 4);
  // Every delta of every API stream reached the client through both the service and the relay.
  expect(results.api.latency_30_ms.samples).toBe(30 * 4);
  expect(results.api.latency_30_ms.bare_relay.samples).toBe(30 * 4);
}, 180_000);
