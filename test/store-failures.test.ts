/**
 * A store that fails while serving never takes the service down: a full
 * disk, a database locked by another process, a file that cannot be read.
 * Answers are delivered, the store shows degraded, writes are retried in the
 * background and land when the store works again.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StoreLimits, Write } from "../lib/store/backend.ts";
import { setLogSink } from "../lib/log.ts";
import { MAX_QUEUED_WRITES } from "../lib/store/write-behind.ts";
import { openStore } from "../lib/store/open.ts";
import { QueuedStore } from "../lib/store/queued-store.ts";
import { SqliteBackend } from "../lib/store/sqlite.ts";
import { SQLITE_SCHEMA_VERSION } from "../lib/store/sqlite-schema.ts";
import { chatAnswer, json, stackPerTest, streamAnswer, type Stack, type Turn } from "./harness.ts";
import { failingDisk, type FailingDisk } from "./support/failing-disk.ts";

const MODEL = "gpt-test";
const stackWith = stackPerTest();
const disks: FailingDisk[] = [];
afterEach(() => {
  for (const disk of disks.splice(0)) disk.cleanup();
});

const chat = (stack: Stack, messages: Turn[]) => chatAnswer(stack, MODEL, messages);
const stream = (stack: Stack, messages: Turn[]) => streamAnswer(stack, MODEL, messages);
const storeState = async (stack: Stack) => (await json(await stack.fetch("/readyz"))).store;
const threadOf = (stack: Stack, text: string) => stack.sim.posts.find((p) => p.content.includes(text))!.channelId;
/** Polls until the store says ok; returns how long that took. */
async function recovered(stack: Stack, withinMs: number): Promise<number> {
  const started = Date.now();
  while ((await storeState(stack)).state !== "ok") {
    if (Date.now() - started > withinMs) throw new Error(`the store did not recover within ${withinMs} ms: ${JSON.stringify(await storeState(stack))}`);
    await Bun.sleep(50);
  }
  return Date.now() - started;
}

describe("a full disk", () => {
  test("filled mid-run: streams in flight all complete, images keep Coze's link, the store shows degraded and recovers when space returns", async () => {
    const disk = failingDisk(768 * 1024);
    disks.push(disk);
    const stack = await stackWith({ dataDir: disk.dataDir, store: disk.store });
    stack.cozes[0].behaviour = (prompt) =>
      prompt.includes("draw") ? { text: "Drawn.", image: "attachment" } : { text: `Noted: ${prompt.split(" ").slice(-3).join(" ")}`, steps: 3, editIntervalMs: 80, firstDelayMs: 150 };
    const before: Turn[] = [{ role: "user", content: "before the disk filled" }];
    before.push({ role: "assistant", content: await chat(stack, before) });
    expect((await storeState(stack)).state).toBe("ok");

    // Streams start, then the disk fills under them.
    const streams = Array.from({ length: 5 }, (_, i) => stream(stack, [{ role: "user", content: `during the incident ${i}` }]));
    const continued = stream(stack, [...before, { role: "user", content: "continued while full" }]);
    await Bun.sleep(50);
    disk.fill();
    const answers = await Promise.all([...streams, continued]);
    for (const answer of answers) expect(answer).toStartWith("Noted:");
    expect(threadOf(stack, "continued while full")).toBe(threadOf(stack, "before the disk filled"));
    const image = await json(await stack.fetch("/v1/images/generations", { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "draw a fox" }) }));
    expect(image.data[0].url).not.toContain(stack.base); // Coze's own link: the service could not keep a copy
    expect(image.data[0].url).toContain("/cdn/attachments/");
    const response = await stack.openai.responses.create({ model: MODEL, input: "a response while full" });

    const metrics = await (await stack.fetch("/metrics")).text();
    expect(metrics).toContain("coze_proxy_store_degraded 1");
    const degraded = await storeState(stack);
    expect(degraded.state).toBe("degraded");
    expect(degraded.problem).toMatch(/full|no space/i);
    expect(degraded.queued_writes).toBeGreaterThan(0);
    expect((await json(await stack.fetch("/readyz", { headers: { authorization: "Bearer not-a-key" } }))).store).toBeUndefined();
    const page = await (await stack.fetch("/", { headers: { accept: "text/html" } })).text();
    expect(page).toContain("Store degraded");
    // One incident, one line, however many writes failed meanwhile.
    expect(stack.logs.filter((l) => l.includes("the store failed")).length).toBe(1);

    disk.free();
    expect(await recovered(stack, 5000)).toBeLessThan(5000);
    expect(stack.logs.some((l) => l.includes("the store works again"))).toBe(true);
    // What was answered during the incident was written after it: those conversations go on in their threads.
    await chat(stack, [{ role: "user", content: "during the incident 3" }, { role: "assistant", content: answers[3] }, { role: "user", content: "after the incident" }]);
    expect(threadOf(stack, "after the incident")).toBe(threadOf(stack, "during the incident 3"));
    const next = await stack.openai.responses.create({ model: MODEL, input: "and after it", previous_response_id: response.id });
    expect(next.status).toBe("completed");
    expect(threadOf(stack, "and after it")).toBe(threadOf(stack, "a response while full"));
  }, 30_000);
});

describe("a database another process holds", () => {
  test("requests run while a second process holds BEGIN IMMEDIATE for 3 s; /healthz is answered before the lock is released", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-locked-"));
    const stack = await stackWith({ dataDir });
    const before: Turn[] = [{ role: "user", content: "before the lock" }];
    before.push({ role: "assistant", content: await chat(stack, before) });
    await stack.app.ready;
    const locker = Bun.spawn(["bun", join(import.meta.dir, "support", "sqlite-locker.ts"), join(dataDir, "coze-chat-proxy.sqlite"), "3000"], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    const out = locker.stdout.getReader();
    const decoder = new TextDecoder();
    let printed = "";
    const until = async (text: string) => {
      while (!printed.includes(text)) {
        const { value, done } = await out.read();
        if (done) throw new Error(`the locker ended before printing ${text}: ${printed}`);
        printed += decoder.decode(value);
      }
    };
    try {
      await until("locked");
      const answers = await Promise.all([
        ...Array.from({ length: 4 }, (_, i) => chat(stack, [{ role: "user", content: `while locked ${i}` }])),
        chat(stack, [...before, { role: "user", content: "continued while locked" }]),
      ]);
      expect(answers.every((a) => a.length > 0)).toBe(true);
      // Their writes met the lock: the store says so, and the event loop went on.
      expect((await storeState(stack)).state).toBe("degraded");
      expect((await stack.fetch("/healthz")).status).toBe(200);
      locker.stdin.write("healthz\n");
      locker.stdin.flush();
      await until("released");
      expect(printed).toContain("released healthz-first=true");
    } finally {
      locker.kill();
    }
    await recovered(stack, 5000);
    expect(threadOf(stack, "continued while locked")).toBe(threadOf(stack, "before the lock"));
    await chat(stack, [{ role: "user", content: "while locked 2" }, { role: "assistant", content: "x" }, { role: "user", content: "after the lock" }]);
  }, 30_000);
});

describe("a database that cannot be read", () => {
  test("a conversation whose look-up fails starts anew with its whole history, and the store recovers by itself", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-corrupt-"));
    let corrupt = false;
    class CorruptSqlite extends SqliteBackend {
      override async conversation(key: string, since: number) {
        if (corrupt) throw Object.assign(new Error("database disk image is malformed"), { code: "SQLITE_CORRUPT" });
        return super.conversation(key, since);
      }
      override async ping() {
        if (corrupt) throw Object.assign(new Error("database disk image is malformed"), { code: "SQLITE_CORRUPT" });
      }
    }
    const limits: StoreLimits = { conversationTtlMs: 86_400_000, maxConversations: 1000, imageTtlMs: 86_400_000, imageStoreMax: 1 << 30 };
    const stack = await stackWith({ dataDir, store: new QueuedStore(new CorruptSqlite(dataDir, limits), limits) });
    const history: Turn[] = [{ role: "user", content: "first words" }];
    history.push({ role: "assistant", content: await chat(stack, history) });
    await stack.app.ready;
    await Bun.sleep(20); // the remembered state is written
    corrupt = true;
    await chat(stack, [...history, { role: "user", content: "second words" }]);
    const post = stack.sim.posts.at(-1)!;
    expect(post.channelId).not.toBe(threadOf(stack, "first words"));
    expect(post.content).toContain("first words"); // the whole history, in a new thread
    expect((await storeState(stack)).state).toBe("degraded");
    corrupt = false;
    await recovered(stack, 5000);
  }, 30_000);
});

describe("writes waiting for a failing store", () => {
  test("are bounded: beyond the bound the oldest are dropped, logged once; the newest are written when the store works again", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-bound-"));
    let full = true;
    class FullSqlite extends SqliteBackend {
      override async write(batch: Write[]) {
        if (full) throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
        return super.write(batch);
      }
    }
    const limits: StoreLimits = { conversationTtlMs: 86_400_000, maxConversations: 100_000, imageTtlMs: 86_400_000, imageStoreMax: 1 << 30 };
    const logs: string[] = [];
    const previous = setLogSink((line) => logs.push(line));
    try {
      const store = new QueuedStore(new FullSqlite(dataDir, limits), limits);
      for (let i = 0; i < MAX_QUEUED_WRITES + 50; i++) store.remember(`k${i}`, { entryKey: "e", channelId: `t${i}` });
      await Bun.sleep(150); // a write pass fails
      expect(store.health()).toMatchObject({ state: "degraded", queued: MAX_QUEUED_WRITES, dropped: 50 });
      expect(logs.filter((l) => l.includes("dropping the oldest"))).toHaveLength(1);
      expect(logs.filter((l) => l.includes("the store failed"))).toHaveLength(1);
      full = false;
      await until(() => store.health().state === "ok", 5000);
      expect(await store.find("k0")).toBeUndefined(); // dropped
      expect(await store.find(`k${MAX_QUEUED_WRITES + 49}`)).toEqual({ entryKey: "e", channelId: `t${MAX_QUEUED_WRITES + 49}` });
      expect(await store.conversations()).toBe(MAX_QUEUED_WRITES);
      await store.close();
    } finally {
      setLogSink(previous);
    }
  });
});

async function until(check: () => boolean, withinMs: number): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > withinMs) throw new Error(`not within ${withinMs} ms`);
    await Bun.sleep(20);
  }
}

describe("the schema", () => {
  test("a database made before the schema had versions is upgraded at start and keeps what it holds", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-old-schema-"));
    const old = new Database(join(dataDir, "coze-chat-proxy.sqlite"), { create: true });
    old.run("PRAGMA journal_mode = WAL");
    old.run("CREATE TABLE conversations (key TEXT PRIMARY KEY, entry_key TEXT NOT NULL, channel_id TEXT NOT NULL, used_at INTEGER NOT NULL)");
    old.run("CREATE TABLE threads (channel_id TEXT PRIMARY KEY, entry_key TEXT NOT NULL, used_at INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0)");
    old.run("CREATE TABLE rests (entry_key TEXT PRIMARY KEY, until INTEGER NOT NULL)");
    old.run("CREATE TABLE responses (id TEXT PRIMARY KEY, scope TEXT NOT NULL, transcript TEXT NOT NULL, created_at INTEGER NOT NULL)");
    old.run("CREATE TABLE images (id TEXT PRIMARY KEY, ext TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL)");
    old.run("INSERT INTO conversations VALUES ('k1', 'entry/a', '111', ?)", [Date.now()]);
    old.run("INSERT INTO rests VALUES ('entry/a', ?)", [Date.now() + 60_000]);
    old.run("INSERT INTO responses VALUES ('resp_1', 'scope', '[{\"role\":\"user\",\"text\":\"hi\",\"images\":[]}]', ?)", [Date.now()]);
    old.close();
    const store = openStore({ dataDir, conversationTtlMs: 86_400_000, imageTtlMs: 86_400_000, imageStoreMax: 1 << 30 });
    expect(await store.find("k1")).toEqual({ entryKey: "entry/a", channelId: "111" });
    expect((await store.entryStates()).rests.get("entry/a")).toBeGreaterThan(Date.now());
    expect(await store.response("resp_1", "scope")).toEqual([{ role: "user", text: "hi", images: [] }]);
    store.suspect("entry/a", Date.now() + 60_000);
    await store.flush();
    expect((await store.entryStates()).suspects.has("entry/a")).toBe(true);
    await store.close();
    const reopened = new Database(join(dataDir, "coze-chat-proxy.sqlite"));
    expect(reopened.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(SQLITE_SCHEMA_VERSION);
    reopened.close();
  });
});
