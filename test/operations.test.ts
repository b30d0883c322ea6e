/** Operating the service: PROXY_URL, SIGHUP reload, what the logs may hold, and hostile input. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildScenario } from "../lib/simulator/scenario.ts";
import { DiscordSimulator } from "../lib/simulator/simulator.ts";
import { spawnCli } from "./support/process.ts";
import { chatBody, json, KEY, SECOND_KEY, startStack, type Stack } from "./harness.ts";
import { startCountingProxy } from "./support/counting-proxy.ts";

describe("PROXY_URL", () => {
  test("REST, the gateway and CDN downloads all go through the proxy", async () => {
    const proxy = startCountingProxy();
    const stack = await startStack({ entries: [{ model: "img" }], settings: { proxyUrl: await proxy.url } });
    try {
      stack.sim.script(stack.cozes[0], { text: "drawn", image: "embed" });
      const result = await stack.openai.images.generate({ model: "img", prompt: "through the proxy", response_format: "b64_json" });
      expect(result.data![0].b64_json!.length).toBeGreaterThan(100);
      expect(proxy.tunnels).toEqual([`127.0.0.1:${stack.sim.port}`]); // the gateway WebSocket
      expect(proxy.requests).toContain("/api/v10/gateway/bot");
      expect(proxy.requests.filter((p) => p === `/api/v10/channels/${stack.channels[0].id}/threads`)).toHaveLength(1);
      expect(proxy.requests.filter((p) => /^\/api\/v10\/channels\/\d+\/messages$/.test(p))).toHaveLength(1);
      expect(proxy.requests.filter((p) => p.startsWith("/cdn/attachments/"))).toHaveLength(1);
    } finally {
      await stack.stop();
      proxy.stop();
    }
  });
});

describe("SIGHUP", () => {
  test("re-reads bot.json: a broken file changes nothing, a good one applies", async () => {
    const sim = new DiscordSimulator({ rateLimit: null }).start();
    const world = buildScenario(sim, { entries: [{ model: "first" }, { model: "second" }] });
    const entry = (model: string) => world.entries.find((e) => e.model === model)!;
    const dir = mkdtempSync(join(tmpdir(), "coze-hup-"));
    const file = join(dir, "bot.json");
    writeFileSync(file, JSON.stringify([entry("first")]));
    const child = spawnCli([], { cwd: dir, env: { PATH: process.env.PATH!, SERVER_PORT: "0", SERVER_HOST: "127.0.0.1", BOT_CONFIG: file, AUTH_TOKEN: KEY, DISCORD_API_URL: sim.apiUrl } });
    const proc = child.proc;
    let out = "";
    const until = async (text: string) => {
      out = await child.until(text);
    };
    try {
      await until("discord bot connected");
      const base = /listening url=(http:\/\/[\d.:]+)/.exec(out)![1];
      const models = async () => (await json(await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } }))).data.map((m: any) => m.id);
      expect(await models()).toEqual(["first"]);

      writeFileSync(file, '[{"model": "broken"');
      proc.kill("SIGHUP");
      await until("bot.json not reloaded");
      expect(await models()).toEqual(["first"]);

      writeFileSync(file, JSON.stringify([entry("first"), entry("second")]));
      proc.kill("SIGHUP");
      await until("bot.json reloaded");
      expect(await models()).toEqual(["first", "second"]);
      const reply = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${KEY}` }, body: chatBody("second", "new entry") });
      expect((await json(reply)).choices[0].message.content).toStartWith("You said: new entry");
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
      await sim.stop();
    }
  });
});

describe("logs", () => {
  test("a full run at info level never logs tokens, API keys or prompt text", async () => {
    const stack = await startStack({ settings: { logLevel: "info", replyQuietMs: 300 } });
    const prompt = "my-secret-prompt-about-the-moon";
    try {
      await stack.openai.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: prompt }] });
      for await (const _ of await stack.openai.chat.completions.create({ model: "gpt-test", messages: [{ role: "user", content: prompt }], stream: true }));
      await stack.fetch("/v1/models", { headers: { authorization: `Bearer ${KEY}-wrong` } });
      await stack.fetch("/v1/chat/completions", { method: "POST", body: `{"model": "gpt-test", "messages": [{"role": "robot", "content": "${prompt}"}]}` });
      await stack.fetch("/v1/chat/completions", { method: "POST", body: `{"model": "${prompt}", "messages": []}` });
      stack.sim.script(stack.cozes[0], { error: "Something wrong occurs, please retry." });
      await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody("gpt-test", prompt) });
      stack.sim.failPosts(2, 500);
      await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody("gpt-test", prompt) });
      const text = stack.logs.join("\n");
      expect(stack.logs.length).toBeGreaterThan(8);
      for (const secret of [stack.bots[0].token!, KEY, SECOND_KEY, prompt]) expect(text).not.toContain(secret);
    } finally {
      await stack.stop();
    }
  });
});

describe("hostile input", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ settings: { maxBodyBytes: 32 * 1024, replyQuietMs: 200, replyStartTimeoutMs: 2000 } });
    stack.cozes[0].behaviour = (prompt) => ({ text: `ok ${prompt.length}`, steps: 1, firstDelayMs: 0, editIntervalMs: 0 });
  });
  afterAll(() => stack.stop());

  const validChat = fc.record({
    model: fc.oneof(fc.constant("gpt-test"), fc.string()),
    messages: fc.array(
      fc.record({
        role: fc.oneof(fc.constantFrom("user", "system", "assistant", "tool"), fc.string()),
        content: fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.array(fc.oneof(fc.record({ type: fc.constant("text"), text: fc.string() }), fc.record({ type: fc.string(), image_url: fc.anything() }))),
          fc.anything(),
        ),
      }),
      { maxLength: 4 },
    ),
    stream: fc.oneof(fc.boolean(), fc.anything()),
    n: fc.anything(),
    prompt: fc.oneof(fc.string(), fc.anything()),
    response_format: fc.oneof(fc.constantFrom("url", "b64_json"), fc.anything()),
  });
  const goodChat = fc
    .record({
      content: fc.string({ unit: "grapheme", minLength: 1, maxLength: 200 }).filter((t) => t.trim() !== ""),
      stream: fc.boolean(),
      extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
    })
    .map(({ content, stream, extra }) => JSON.stringify({ ...extra, model: "gpt-test", messages: [{ role: "user", content }], stream }));
  const body = fc.oneof(
    { weight: 2, arbitrary: goodChat },
    fc.json(),
    fc.string({ maxLength: 200 }),
    validChat.map((b) => JSON.stringify(b)),
    fc.tuple(validChat, fc.nat(), fc.string({ maxLength: 3 })).map(([b, at, junk]) => {
      const text = JSON.stringify(b);
      const i = at % (text.length + 1);
      return text.slice(0, i) + junk + text.slice(i);
    }),
    fc.nat({ max: 200 }).map((depth) => "[".repeat(depth) + "]".repeat(depth)),
    fc.constant("x".repeat(40 * 1024)),
  );
  const path = fc.oneof(
    { weight: 6, arbitrary: fc.constant("/v1/chat/completions") },
    { weight: 2, arbitrary: fc.constant("/v1/images/generations") },
    { weight: 2, arbitrary: fc.constantFrom("/v1/models", "/v1/models/gpt-test", "/", "/healthz", "/readyz", "/metrics") },
    { weight: 1, arbitrary: fc.webPath() },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => `/v1/${encodeURIComponent(s)}`) },
  );
  const authorization = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(`Bearer ${KEY}`, `Bearer ${SECOND_KEY}`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  const method = fc.oneof(
    { weight: 8, arbitrary: fc.constant("POST") },
    { weight: 2, arbitrary: fc.constantFrom("GET", "OPTIONS") },
    { weight: 1, arbitrary: fc.constantFrom("PUT", "DELETE", "PATCH") },
  );

  test("thousands of random and mutated requests: every answer is well-formed, the process stays up, memory stays flat", async () => {
    const statuses = new Map<number, number>();
    const send = async (m: string, p: string, auth: string | undefined, b: string) => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (auth !== undefined) headers.authorization = auth;
      const res = await fetch(stack.base + p, { method: m, headers, body: m === "GET" || m === "OPTIONS" ? undefined : b });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const type = res.headers.get("content-type") ?? "";
      const text = await res.text();
      expect([200, 204, 400, 401, 404, 405, 413, 429, 502, 503, 504]).toContain(res.status);
      expect(res.headers.get("x-request-id")).toMatch(/^[\w.:-]{1,128}$/);
      if (res.status === 204) return expect(text).toBe("");
      if (type.startsWith("text/event-stream")) return expect(text.trim()).toEndWith("data: [DONE]");
      if (p === "/metrics" && res.status === 200) return expect(text).toContain("# TYPE");
      const parsed = JSON.parse(text);
      if (res.status >= 400) {
        expect(typeof parsed.error.message).toBe("string");
        expect(typeof parsed.error.type).toBe("string");
        expect("param" in parsed.error && "code" in parsed.error).toBe(true);
      }
    };
    const property = fc.asyncProperty(method, path, authorization, body, send);
    await fc.assert(property, { numRuns: 1000 });
    Bun.gc(true);
    const heapBefore = process.memoryUsage().heapUsed;
    await fc.assert(property, { numRuns: 1500 });
    Bun.gc(true);
    const growth = process.memoryUsage().heapUsed - heapBefore;
    console.log(`fuzz statuses ${JSON.stringify(Object.fromEntries(statuses))}; heap growth over 1500 requests: ${(growth / 1048576).toFixed(1)} MB`);
    expect(statuses.get(200)).toBeGreaterThan(50);
    expect(statuses.get(400)).toBeGreaterThan(100);
    expect(growth).toBeLessThan(24 * 1048576);
    expect((await fetch(`${stack.base}/healthz`)).status).toBe(200);
    expect(stack.app.pool.tracking.following).toBe(0);
  });
});
