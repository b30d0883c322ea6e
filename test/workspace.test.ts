/**
 * Models found in a Coze workspace. First the simulator's truth, with the
 * official `@coze/api` SDK as its client (the bots list, paged and filtered,
 * and the token's user); then the real path: bot.json's `workspace_id`
 * entry → the service lists the workspace → the openai SDK chats with each
 * bot as a model, while the listing changes between refreshes.
 */
import { APIError, CozeAPI } from "@coze/api";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseBots, type WorkspaceEntry } from "../lib/config/bots.ts";
import { readSettings } from "../lib/config/settings.ts";
import { CozeApiSimulator, type ApiBot } from "../lib/simulator/coze-api.ts";
import { stackPerTest, type Stack } from "./harness.ts";
import { spawnCli } from "./support/process.ts";

describe("the simulated bots list and users/me speak what the official SDK expects", () => {
  const sim = new CozeApiSimulator();
  let token: string;
  let workspace: string;
  beforeAll(() => {
    sim.start();
    token = sim.addToken();
    workspace = sim.workspaces.addWorkspace(sim.tokens.get(token)!);
    for (let i = 0; i < 25; i++) sim.workspaces.addBot(workspace, `bot ${i}`);
    sim.workspaces.addBot(workspace, "draft one", false);
    sim.workspaces.addBot(workspace, "draft two", false);
  });
  afterAll(() => sim.stop());
  const sdk = (auth = token) => new CozeAPI({ token: auth, baseURL: sim.url });

  test("bots.listNew: published to the API, paged by page_num and page_size, ids as 19-digit strings", async () => {
    const pages = [];
    for (let page = 1; page <= 3; page++) {
      pages.push(await sdk().bots.listNew({ workspace_id: workspace, publish_status: "published_online", connector_id: "1024", page_size: 10, page_num: page }));
    }
    expect(pages.map((p) => p.total)).toEqual([25, 25, 25]);
    expect(pages.map((p) => p.items.length)).toEqual([10, 10, 5]);
    const items = pages.flatMap((p) => p.items);
    expect(new Set(items.map((b) => b.id)).size).toBe(25);
    for (const bot of items) {
      expect(bot.id).toMatch(/^\d{19}$/);
      expect(bot.is_published).toBe(true);
      expect(bot.name).toMatch(/^bot \d+$/);
    }
    // Most recently updated first.
    expect(items.map((b) => b.updated_at)).toEqual(items.map((b) => b.updated_at).sort((a, b) => b - a));
  });

  test("the publish status and channel filter; the defaults (published_online, 20 a page)", async () => {
    expect((await sdk().bots.listNew({ workspace_id: workspace, publish_status: "all" })).total).toBe(27);
    const drafts = await sdk().bots.listNew({ workspace_id: workspace, publish_status: "unpublished_draft" });
    expect(drafts.items.map((b) => b.name).sort()).toEqual(["draft one", "draft two"]);
    expect((await sdk().bots.listNew({ workspace_id: workspace, publish_status: "published_online", connector_id: "999" })).total).toBe(0);
    const defaults = await sdk().bots.listNew({ workspace_id: workspace });
    expect([defaults.total, defaults.items.length]).toEqual([25, 20]);
  });

  test("users.me: the token's user, the same id each time; another account may not list the workspace", async () => {
    const me = await sdk().users.me();
    expect(me.user_id).toMatch(/^\d{19}$/);
    expect((await sdk().users.me()).user_id).toBe(me.user_id);
    const other = sim.addToken();
    expect((await sdk(other).users.me()).user_id).not.toBe(me.user_id);
    const refused = await sdk(other).bots.listNew({ workspace_id: workspace }).catch((e) => e);
    expect(refused).toBeInstanceOf(APIError);
    expect(refused.code).toBe(4101);
    const bad = await sdk("pat_wrong").users.me().catch((e) => e);
    expect(bad.code).toBe(4100);
  });
});

/** A workspace on the stack's simulated Coze API, its token and its bots, made as the stack starts. */
interface World {
  token: string;
  id: string;
  bots: ApiBot[];
}

function workspaceOf(names: string[], world: Partial<World> = {}, prefix = "") {
  return (api: CozeApiSimulator, index: number): WorkspaceEntry[] => {
    world.token = api.addToken();
    world.id = api.workspaces.addWorkspace(api.tokens.get(world.token)!);
    world.bots = names.map((name) => api.workspaces.addBot<ApiBot>(world.id!, name));
    api.workspaces.addBot(world.id, "Unpublished", false);
    return [{ kind: "workspace", index, coze_api_token: world.token, workspace_id: world.id, api_base: api.url, model_prefix: prefix }];
  };
}

const modelIds = async (stack: Stack) => (await stack.openai.models.list()).data.map((m) => m.id);

/** Waits (polling, up to 5 s) until the service's models satisfy `ok`. */
async function modelsUntil(stack: Stack, ok: (ids: string[]) => boolean): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const ids = await modelIds(stack);
    if (ok(ids)) return ids;
    await Bun.sleep(50);
  }
  throw new Error(`models never became what the test waits for: ${(await modelIds(stack)).join(", ")}`);
}

describe("a workspace entry through the real path", () => {
  const start = stackPerTest();

  test("three published bots are three models; then one renamed (its conversation kept) and one removed (404 once its in-flight request ends)", async () => {
    const world: Partial<World> = {};
    const stack = await start({ settings: { workspaceRefreshMs: 250 }, workspaces: workspaceOf(["Alpha Bot", "Beta", "Gamma"], world) });
    const [alpha, beta, gamma] = world.bots!;
    const models = await stack.openai.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["gpt-test", "alpha-bot", "beta", "gamma"]);
    expect(models.data.filter((m) => m.id !== "gpt-test").map((m) => m.owned_by)).toEqual(Array(3).fill(world.id!));
    expect((await stack.openai.models.retrieve("beta")).owned_by).toBe(world.id!);

    for (const [model, bot] of [["alpha-bot", alpha], ["beta", beta], ["gamma", gamma]] as const) {
      const answer = await stack.openai.chat.completions.create({ model, messages: [{ role: "user", content: `hi ${model}` }] });
      expect(answer.choices[0].message.content).toBe(`API says: hi ${model}`);
      expect(answer.model).toBe(model);
      expect(stack.apiSim.chats.at(-1)!.botId).toBe(bot.id);
    }
    const first = stack.apiSim.chats.find((c) => c.botId === alpha.id)!;

    // A slow answer from Gamma is under way when Gamma leaves the API channel.
    gamma.queue.push({ text: "a slow answer that finishes", deltas: 8, intervalMs: 120 });
    const slow = await stack.openai.chat.completions.create({ model: "gamma", stream: true, messages: [{ role: "user", content: "take your time" }] });
    const pieces = slow[Symbol.asyncIterator]();
    const firstPiece = await pieces.next();
    expect(firstPiece.done).toBe(false);

    stack.apiSim.workspaces.rename(alpha.id, "Alpha Prime");
    stack.apiSim.workspaces.unpublish(gamma.id);
    const ids = await modelsUntil(stack, (ids) => ids.includes("alpha-prime") && !ids.includes("gamma"));
    expect(ids).toEqual(["gpt-test", "alpha-prime", "beta"]);
    const page = await (await stack.fetch("/", { headers: { accept: "text/html" } })).text();
    expect(page).toContain("alpha-prime");
    expect(page).not.toContain("alpha-bot");
    expect(page).not.toContain("gamma");
    expect(((await (await stack.fetch("/readyz")).json()) as any).models.map((m: any) => m.model)).toEqual(["gpt-test", "alpha-prime", "beta"]);

    // Gamma is gone for new requests at once...
    const gone = await stack.openai.chat.completions.create({ model: "gamma", messages: [{ role: "user", content: "still there?" }] }).catch((e) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect(gone.code).toBe("model_not_found");
    // ...while the answer under way ends whole.
    let text = firstPiece.value.choices[0]?.delta?.content ?? "";
    for (let part = await pieces.next(); !part.done; part = await pieces.next()) text += part.value.choices[0]?.delta?.content ?? "";
    expect(text).toBe("a slow answer that finishes");

    // The renamed bot keeps its conversation: the same Coze conversation goes on, with only the new turn sent.
    const old = await stack.openai.chat.completions.create({ model: "alpha-bot", messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(old).toBeInstanceOf(OpenAI.NotFoundError);
    const again = await stack.openai.chat.completions.create({
      model: "alpha-prime",
      messages: [
        { role: "user", content: "hi alpha-bot" },
        { role: "assistant", content: "API says: hi alpha-bot" },
        { role: "user", content: "and now?" },
      ],
    });
    expect(again.choices[0].message.content).toBe("API says: and now? (after 2 messages)");
    const continued = stack.apiSim.chats.at(-1)!;
    expect(continued.botId).toBe(alpha.id);
    expect(continued.continued).toBe(true);
    expect(continued.conversationId).toBe(first.conversationId);
    expect(continued.additional.map((m) => m.content)).toEqual(["and now?"]);
  });

  test("a renamed bot keeps its quota rest: it is remembered by the account and the bot, not the name", async () => {
    const world: Partial<World> = {};
    const stack = await start({ settings: { workspaceRefreshMs: 150 }, workspaces: workspaceOf(["Solo"], world) });
    const [solo] = world.bots!;
    solo.queue.push({ refuse: { status: 200, code: 4011, msg: "insufficient balance" } });
    const quota = await stack.openai.chat.completions.create({ model: "solo", messages: [{ role: "user", content: "hi" }] }).catch((e) => e);
    expect(quota).toBeInstanceOf(OpenAI.RateLimitError);
    stack.apiSim.workspaces.rename(solo.id, "Solo Two");
    await modelsUntil(stack, (ids) => ids.includes("solo-two"));
    expect(stack.app.pool.status().find((m) => m.model === "solo-two")!.entries[0].cooling_down_seconds).toBeGreaterThan(0);
    const chats = stack.apiSim.chats.length;
    const resting = await stack.openai.chat.completions.create({ model: "solo-two", messages: [{ role: "user", content: "hi again" }] }).catch((e) => e);
    expect(resting).toBeInstanceOf(OpenAI.RateLimitError);
    expect(stack.apiSim.chats.length).toBe(chats);
  });

  test("clashing names are numbered in bot-id order and keep their ids when Coze lists them in another order; model_prefix", async () => {
    const world: Partial<World> = {};
    const stack = await start({ settings: { workspaceRefreshMs: 250 }, workspaces: workspaceOf(["Helper", "helper!", "HELPER", "🤖"], world, "team-") });
    const [h1, h2, h3, emoji] = world.bots!;
    const expected = ["team-helper", "team-helper-2", "team-helper-3", `team-bot-${emoji.id}`];
    expect((await modelIds(stack)).slice(1)).toEqual(expected);
    // Renaming the first two (to names that give the same ids) puts them first in Coze's listing.
    const calls = stack.apiSim.workspaces.listCalls;
    stack.apiSim.workspaces.rename(h2.id, "Helper.");
    stack.apiSim.workspaces.rename(h1.id, "helper");
    for (let i = 0; i < 100 && stack.apiSim.workspaces.listCalls < calls + 2; i++) await Bun.sleep(25);
    expect((await modelIds(stack)).slice(1)).toEqual(expected);
    for (const [model, bot] of [["team-helper", h1], ["team-helper-2", h2], ["team-helper-3", h3]] as const) {
      await stack.openai.chat.completions.create({ model, messages: [{ role: "user", content: "who?" }] });
      expect(stack.apiSim.chats.at(-1)!.botId).toBe(bot.id);
    }
  });

  test("a listing that fails keeps the last known bots, said once in the log; the next that works applies", async () => {
    const world: Partial<World> = {};
    const stack = await start({ settings: { workspaceRefreshMs: 100 }, workspaces: workspaceOf(["One", "Two"], world) });
    expect((await modelIds(stack)).slice(1)).toEqual(["one", "two"]);
    stack.apiSim.workspaces.refuse = { status: 500, code: 5000, msg: "internal error" };
    const calls = stack.apiSim.workspaces.listCalls;
    for (let i = 0; i < 100 && stack.apiSim.workspaces.listCalls < calls + 3; i++) await Bun.sleep(25);
    expect((await modelIds(stack)).slice(1)).toEqual(["one", "two"]);
    expect((await stack.openai.chat.completions.create({ model: "two", messages: [{ role: "user", content: "still here" }] })).choices[0].message.content).toBe("API says: still here");
    const warnings = stack.logs.filter((l) => l.includes("could not be listed"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("5000");
    expect(warnings[0]).not.toContain(world.token!);
    stack.apiSim.workspaces.refuse = undefined;
    stack.apiSim.workspaces.rename(world.bots![1].id, "Three");
    await modelsUntil(stack, (ids) => ids.includes("three"));
    expect(stack.logs.filter((l) => l.includes("listed again"))).toHaveLength(1);
  });

  test("a reload that adds a workspace entry serves its bots; one that drops it stops them", async () => {
    const stack = await start();
    expect(await modelIds(stack)).toEqual(["gpt-test"]);
    const [workspace] = workspaceOf(["Late Comer"])(stack.apiSim, 1);
    await stack.app.reload(stack.entries, [workspace]);
    expect(await modelIds(stack)).toEqual(["gpt-test", "late-comer"]);
    expect((await stack.openai.chat.completions.create({ model: "late-comer", messages: [{ role: "user", content: "hello" }] })).choices[0].message.content).toBe("API says: hello");
    await stack.app.reload(stack.entries, []);
    expect(await modelIds(stack)).toEqual(["gpt-test"]);
  });

  test("every page is read: a workspace of 45 bots is 45 models", async () => {
    const names = Array.from({ length: 45 }, (_, i) => `Bot ${i}`);
    const stack = await start({ workspaces: workspaceOf(names) });
    const ids = await modelIds(stack);
    expect(ids).toHaveLength(46);
    expect(new Set(ids)).toEqual(new Set(["gpt-test", ...names.map((_, i) => `bot-${i}`)]));
    // 20 a page (Coze's default): three pages.
    expect(stack.apiSim.workspaces.listCalls).toBe(3);
  });
});

describe("bot.json's workspace entries", () => {
  const parse = (entry: object) => parseBots(JSON.stringify([entry]), "bot.json");
  const failure = (entry: object) => {
    try {
      parse(entry);
    } catch (error) {
      return (error as Error).message;
    }
    return "no error";
  };
  const base = { coze_api_token: "pat_x", workspace_id: "7380000000000000001" };

  test("an entry with workspace_id and no model; model_prefix and api_base optional", () => {
    expect(parse(base)).toEqual({ entries: [], workspaces: [{ kind: "workspace", index: 0, ...base, api_base: "https://api.coze.com", model_prefix: "" }], warnings: [] });
    expect(parse({ ...base, model_prefix: "coze/", api_base: "https://api.coze.cn/" }).workspaces[0]).toMatchObject({ model_prefix: "coze/", api_base: "https://api.coze.cn" });
  });

  test.each([
    [{ ...base, bot_id: "7351000000000000001" }, 'bot.json entry 0 field "bot_id" cannot go with "workspace_id"'],
    [{ ...base, model: "gpt-4o" }, 'bot.json entry 0 field "model" cannot go with "workspace_id"'],
    [{ ...base, workspace_id: "my-space" }, 'bot.json entry 0 field "workspace_id" is not a Coze workspace id'],
    [{ ...base, workspace_id: 7380000000000000001 }, 'bot.json entry 0 field "workspace_id" must be a string, got a number'],
    [{ ...base, model_prefix: 3 }, 'bot.json entry 0 field "model_prefix" must be a string'],
    [{ ...base, model_prefix: "my team" }, 'bot.json entry 0 field "model_prefix" may not hold white space'],
    [{ ...base, coze_api_token: undefined }, 'bot.json entry 0 is missing "coze_api_token"'],
    [{ model: "m", coze_api_token: "pat_x", bot_id: "7351000000000000001", model_prefix: "p-" }, 'bot.json entry 0 field "model_prefix" goes with "workspace_id" only'],
    [{ ...base, bot_token: "x" }, "bot.json entry 0 mixes a Discord field"],
  ])("%j → %s", (entry, message) => {
    expect(failure(entry)).toStartWith(message);
  });

  test("WORKSPACE_REFRESH: 600 s by default, decimals accepted, anything else named", () => {
    expect(readSettings({}).workspaceRefreshMs).toBe(600_000);
    expect(readSettings({ WORKSPACE_REFRESH: "1.5" }).workspaceRefreshMs).toBe(1500);
    for (const bad of ["0", "-1", "ten", "1e3"]) expect(() => readSettings({ WORKSPACE_REFRESH: bad })).toThrow(`WORKSPACE_REFRESH must be a number of seconds above 0 (decimals allowed), got "${bad}"`);
  });
});

describe("coze-chat-proxy check on a workspace entry", () => {
  const api = new CozeApiSimulator();
  beforeAll(() => api.start());
  afterAll(() => api.stop());

  test("a row for each bot found, named by its model and bot id; a row for a workspace that cannot be listed; no token printed", async () => {
    const token = api.addToken();
    const workspace = api.workspaces.addWorkspace(api.tokens.get(token)!);
    const [planner, writer] = [api.workspaces.addBot(workspace, "Travel Planner"), api.workspaces.addBot(workspace, "Writer")];
    const empty = api.workspaces.addWorkspace(api.tokens.get(token)!);
    const dir = mkdtempSync(join(tmpdir(), "coze-check-"));
    const entries = [
      { coze_api_token: token, workspace_id: workspace, api_base: api.url },
      { coze_api_token: "pat_revoked_token_value", workspace_id: workspace, api_base: api.url },
      { coze_api_token: token, workspace_id: empty, api_base: api.url },
    ];
    writeFileSync(join(dir, "bot.json"), JSON.stringify(entries));
    const { code, out, err } = await spawnCli(["check"], {
      cwd: dir,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", BOT_CONFIG: join(dir, "bot.json"), REPLY_START_TIMEOUT: "3" },
    }).finished();
    expect(out).toMatch(new RegExp(`^entry 0 \\(travel-planner: bot ${planner.id} found in workspace ${workspace}\\) {2}ok {2}first reply after`, "m"));
    expect(out).toMatch(new RegExp(`^entry 0 \\(writer: bot ${writer.id} found in workspace ${workspace}\\) {2}ok`, "m"));
    expect(out).toMatch(new RegExp(`^entry 1 \\(workspace ${workspace}\\) {2}FAIL {2}listing workspace ${workspace} failed: Coze refused the token \\(4100`, "m"));
    expect(out).toMatch(new RegExp(`^entry 2 \\(workspace ${empty}\\) {2}FAIL {2}the workspace has no bot published to the API`, "m"));
    expect(out + err).not.toContain(token);
    expect(out + err).not.toContain("pat_revoked_token_value");
    expect(code).toBe(1);
  });
});
