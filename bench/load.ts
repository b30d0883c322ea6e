/** The Discord path against its no-logic relay (CPU per request, throughput, added latency per edit) and a bare discord.js client; memory growth; bursts. */
import { join } from "node:path";
import type { DiscordEntry } from "../lib/config/bots.ts";
import { DiscordSimulator } from "../lib/simulator/simulator.ts";
import { GLOBAL_LIMIT, MODEL, QUICK, config, cozeFor, firstLine, headers, median, results, rows, rssMb, sim, spawnChild, startService, world } from "./setup.ts";
import { chatCall, closedLoop, compareCosts, compareLatency, costRows, cpuSideBySide } from "./client.ts";

export async function measureLoad(command: string[]) {
  const w = world(1, 4);
  for (const coze of w.cozes) cozeFor(coze, config.edits, config.editMs);
  const service = await startService(command, w.entries);

  // The no-logic relay (Bun.serve + discord.js, a thread per request) on a world of its own of the same shape;
  // it serves the CPU, throughput and latency baselines.
  const relayWorld = world(1, 4);
  for (const coze of relayWorld.cozes) cozeFor(coze, config.edits, config.editMs);
  const pairsOf = (entries: DiscordEntry[]) => entries.map((e) => `${e.channel_id}:${e.coze_bot_id}`).join(",");
  const bareRelay = spawnChild(["bun", join(import.meta.dir, "bare-relay.ts"), sim.apiUrl, relayWorld.bots[0].token!, pairsOf(relayWorld.entries), String(GLOBAL_LIMIT)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const relayBase = `http://127.0.0.1:${await firstLine(bareRelay.stdout)}`;

  // CPU per request and throughput at c=32 against the relay, a fixed number of requests a run.
  const contenders = { service: { one: chatCall(service.base), pid: service.pid }, relay: { one: chatCall(relayBase), pid: bareRelay.pid } };
  const costs = await compareCosts(contenders, config.costRuns, config.discordRequests, config.discordWarmup);
  const [serviceCpu, relayCpu] = await cpuSideBySide(contenders.service, contenders.relay, config.costRuns, config.discordRequests);
  results.discord_cost = { alone: costs, side_by_side: { service: serviceCpu, relay: relayCpu } };
  rows.push(...costRows("Discord path", { service: serviceCpu, relay: relayCpu }, costs, { cpu: 1.15, throughput: 85 }, config.discordRequests));

  // Against a bare discord.js client too (no HTTP at all), as before: what the HTTP hop and the proxy cost together.
  const bare = world(1, 4);
  for (const coze of bare.cozes) cozeFor(coze, 1, 0);
  const bareRuns: { rps: number; cpu_us_per_request: number; service_rps: number }[] = [];
  for (let run = 0; run < config.costRuns; run++) {
    const baseline = spawnChild(["bun", join(import.meta.dir, "bare-client.ts"), sim.apiUrl, bare.bots[0].token!, pairsOf(bare.entries), "32", String(config.throughputSeconds), String(GLOBAL_LIMIT)], {
      stdout: "pipe",
      stderr: "inherit",
    });
    const out = JSON.parse((await new Response(baseline.stdout).text()).trim());
    bareRuns.push({ rps: out.rps, cpu_us_per_request: out.cpu_us_per_request, service_rps: costs.service[run].rps });
  }
  results.discord_bare_client = bareRuns;
  const bareRatio = median(bareRuns.map((r) => r.service_rps / r.rps)) * 100;
  rows.push({
    figure: "throughput vs bare discord.js, c=32",
    value: bareRatio,
    unit: "%",
    budget: "",
    holds: true,
    detail: `${median(costs.service.map((c) => c.rps)).toFixed(0)} vs ${median(bareRuns.map((r) => r.rps)).toFixed(0)} req/s; bare client ${median(bareRuns.map((r) => r.cpu_us_per_request)).toFixed(0)} µs CPU a request (no HTTP)`,
  });

  // Added latency per Coze edit, at each concurrency: the service's edit → chunk time against the relay's on the
  // same simulator, measured alike; peak RSS while streaming.
  const peak = await compareLatency({ service, relayBase, what: "edit", counted: "edits", into: results });
  rows.push({ figure: `RSS peak, ${config.latency.at(-1)} streams`, value: peak, unit: "MB", budget: "< 150 MB", holds: peak < 150 });
  bareRelay.kill();
  await bareRelay.exited;

  // Memory over many requests. RSS is a sawtooth with the garbage
  // collector's cycle (±15 MB), so one sample per slice measures where in
  // the cycle it fell (runs of this bench fitted −3, +5, +7 and +15 MB that
  // way, with flat troughs). The budget is on RSS after GC: RSS is sampled
  // every 10 ms through each of 20 slices of the run, each slice's lowest
  // value is its after-GC level, and growth is the least-squares trend of those.
  const samples = 20;
  await closedLoop(service.base, 32, (started) => started >= config.growthWarmup);
  const series: number[] = [];
  for (let k = 0; k < samples; k++) {
    let low = Infinity;
    const sampler = setInterval(() => (low = Math.min(low, rssMb(service.pid))), 10);
    await closedLoop(service.base, 32, (started) => started >= config.growthRequests / samples);
    await Bun.sleep(300);
    clearInterval(sampler);
    series.push(Math.min(low, rssMb(service.pid)));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const xs = series.map((_, k) => k);
  const slope =
    xs.reduce((sum, x, k) => sum + (x - mean(xs)) * (series[k] - mean(series)), 0) / xs.reduce((sum, x) => sum + (x - mean(xs)) ** 2, 0);
  const growth = slope * (samples - 1);
  results.growth = { rss_mb_samples: series, fitted_growth_mb: growth, requests: config.growthRequests, warmup: config.growthWarmup };
  rows.push({
    figure: `RSS growth over ${config.growthRequests} requests`,
    value: growth,
    unit: "MB",
    budget: "within ±5 MB",
    holds: Math.abs(growth) <= 5,
    detail: `fitted over the lows of ${samples} slices, ${Math.min(...series).toFixed(1)}–${Math.max(...series).toFixed(1)} MB, after ${config.growthWarmup} warm-up`,
  });
  await service.stop();
}

/**
 * A burst of 20 new requests at once on one entry, with Discord's limits in
 * force (5 posts per window per channel, 50 requests per second per bot): how
 * many fail (none may), and how long after the earliest moment Discord's
 * limits allow the last one is posted (budget: within 1 s).
 */
export async function measureBurst(command: string[]) {
  const windowMs = QUICK ? 1000 : 5000;
  const limited = new DiscordSimulator({ rateLimit: { limit: 5, windowMs, globalPerSecond: 50 }, recordLimit: 100 }).start();
  const bot = limited.addBot();
  const coze = limited.addCoze();
  coze.behaviour = () => ({ text: "ok", steps: 1, firstDelayMs: 0 });
  const guild = limited.addGuild([bot, coze.user]);
  const entry: DiscordEntry = { kind: "discord", index: 0, model: MODEL, bot_token: bot.token!, coze_bot_id: coze.user.id, guild_id: guild.id, channel_id: limited.addChannel(guild).id, threads: true };
  const service = await startService(command, [entry], limited, { DISCORD_GLOBAL_RATE_LIMIT: "50", REPLY_START_TIMEOUT: "60" });
  const burst = 20;
  const statuses = await Promise.all(
    Array.from({ length: burst }, (_, i) =>
      fetch(`${service.base}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: `burst ${i}` }] }) }).then(
        async (r) => (await r.text(), r.status),
        () => 0,
      ),
    ),
  );
  await service.stop();
  const times = limited.posts.map((p) => p.at).sort((a, b) => a - b);
  await limited.stop();
  const failures = statuses.filter((s) => s !== 200).length;
  // Discord's window opens with the first post; each further 5 posts wait one window more.
  const earliestLast = times[0] + Math.floor((burst - 1) / 5) * windowMs;
  const lateMs = times.length === burst ? times.at(-1)! - earliestLast : Infinity;
  results.burst = { requests: burst, failures, window_ms: windowMs, last_post_after_earliest_ms: lateMs };
  rows.push({ figure: `burst of ${burst} on one entry: failures`, value: failures, unit: "", budget: "0", holds: failures === 0 });
  rows.push({
    figure: `burst of ${burst}: last post after the earliest allowed`,
    value: lateMs,
    unit: "ms",
    budget: "<= 1000 ms",
    holds: lateMs <= 1000,
    detail: `${burst} posts at 5 per ${windowMs / 1000} s; discord.js adds ~50 ms to each wait`,
  });
}
