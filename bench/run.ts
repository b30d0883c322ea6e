/**
 * `bun run bench`: every figure of the README's budgets (Performance), measured against the Discord
 * simulator, printed beside its budget and written to bench-results.json.
 *
 * The simulator and the load generator run in this process; the service runs
 * as its own process (from source, and as the compiled binary), so its
 * memory is its own. Each path is measured against a no-logic relay
 * (Bun.serve + discord.js, Bun.serve + fetch) in a process of its own: the
 * CPU a request costs (the primary figure: the machine's load moves it
 * least), throughput, and added latency. Figures that vary run to run are
 * medians of three runs, each ratio taken within its run.
 *
 *   bun run bench            full run (about eight minutes on 2 cores)
 *   bun run bench --quick    small numbers, for the smoke test
 *   bun run bench --only=api,api-variants   just those parts
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ONLY, QUICK, ROOT, part, results, rows, sim } from "./setup.ts";
import { measureBinary, measureStartAndIdle } from "./start.ts";
import { measureBurst, measureLoad } from "./load.ts";
import { measureStore } from "./store.ts";
import { measureImageInput } from "./image-input.ts";
import { measureApi } from "./api.ts";
import { measureApiVariants } from "./api-variants.ts";

const source = ["bun", join(ROOT, "index.ts")];
// The machine's load when the run started: other work on it moves wall-clock figures (CPU per request far less).
const loadBefore = loadavg()[0];
if (part("start")) await measureStartAndIdle("source", source);
if (part("load")) await measureLoad(source);
if (part("burst")) await measureBurst(source);
if (part("store")) await measureStore();
if (part("images")) await measureImageInput(source);
if (part("api")) await measureApi(source);
if (part("api-variants")) await measureApiVariants(source);
const binary = part("binary") ? await measureBinary() : undefined;
if (binary) await measureStartAndIdle("binary", binary);
await sim.stop();

// ---- the report --------------------------------------------------------------

const width = Math.max(...rows.map((r) => r.figure.length));
results.load_average = { before: loadBefore, after: loadavg()[0] };
console.log(`\ncoze-chat-proxy benchmark${QUICK ? " (quick)" : ""}: Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, load average ${loadBefore.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end\n`);
console.log(`${"figure".padEnd(width)}  ${"value".padStart(12)}  ${"budget".padEnd(20)}  holds  detail`);
for (const r of rows) {
  const value = `${r.value.toFixed(r.value < 10 ? 2 : 1)} ${r.unit}`;
  console.log(`${r.figure.padEnd(width)}  ${value.padStart(12)}  ${r.budget.padEnd(20)}  ${r.budget ? (r.holds ? "yes  " : "NO   ") : "     "}  ${r.detail ?? ""}`);
}
results.rows = rows;
const out = join(ROOT, ONLY ? "bench-results.part.json" : QUICK ? "bench-results.quick.json" : "bench-results.json");
writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`\nwritten to ${out}`);
process.exit(0);
