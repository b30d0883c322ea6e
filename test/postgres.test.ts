/**
 * Several instances on one PostgreSQL (DATABASE_URL), through the real path:
 * two services on one simulated Discord and one real database server
 * (skipped with a one-line reason where none is installed; required under
 * CI=true). A conversation, a rest, an image and a Responses transcript
 * written by one instance are used by the other; the database stopping
 * mid-run loses no request; `migrate` brings a DATA_DIR over.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";
import { chatAnswer, json, KEY, stackPerTest, streamAnswer, type Stack, type StackOptions, type Turn } from "./harness.ts";
import { postgresForTests, PG_PASSWORD, startPostgres, type PgServer } from "./support/postgres.ts";
import { spawnCli } from "./support/process.ts";

const MODEL = "gpt-test";
const pg = postgresForTests();
let server: PgServer;
let databases = 0;
beforeAll(async () => {
  if (!pg.skip) server = await startPostgres(pg.bin);
});
afterAll(async () => {
  await server?.remove();
});
const stackWith = stackPerTest();

const chat = (stack: Stack, messages: Turn[]) => chatAnswer(stack, MODEL, messages);
const stream = (stack: Stack, messages: Turn[]) => streamAnswer(stack, MODEL, messages);
const postOf = (stack: Stack, text: string) => stack.sim.posts.find((p) => p.content.includes(text))!;
const storeState = async (stack: Stack) => (await json(await stack.fetch("/readyz"))).store;
async function until(what: string, check: () => Promise<boolean>, withinMs = 5000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > withinMs) throw new Error(`${what}: not within ${withinMs} ms`);
    await Bun.sleep(50);
  }
}

/** Two instances of the service on one simulated Discord and one new database. */
async function pair(options: StackOptions = {}, databaseUrl?: string): Promise<[Stack, Stack, string]> {
  const url = databaseUrl ?? (await server.database(`service_${++databases}`));
  const a = await stackWith({ ...options, settings: { ...options.settings, databaseUrl: url } });
  const b = await stackWith({ reuse: { sim: a.sim, entries: a.entries, api: { apiSim: a.apiSim, apiBots: a.apiBots, apiEntries: a.apiEntries } }, settings: { ...options.settings, databaseUrl: url } });
  await Promise.all([a.app.store.ready(), b.app.store.ready()]);
  return [a, b, url];
}
/**
 * A client's next turn comes after it has read the answer; the instance that
 * answered writes the conversation in the background within a round trip.
 * The test waits for that write rather than for a guess of its time.
 */
const written = (stack: Stack) => stack.app.store.flush();

describe.skipIf(pg.skip)("two instances on one PostgreSQL", () => {
  test("a conversation alternating between the instances stays in one thread and posts only its new turns", async () => {
    const [a, b] = await pair();
    const history: Turn[] = [];
    for (const [turn, stack] of [a, b, a, b].entries()) {
      history.push({ role: "user", content: `turn ${turn}` });
      history.push({ role: "assistant", content: await chat(stack, history) });
      await written(stack);
    }
    const threads = new Set(a.sim.posts.map((p) => p.channelId));
    expect(threads.size).toBe(1);
    expect(a.sim.posts.map((p) => p.content)).toEqual([0, 1, 2, 3].map((t) => `<@${a.entries[0].coze_bot_id}> turn ${t}`));
    expect(history.at(-1)!.content).toContain('Earlier in this conversation you said: "turn 0"');
    // An ordinary start is no incident: nothing failed while the schema was being made.
    expect(a.logs.concat(b.logs).filter((l) => l.includes("the store failed"))).toEqual([]);
  });

  test("a quota rest seen by one instance is honoured by the other", async () => {
    const [a, b] = await pair();
    a.cozes[0].behaviour = () => ({ error: COZE_ERRORS.dailyLimit });
    const limited = await a.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "over quota" }] }) });
    expect(limited.status).toBe(429);
    await until("the other instance sees the rest", async () => (await json(await b.fetch("/readyz"))).models[0].entries[0].cooling_down_seconds > 0);
    const posts = b.sim.posts.length;
    const refused = await b.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "on the other one" }] }) });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(60);
    expect(b.sim.posts.length).toBe(posts); // nothing posted: the entry rests on every instance
  });

  test("an image stored by one instance is served by the other after the first stops", async () => {
    const [a, b] = await pair();
    a.cozes[0].behaviour = () => ({ text: "Drawn.", image: "attachment" });
    const { data } = await json(await a.fetch("/v1/images/generations", { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "a fox" }) }));
    const url: string = data[0].url;
    expect(url).toStartWith(`${a.base}/images/`);
    const original = new Uint8Array(await (await fetch(url)).arrayBuffer());
    a.app.server.stop(true);
    await a.app.stop();
    const served = await fetch(url.replace(a.base, b.base));
    expect(served.status).toBe(200);
    expect(served.headers.get("content-type")).toBe("image/png");
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(original);
  });

  test("previous_response_id from one instance works on the other", async () => {
    const [a, b] = await pair();
    const first = await a.openai.responses.create({ model: MODEL, input: "remember the word lantern" });
    await written(a);
    const next = await b.openai.responses.create({ model: MODEL, input: "which word?", previous_response_id: first.id });
    expect(next.status).toBe("completed");
    expect(postOf(b, "which word?").channelId).toBe(postOf(a, "lantern").channelId);
    expect(next.output_text).toContain("remember the word lantern");
  });

  test("a status-page login on one instance opens the other's page; logging out on one closes both", async () => {
    const [a, b] = await pair();
    const login = await fetch(`${a.base}/login`, { method: "POST", headers: { origin: a.base }, body: new URLSearchParams({ key: KEY }), redirect: "manual" });
    expect(login.status).toBe(303);
    const cookie = login.headers.get("set-cookie")!.split(";")[0];
    await written(a);
    // Only a caller with a key or a live session sees the store's state.
    const unlocks = async (stack: Stack) => (await json(await fetch(`${stack.base}/readyz`, { headers: { cookie } }))).store !== undefined;
    expect(await unlocks(b)).toBe(true);
    await fetch(`${b.base}/logout`, { method: "POST", headers: { cookie }, redirect: "manual" });
    await written(b);
    expect(await unlocks(a)).toBe(false);
    expect(await unlocks(b)).toBe(false);
  });

  test("a database that stops answering (its tables locked): requests go on as new conversations, /healthz answers, the store recovers", async () => {
    const [a] = await pair();
    const history: Turn[] = [{ role: "user", content: "before the database hung" }];
    history.push({ role: "assistant", content: await chat(a, history) });
    await written(a);
    const blocker = new SQL(server.url.replace(/\/postgres$/, `/service_${databases}`), { max: 1 });
    const hold = Promise.withResolvers<void>();
    const held = Promise.withResolvers<void>();
    const locking = blocker.begin(async (tx) => {
      await tx`LOCK TABLE coze_conversations IN ACCESS EXCLUSIVE MODE`;
      held.resolve();
      await hold.promise;
    });
    await held.promise;
    try {
      // The look-up waits on the lock: past its time the request goes on, its conversation new.
      await chat(a, [...history, { role: "user", content: "while it hangs" }]);
      expect(postOf(a, "while it hangs").channelId).not.toBe(postOf(a, "before the database hung").channelId);
      expect((await a.fetch("/healthz")).status).toBe(200);
      expect((await storeState(a)).state).toBe("degraded");
      expect((await storeState(a)).problem).toContain("no answer within");
    } finally {
      hold.resolve();
      await locking;
      await blocker.close();
    }
    await until("the store recovers", async () => (await storeState(a)).state === "ok");
  }, 30_000);

  test("two instances answering one channel without threads, and one Coze conversation, at once: one at a time", async () => {
    const [a, b] = await pair({ entries: [{ model: MODEL, threads: false }], api: [{ model: "api-model" }] });
    // One channel whose conversations share Coze's context: a reply in progress there is counted while it grows.
    let replying = 0;
    let most = 0;
    a.cozes[0].behaviour = (prompt) => {
      most = Math.max(most, ++replying);
      return { text: `answer to ${prompt.split(" ").at(-1)}`, steps: 3, editIntervalMs: 60, onEdit: (i) => void (i === 2 && replying--) };
    };
    const shared = await Promise.all([a, b, a, b].map((stack, i) => chat(stack, [{ role: "user", content: `shared ${i}` }])));
    shared.forEach((answer, i) => expect(answer).toBe(`answer to ${i}`));
    expect(a.sim.posts.every((p) => p.channelId === a.channels[0].id)).toBe(true);
    expect(most).toBe(1);

    // One Coze conversation (a client's X-Conversation-Id) continued on both instances at once: Coze never sees two chats in it.
    a.apiBots[0].behaviour = (prompt) => ({ text: `API says: ${prompt}`, deltas: 3, firstDelayMs: 80, intervalMs: 40 });
    const ask = (stack: Stack, content: string) =>
      stack.fetch("/v1/chat/completions", { method: "POST", headers: { "x-conversation-id": "one-coze-conversation" }, body: JSON.stringify({ model: "api-model", messages: [{ role: "user", content }] }) });
    expect((await ask(a, "first")).status).toBe(200);
    await written(a);
    const answers = await Promise.all([a, b, a, b].map((stack, i) => ask(stack, `turn ${i}`)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(a.apiSim.busyRefusals).toBe(0);
    expect(new Set(a.apiSim.chats.map((c) => c.conversationId)).size).toBe(1);
  }, 30_000);

  test("the database stopped mid-run and started again: no request in flight is lost, and their conversations go on", async () => {
    const [a, b] = await pair();
    for (const stack of [a, b]) stack.cozes[0].behaviour = (prompt) => ({ text: `Noted ${prompt.split(" ").at(-1)}`, steps: 3, editIntervalMs: 100, firstDelayMs: 200 });
    const inFlight = [a, b, a, b, a, b].map((stack, i) => stream(stack, [{ role: "user", content: `in flight ${i}` }]));
    await Bun.sleep(50);
    await server.stop();
    let answers: string[];
    try {
      answers = await Promise.all(inFlight);
      answers.forEach((answer, i) => expect(answer).toBe(`Noted ${i}`));
      // Served meanwhile, as new conversations, with the store degraded.
      expect(await chat(b, [{ role: "user", content: "while the database is down" }])).toBe("Noted down");
      expect((await storeState(a)).state).toBe("degraded");
      expect((await storeState(b)).state).toBe("degraded");
    } finally {
      await server.start();
    }
    await until("both instances recover", async () => (await storeState(a)).state === "ok" && (await storeState(b)).state === "ok");
    // What was answered while the database was down was written when it came back: each continues on the other instance.
    for (const i of [0, 1]) {
      const [answeredOn, next] = i === 0 ? [a, b] : [b, a];
      await written(answeredOn);
      await chat(next, [{ role: "user", content: `in flight ${i}` }, { role: "assistant", content: answers[i] }, { role: "user", content: `after ${i}` }]);
      expect(postOf(next, `after ${i}`).channelId).toBe(postOf(a, `in flight ${i}`).channelId);
    }
    expect(a.logs.concat(b.logs).join("\n")).not.toContain(PG_PASSWORD);
  }, 30_000);

  test("a database down at start is a degraded start: requests are served, the password is never logged, the store recovers", async () => {
    const url = await server.database(`service_${++databases}`);
    await server.stop();
    try {
      const a = await stackWith({ settings: { databaseUrl: url } });
      expect(await chat(a, [{ role: "user", content: "no database yet" }])).toStartWith("You said");
      // Once the grace a database has to open at start is over, the store says it is degraded.
      await until("the store shows degraded", async () => (await storeState(a)).state === "degraded");
      await server.start();
      await a.app.store.ready();
      await until("the store recovers", async () => (await storeState(a)).state === "ok");
      const history: Turn[] = [{ role: "user", content: "with the database" }];
      history.push({ role: "assistant", content: await chat(a, history) });
      await written(a);
      await chat(a, [...history, { role: "user", content: "and on" }]);
      expect(postOf(a, "and on").channelId).toBe(postOf(a, "with the database").channelId);
      expect(a.logs.some((l) => l.includes("the database cannot be used yet"))).toBe(true);
      expect(a.logs.join("\n")).not.toContain(PG_PASSWORD);
    } finally {
      await server.start().catch(() => {});
    }
  }, 30_000);

  test("`migrate` copies a DATA_DIR into the database: its conversations, images and transcripts go on there", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-migrate-"));
    const local = await stackWith({ dataDir });
    const history: Turn[] = [{ role: "user", content: "kept in sqlite" }];
    history.push({ role: "assistant", content: await chat(local, history) });
    const plain = local.cozes[0].behaviour;
    local.cozes[0].behaviour = () => ({ text: "Drawn.", image: "attachment" });
    const { data } = await json(await local.fetch("/v1/images/generations", { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "a fox" }) }));
    local.cozes[0].behaviour = plain;
    const response = await local.openai.responses.create({ model: MODEL, input: "a transcript to keep" });
    local.app.server.stop(true);
    await local.app.stop();

    const url = await server.database(`service_${++databases}`);
    const cli = spawnCli(["migrate"], { cwd: dataDir, env: { PATH: process.env.PATH!, DATA_DIR: dataDir, DATABASE_URL: url, AUTH_TOKEN: KEY } });
    const { code, out, err } = await cli.finished();
    expect(err).toBe("");
    expect(code).toBe(0);
    // The chat and the Responses answer remembered a conversation each, in three threads with the image's.
    expect(out).toMatch(/conversations 2, threads 3, .*responses 1, .*images 1/);
    expect(out + err).not.toContain(PG_PASSWORD);

    const [a, b] = await pair({ reuse: { sim: local.sim, entries: local.entries } }, url);
    await chat(b, [...history, { role: "user", content: "now in postgres" }]);
    expect(postOf(b, "now in postgres").channelId).toBe(postOf(b, "kept in sqlite").channelId);
    const image = await fetch(data[0].url.replace(local.base, a.base));
    expect(image.status).toBe(200);
    const next = await a.openai.responses.create({ model: MODEL, input: "go on", previous_response_id: response.id });
    expect(next.status).toBe("completed");
  }, 30_000);
});
