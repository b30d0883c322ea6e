/**
 * Bursts and blips (Discord's rate limits, outages, reconnects, reloads, slow
 * clients) through the real path: SDK or fetch → service → discord.js →
 * simulator with Discord's limits switched on.
 */
import { describe, expect, test } from "bun:test";
import { connect } from "node:net";
import OpenAI from "openai";
import { readSettings } from "../lib/config/settings.ts";
import { chatBody, json, KEY, readSse, stackPerTest, type Stack, type StackOptions } from "./harness.ts";

const MODEL = "gpt-test";
/** Discord's per-channel limit, with a shorter window so that a burst of 20 takes seconds, not 20. */
const LIMITS = { limit: 5, windowMs: 1000, globalPerSecond: 50 };
const stackWith = stackPerTest({ simulator: { rateLimit: LIMITS } });
const ask = (stack: Stack, content: string, signal?: AbortSignal) =>
  stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content }] }, { signal });
/** Starts `n` requests 10 ms apart, so that their order of arrival is known. */
async function burst(stack: Stack, n: number, label = "burst"): Promise<Promise<OpenAI.ChatCompletion>[]> {
  const requests: Promise<OpenAI.ChatCompletion>[] = [];
  for (let i = 0; i < n; i++) {
    requests.push(ask(stack, `${label} ${i}`));
    await Bun.sleep(10);
  }
  return requests;
}
const promptsOf = (stack: Stack) => stack.sim.posts.map((p) => p.content.replace(/^<@\d+> /, ""));

describe("Discord's rate limits are a queue", () => {
  test("20 concurrent requests on one entry all succeed, posted in order of arrival, and nothing rests", async () => {
    const stack = await stackWith({ settings: { replyStartTimeoutMs: 10_000 } });
    const answers = await Promise.all(await burst(stack, 20));
    answers.forEach((a, i) => expect(a.choices[0].message.content).toStartWith(`You said: burst ${i}`));
    // First come, first served where Discord queues them: each new conversation starts its thread (5 per
    // window on the channel), then posts in it; the threads were started in order of arrival.
    const threads = [...stack.sim.channels.values()].filter((c) => c.thread).map((c) => c.name);
    expect(threads).toEqual(Array.from({ length: 20 }, (_, i) => `burst ${i}`));
    expect(promptsOf(stack).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `burst ${i}`).sort());
    const metrics = stack.app.metrics.render();
    expect(metrics).toMatch(/coze_proxy_discord_rate_limits_total [1-9]/); // the limits were really in force
    expect(metrics).not.toContain("coze_proxy_discord_post_failures_total{");
    // Right after the burst a new request is answered at once: no rest, no cooldown.
    expect((await json(await stack.fetch("/readyz"))).models[0].entries[0].cooling_down_seconds).toBe(0);
    const started = performance.now();
    expect((await ask(stack, "after the burst")).choices[0].message.content).toStartWith("You said: after the burst");
    expect(performance.now() - started).toBeLessThan(LIMITS.windowMs + 900);
  });

  test("a model with two entries spreads a burst over both channels and finishes sooner than one", async () => {
    const timeBurst = async (entries: StackOptions["entries"]) => {
      const stack = await stackWith({ entries, settings: { replyStartTimeoutMs: 10_000 } });
      const started = performance.now();
      await Promise.all(await burst(stack, 20));
      const elapsed = performance.now() - started;
      return { elapsed, channels: new Set(stack.sim.posts.map((p) => stack.sim.parentOf(p.channelId))).size };
    };
    const one = await timeBurst([{ model: MODEL }]);
    const two = await timeBurst([{ model: MODEL, coze: 0 }, { model: MODEL, coze: 1 }]);
    expect(one.channels).toBe(1);
    expect(two.channels).toBe(2);
    // 20 posts at 5 per window: 3 waits on one channel, 1 on two.
    expect(two.elapsed).toBeLessThan(one.elapsed - LIMITS.windowMs / 2);
  });

  test("requests whose clients leave while they wait are never posted, and are logged as 499", async () => {
    const stack = await stackWith({ settings: { replyStartTimeoutMs: 10_000 } });
    const controllers = Array.from({ length: 8 }, () => new AbortController());
    const requests = controllers.map((c, i) => ask(stack, `waiting ${i}`, c.signal).catch((e: unknown) => e));
    // The first five are posted at once; the other three wait for the window.
    await stack.sim.waitFor(() => stack.sim.posts.length === 5);
    for (const i of [5, 6, 7]) controllers[i].abort();
    const outcomes = await Promise.all(requests);
    expect(outcomes.slice(5).every((o) => o instanceof OpenAI.APIUserAbortError)).toBe(true);
    await Bun.sleep(LIMITS.windowMs + 300); // past the window, when they would have been posted
    expect(promptsOf(stack).sort()).toEqual(["waiting 0", "waiting 1", "waiting 2", "waiting 3", "waiting 4"]);
    await stack.sim.waitFor(() => stack.logs.filter((l) => l.includes("status=499")).length === 3);
    expect(stack.app.pool.status()[0].entries[0].in_flight).toBe(0);
  });
});

describe("failures are a circuit breaker", () => {
  test("concurrent failures of one incident rest the entry once, and a probe ends the rest as soon as Discord is back", async () => {
    const stack = await stackWith({ simulator: { rateLimit: null }, settings: { failureCooldownMs: 5_000 } });
    stack.sim.unreachable = true;
    const during = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(stack, `during ${i}`).catch((e: any) => e)));
    expect(during.every((e) => e instanceof OpenAI.APIError)).toBe(true);
    // Ten requests failing together are one incident: the rest is the first one, not 5 · 2^9 s.
    expect(stack.app.pool.status()[0].entries[0].cooling_down_seconds).toBeLessThanOrEqual(5);
    await Bun.sleep(2000);
    stack.sim.unreachable = false;
    const back = performance.now();
    // The entry still rests, but a model whose every entry rests lets one probe through.
    expect((await ask(stack, "Discord is back")).choices[0].message.content).toStartWith("You said: Discord is back");
    expect(performance.now() - back).toBeLessThan(1500);
    expect(stack.app.pool.status()[0].entries[0].cooling_down_seconds).toBe(0);
  });

  test("each new incident in a row doubles the rest", async () => {
    const stack = await stackWith({ simulator: { rateLimit: null }, settings: { failureCooldownMs: 2_000 } });
    const rests: number[] = [];
    for (let incident = 0; incident < 3; incident++) {
      // The post fails twice (discord.js retries a 5xx once); the request after it is the probe of a resting entry.
      stack.sim.failPosts(2, 503);
      const failed = await ask(stack, `incident ${incident}`).catch((e: any) => e);
      expect(failed).toBeInstanceOf(OpenAI.InternalServerError);
      rests.push(stack.app.pool.status()[0].entries[0].cooling_down_seconds);
    }
    expect(rests).toEqual([2, 4, 8]);
    // A probe that succeeds closes the breaker.
    expect((await ask(stack, "works again")).choices[0].message.content).toStartWith("You said: works again");
    expect(stack.app.pool.status()[0].entries[0].cooling_down_seconds).toBe(0);
  });
});

describe("reconnects and reloads", () => {
  test("50 streams across an op 9 with REPLY_QUIET shorter than the recovery all end with their whole text", async () => {
    const stack = await stackWith({ simulator: { rateLimit: null }, settings: { replyQuietMs: 1500, replyTimeoutMs: 25_000 } });
    const text = (i: number) => `Stream ${i}: ` + "every edit of this reply must arrive, 你好 😀. ".repeat(8);
    stack.cozes[0].behaviour = (prompt) => ({ text: text(Number(prompt.split(" ")[1])), steps: 40, editIntervalMs: 150, buttons: false });
    const streams = Array.from({ length: 50 }, async (_, i) => {
      const { events, done } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, `stream ${i}`, { stream: true }) }));
      return { text: events.map((e) => e.choices?.[0]?.delta.content ?? "").join(""), done, finish: events.at(-1)?.choices?.[0]?.finish_reason };
    });
    await stack.sim.waitFor(() => stack.app.pool.tracking.following === 50, 10_000);
    await Bun.sleep(300);
    expect(stack.sim.invalidateSession(stack.bots[0])).toBe(1);
    const results = await Promise.all(streams);
    results.forEach((r, i) => expect(r).toEqual({ text: text(i), done: true, finish: "stop" }));
  }, 60_000);

  test("a reload that changes the bot token under load loses no request", async () => {
    const stack = await stackWith({ simulator: { rateLimit: null } });
    const newBot = stack.sim.addBot({ username: "relay-new" });
    stack.sim.guilds.values().next().value!.members.add(newBot.id);
    const requests: Promise<unknown>[] = [];
    const sending = (async () => {
      for (let i = 0; i < 80; i++) {
        requests.push(ask(stack, `load ${i}`).then((a) => a.choices[0].message.content, (e) => e));
        await Bun.sleep(10);
      }
    })();
    await Bun.sleep(100);
    await stack.app.reload([{ ...stack.entries[0], bot_token: newBot.token! }]);
    await sending;
    const answers = await Promise.all(requests);
    answers.forEach((a, i) => expect(a).toStartWith(`You said: load ${i}`));
    expect(new Set(stack.sim.posts.map((p) => p.authorId))).toEqual(new Set([stack.bots[0].id, newBot.id]));
  });
});

describe("slow and broken clients", () => {
  test("a client that never finishes its body gets a 408, and holds an in-flight slot meanwhile", async () => {
    const stack = await stackWith({ settings: { bodyTimeoutMs: 1000, maxInFlight: 1 } });
    const port = Number(new URL(stack.base).port);
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk));
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"model":`;
    socket.write(head);
    await Bun.sleep(200);
    // The trickling client holds the only slot: another request is refused at once.
    const refused = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "hi") });
    expect(refused.status).toBe(429);
    expect((await json(refused)).error.code).toBe("overloaded");
    await stack.sim.waitFor(() => answer.includes("\r\n\r\n"), 3000);
    socket.destroy();
    expect(answer).toStartWith("HTTP/1.1 408");
    expect(answer).toContain('"code":"request_timeout"');
    // The slot is free again.
    expect((await ask(stack, "after the slow client")).choices[0].message.content).toStartWith("You said: after the slow client");
    expect(stack.sim.posts.map((p) => p.content)).not.toContain(expect.stringContaining("model"));
  });

  test("a body trickling at 1 byte/s gets its 408 before the server's idle timeout closes the connection", async () => {
    // BODY_TIMEOUT as an operator sets it: the idle timeout is derived from it (it used to equal it, 30 s and 30 s,
    // and the connection closed at ~29.5 s with no answer). Bun's idle timer moves in 4 s steps; 4.5 s puts
    // BODY_TIMEOUT past the step an idle timeout of 4 s would close at.
    const { bodyTimeoutMs, idleTimeoutSeconds } = readSettings({ BODY_TIMEOUT: "4.5" });
    expect(readSettings({}).idleTimeoutSeconds * 1000).toBeGreaterThan(readSettings({}).bodyTimeoutMs);
    const stack = await stackWith({ settings: { bodyTimeoutMs, idleTimeoutSeconds } });
    const started = Date.now();
    const socket = connect(Number(new URL(stack.base).port), "127.0.0.1");
    let answer = "";
    let closedAt = 0;
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("close", () => (closedAt = Date.now() - started));
    socket.on("error", () => {});
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n`);
    const body = `{"model":"${MODEL}","messages":[{"role":"user","content":"${"x".repeat(400)}"}]}`;
    let sent = 0;
    const trickle = setInterval(() => !socket.destroyed && socket.write(body[sent++] ?? " "), 1000);
    try {
      await stack.sim.waitFor(() => answer.includes("\r\n\r\n") || closedAt > 0, 15_000);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    expect(answer).toStartWith("HTTP/1.1 408");
    expect(answer).toContain('"code":"request_timeout"');
    expect(stack.sim.posts).toHaveLength(0);
  });

  test("a malformed path is a 400, never a 500", async () => {
    const stack = await stackWith({});
    const response = await stack.fetch("/v1/models/%E0%A4%A");
    expect(response.status).toBe(400);
    expect((await json(response)).error.type).toBe("invalid_request_error");
    expect(stack.logs.some((l) => l.includes("ERROR"))).toBe(false);
  });
});

describe("failover", () => {
  test("a stream that has sent text never moves to another entry", async () => {
    const stack = await stackWith({ simulator: { rateLimit: null }, entries: [{ model: MODEL, coze: 0 }, { model: MODEL, coze: 1 }] });
    // Whichever entry takes the stream rewrites its reply into a Coze error after text went out.
    for (const coze of stack.cozes) {
      stack.sim.script(coze, { edits: ["The first words of an answer that the client receives", "Something wrong occurs, please retry."], editIntervalMs: 300 });
    }
    const { events } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "x", { stream: true }) }));
    const text = events.map((e) => e.choices?.[0]?.delta.content ?? "").join("");
    expect(text).toBe("The first words of an answer that the client receives");
    expect(stack.sim.posts.length).toBe(1);
  });

  test("a continued piece that comes back as a Coze error, after the first piece was streamed, ends the stream: no other entry", async () => {
    const stack = await stackWith({ simulator: { rateLimit: null }, settings: { replyQuietMs: 300 }, entries: [{ model: MODEL, coze: 0 }, { model: MODEL, coze: 1 }] });
    const long = Array.from({ length: 40 }, (_, i) => `Line ${i + 1} of an answer long enough that Coze cuts it at 2000 characters.`).join("\n");
    for (const coze of stack.cozes) {
      // The first piece is cut with an ellipsis; asked to continue, this Coze answers with an error text instead of the rest.
      stack.sim.script(coze, { text: long, steps: 2, onEdit: () => coze.unfinished.clear() }, { error: "Something wrong occurs, please retry." });
    }
    const { events, done } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "a long one", { stream: true }) }));
    const text = events.map((e) => e.choices?.[0]?.delta.content ?? "").join("");
    expect(text.length).toBeGreaterThan(1500);
    expect(long.startsWith(text)).toBe(true);
    expect(events.at(-1).error.code).toBe("coze_error");
    expect(done).toBe(false);
    // The prompt and the request to continue, on one entry; the second entry was never asked.
    expect(stack.sim.posts.map((p) => p.content.replace(/^<@\d+> /, ""))).toEqual(["a long one", "continue"]);
  });
});

describe("status without a key", () => {
  test("a down entry's problem (Discord's or Coze's words) is shown only with the key; METRICS_AUTH guards /metrics", async () => {
    const stack = await stackWith({ simulator: { rateLimit: null }, botOptions: [{ messageContentAllowed: false }], waitReady: false, settings: { metricsAuth: true } });
    await stack.app.ready;
    const open = JSON.stringify(await json(await fetch(`${stack.base}/readyz`)));
    expect(open).toContain('"state":"down"');
    expect(open).not.toContain("Message Content Intent");
    expect(JSON.stringify(await json(await stack.fetch("/readyz")))).toContain("Message Content Intent");
    expect((await fetch(`${stack.base}/metrics`)).status).toBe(401);
    expect((await stack.fetch("/metrics")).status).toBe(200);
  });
});
