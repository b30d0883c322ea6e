/**
 * `coze-chat-proxy check` as a user runs it (the real command, a real
 * process) against worlds in the simulator: one that works, and one for each
 * failure it must name. Its output never holds a token.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CozeApiSimulator } from "../lib/simulator/coze-api.ts";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";
import { buildScenario } from "../lib/simulator/scenario.ts";
import { DiscordSimulator } from "../lib/simulator/simulator.ts";
import type { SimChannel, SimCoze, SimUser } from "../lib/simulator/world.ts";
import { spawnCli } from "./support/process.ts";

const sims: DiscordSimulator[] = [];
afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.stop();
});

interface World {
  sim: DiscordSimulator;
  bot: SimUser;
  coze: SimCoze;
  channel: SimChannel;
  entry: Record<string, unknown>;
}

function world(options: { messageContentAllowed?: boolean; cozeInGuild?: boolean } = {}): World {
  const sim = new DiscordSimulator({ rateLimit: null }).start();
  sims.push(sim);
  const world = buildScenario(sim, { bots: [{ messageContentAllowed: options.messageContentAllowed ?? true }], cozesOutsideGuild: options.cozeInGuild === false });
  const { index: _, threads: __, ...entry } = world.entries[0];
  return { sim, bot: world.bots[0], coze: world.cozes[0], channel: world.channels[0], entry };
}

async function check(w: World, entries: Record<string, unknown>[] = [w.entry], args: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "coze-check-"));
  writeFileSync(join(dir, "bot.json"), JSON.stringify(entries));
  const { code, out, err } = await spawnCli(["check", ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", BOT_CONFIG: join(dir, "bot.json"), DISCORD_API_URL: w.sim.apiUrl, REPLY_START_TIMEOUT: "1.5", REPLY_QUIET: "0.5" },
  }).finished();
  for (const e of entries) expect(out + err).not.toContain(String(e.bot_token ?? e.coze_api_token));
  return { code, out, err };
}

describe("coze-chat-proxy check", () => {
  test("every entry works: exit 0, an ok row with the time to the first reply, the probe in a fresh thread", async () => {
    const w = world();
    const { code, out } = await check(w);
    expect(out).toMatch(/^entry 0 \(gpt-test\) {2}ok {2}first reply after \d+\.\d s$/m);
    expect(out).toContain("all 1 entries work");
    expect(code).toBe(0);
    const probe = w.sim.posts[0];
    expect(w.sim.parentOf(probe.channelId)).toBe(w.channel.id);
    expect(probe.channelId).not.toBe(w.channel.id);
    expect(w.sim.channels.get(probe.channelId)!.thread!.archived).toBe(true); // tidied away
  });

  test("--json for scripts", async () => {
    const w = world();
    const { code, out } = await check(w, [w.entry], ["--json"]);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject([{ index: 0, model: "gpt-test", ok: true }]);
  });

  const failures: [string, (w: World) => Record<string, unknown>[] | void, RegExp, RegExp][] = [
    ["a refused token", (w) => [{ ...w.entry, bot_token: "not.a.valid.token" }], /refused bot-02's token/, /Reset Token/],
    ["a refused intent", () => undefined, /Message Content intent/, /Privileged Gateway Intents/],
    ["an unknown channel", (w) => [{ ...w.entry, channel_id: "123456789012345678" }], /does not exist \(Discord 10003\)/, /Copy Channel ID/],
    ["a missing permission, by name", (w) => void w.channel.deniedThreads.add(w.bot.id), /lacks Create Public Threads/, /"threads": false/],
    ["a hidden channel", (w) => void w.channel.hidden.add(w.bot.id), /lacks View Channel/, /grant bot-02 View Channel/],
    ["bot-01 not in the server", () => undefined, /bot-01 .* is not a member of the server/, /invite bot-01/],
    ["a quota text from Coze", (w) => void w.sim.script(w.coze, { error: COZE_ERRORS.dailyLimit }), /quota error: "You have exceeded the daily limit/, /quota to reset/],
    ["a Coze that ignores bots", (w) => void (w.coze.ignoreBots = true), /no answer from bot-01/, /\(1\) your Coze bot may ignore messages from bots.*mention bot-01 yourself/],
  ];
  test.each(failures)("%s: exit 1 and the row that names it, with the fix", async (name, setUp, problem, fix) => {
    const w = world({ messageContentAllowed: name !== "a refused intent", cozeInGuild: name !== "bot-01 not in the server" });
    const entries = setUp(w) ?? [w.entry];
    const { code, out } = await check(w, entries);
    expect(code).toBe(1);
    expect(out).toMatch(/^entry 0 \(gpt-test\) {2}FAIL {2}/m);
    expect(out).toMatch(problem);
    expect(out).toMatch(fix);
  });
});

describe("coze-chat-proxy check on Coze API entries", () => {
  const apis: CozeApiSimulator[] = [];
  afterEach(async () => {
    for (const api of apis.splice(0)) await api.stop();
  });

  test("a working entry, a revoked token, an unpublished bot and a quota: one row each, exit 1, no token printed", async () => {
    const w = world();
    const api = new CozeApiSimulator().start();
    apis.push(api);
    const token = api.addToken();
    const [good, quota] = [api.addBot(), api.addBot()];
    quota.queue.push({ fail: { code: 4011, msg: "insufficient balance" } });
    const entries = [
      { model: "api", coze_api_token: token, bot_id: good.id, api_base: api.url },
      { model: "api", coze_api_token: "pat_revoked_token_value", bot_id: good.id, api_base: api.url },
      { model: "api", coze_api_token: token, bot_id: api.addBot(false).id, api_base: api.url },
      { model: "api", coze_api_token: token, bot_id: quota.id, api_base: api.url },
    ];
    const { code, out } = await check(w, entries);
    expect(out).toMatch(/^entry 0 \(api\) {2}ok {2}first reply after \d+\.\d s$/m);
    expect(out).toMatch(/^entry 1 \(api\) {2}FAIL {2}Coze refused the token \(4100/m);
    expect(out).toMatch(/^entry 2 \(api\) {2}FAIL {2}the bot is not published to the API/m);
    expect(out).toMatch(/^entry 3 \(api\) {2}FAIL {2}Coze's API reports a quota problem: insufficient balance/m);
    expect(out).toContain("3 of 4 entries need attention");
    for (const e of entries) expect(out).not.toContain(e.coze_api_token);
    expect(code).toBe(1);
  });
});
