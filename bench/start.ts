/** Start-up: time to ready and idle memory, from source and as the compiled binary; the binary's size. */
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildBinary } from "../scripts/build.ts";
import { ROOT, config, median, results, rows, rssMb, startService, tmp, world } from "./setup.ts";

export async function measureStartAndIdle(label: string, command: string[]) {
  const ten = world(10, 10);
  const readies: number[] = [];
  const idles: number[] = [];
  for (let run = 0; run < config.startRuns; run++) {
    const service = await startService(command, ten.entries);
    readies.push(service.readyMs);
    await Bun.sleep(config.idleWaitMs);
    idles.push(rssMb(service.pid));
    await service.stop();
  }
  results[`${label}_start_to_ready_ms`] = readies;
  results[`${label}_idle_rss_mb`] = idles;
  // The start budget is the binary's (README, Performance); from source Bun also transpiles every module first.
  const budgeted = label === "binary";
  rows.push({ figure: `${label}: start to ready, 10 bots`, value: median(readies), unit: "ms", budget: budgeted ? "< 300 ms" : "", holds: !budgeted || median(readies) < 300 });
  rows.push({ figure: `${label}: RSS idle, 10 bots`, value: median(idles), unit: "MB", budget: "< 75 MB", holds: median(idles) < 75 });
}


export async function measureBinary(): Promise<string[] | undefined> {
  const hello = join(tmp, "hello.ts");
  writeFileSync(hello, 'console.log("hello");\n');
  const outHello = join(tmp, "hello");
  const outProxy = join(tmp, "coze-chat-proxy");
  const build = (args: string[]) => Bun.spawnSync(["bun", "build", "--compile", ...args], { cwd: ROOT, stdout: "ignore", stderr: "inherit" }).exitCode === 0;
  if (!build([hello, "--outfile", outHello])) return undefined;
  if (!buildBinary(outProxy, undefined, "ignore")) return undefined;
  const diff = (statSync(outProxy).size - statSync(outHello).size) / 1048576;
  results.binary_mb = { proxy: statSync(outProxy).size / 1048576, hello: statSync(outHello).size / 1048576 };
  rows.push({
    figure: "binary size over a hello-world binary",
    value: diff,
    unit: "MB",
    budget: "<= 4 MB",
    holds: diff <= 4,
    detail: `${(statSync(outProxy).size / 1048576).toFixed(1)} vs ${(statSync(outHello).size / 1048576).toFixed(1)} MB`,
  });
  return [outProxy];
}
