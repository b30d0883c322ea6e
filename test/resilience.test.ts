/**
 * Faults triggered through the simulator while real requests are in flight:
 * no reply may be lost or misrouted, and a failing bot affects only its own
 * requests.
 */
import { describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";
import { chatBody, json, readSse, stackPerTest, startStack, type Stack, type StackOptions } from "./harness.ts";

const MODEL = "gpt-test";
const stackWith = stackPerTest();
/** Two entries of the same model, each with its own Coze bot and channel. */
const twoEntries = (settings: StackOptions["settings"], simulator?: StackOptions["simulator"]) =>
  stackWith({ entries: [{ model: MODEL, coze: 0 }, { model: MODEL, coze: 1 }], settings, simulator });
const ask = (stack: Stack, content: string, model = MODEL) =>
  stack.openai.chat.completions.create({ model, messages: [{ role: "user", content }] });
const streamOf = async (stack: Stack, content: string) => {
  const { events, done } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, content, { stream: true }) }));
  return { text: events.map((e) => e.choices?.[0]?.delta.content ?? "").join(""), done, events };
};
const LONG = "One reply, many edits: 你好 😀 and the whole text must arrive even when the gateway fails midway through it.";

describe("gateway faults during a stream", () => {
  test("op 7 reconnect: the stream completes with the full text, resumed not re-identified", async () => {
    const stack = await stackWith({});
    stack.sim.script(stack.cozes[0], { text: LONG, steps: 8, editIntervalMs: 40, onEdit: (i) => i === 2 && stack.sim.reconnect(stack.bots[0]) });
    const { text, done } = await streamOf(stack, "reconnect");
    expect(text).toBe(LONG);
    expect(done).toBe(true);
    expect(stack.sim.gatewayLog.map((g) => g.op)).toEqual(["identify", "resume"]);
  });

  test("a dropped socket: the stream completes with the full text", async () => {
    const stack = await stackWith({});
    stack.sim.script(stack.cozes[0], { text: LONG, steps: 8, editIntervalMs: 40, onEdit: (i) => i === 2 && stack.sim.dropSocket(stack.bots[0]) });
    const { text, done } = await streamOf(stack, "drop");
    expect(text).toBe(LONG);
    expect(done).toBe(true);
    expect(stack.sim.gatewayLog.at(-1)!.op).toBe("resume");
  });

  test("op 9 invalid session: edits dispatched while no session existed are fetched back", async () => {
    const stack = await stackWith({ settings: { replyQuietMs: 8000, replyStartTimeoutMs: 10_000 } });
    stack.sim.script(stack.cozes[0], { text: LONG, steps: 6, editIntervalMs: 30, onEdit: (i) => i === 0 && stack.sim.invalidateSession(stack.bots[0], false) });
    const completion = await ask(stack, "invalid session");
    expect(completion.choices[0].message.content).toBe(LONG);
    expect(stack.sim.gatewayLog.map((g) => g.op)).toEqual(["identify", "identify"]);
    expect(stack.logs.some((l) => l.includes("fetching replies it may have missed"))).toBe(true);
  });
});

describe("bots that cannot connect", () => {
  test("4014 and 4004: logged once with the fix, marked down, /readyz tells, other bots keep serving", async () => {
    const stack = await stackWith({
      bots: 2,
      botOptions: [{}, { messageContentAllowed: false }],
      entries: [
        { model: MODEL, bot: 0 },
        { model: "no-intent", bot: 1 },
        { model: "bad-token", token: "this-token-was-revoked" },
      ],
    });
    const ready = await stack.fetch("/readyz");
    expect(ready.status).toBe(503);
    const models = (await json(ready)).models;
    expect(models.map((m: any) => [m.model, m.ready])).toEqual([
      [MODEL, true],
      ["no-intent", false],
      ["bad-token", false],
    ]);
    expect(models[1].entries[0].problem).toContain("enable 'Message Content Intent'");
    expect(models[2].entries[0].problem).toContain("refused the bot token (close 4004)");
    expect(stack.logs.filter((l) => l.includes("Message Content Intent"))).toHaveLength(1);
    expect(stack.logs.filter((l) => l.includes("close 4004"))).toHaveLength(1);

    expect((await ask(stack, "still fine")).choices[0].message.content).toStartWith("You said: still fine");
    const down = await ask(stack, "hello", "no-intent").catch((e: any) => e);
    expect(down.status).toBe(503);
    expect(down.message).toContain("Message Content Intent");
  });
});

describe("failover and cooldown", () => {
  test("a post Discord refuses (50013) moves to the next entry; the entry rests, then comes back by itself", async () => {
    const stack = await twoEntries({ failureCooldownMs: 400 });
    stack.channels[0].denied.add(stack.bots[0].id);
    const answers = [await ask(stack, "one"), await ask(stack, "two")].map((c) => c.choices[0].message.content);
    expect(answers.every((a) => a!.startsWith("You said:"))).toBe(true);
    // Both went to the second entry: the first failed once, then rested.
    expect(stack.sim.posts.map((p) => stack.sim.parentOf(p.channelId))).toEqual([stack.channels[1].id, stack.channels[1].id]);
    const entries = (await json(await stack.fetch("/readyz"))).models[0].entries;
    expect(entries[0].cooling_down_seconds).toBeGreaterThan(0);
    stack.channels[0].denied.delete(stack.bots[0].id);
    await Bun.sleep(450);
    await ask(stack, "three");
    await ask(stack, "four");
    expect(stack.sim.posts.slice(2).map((p) => stack.sim.parentOf(p.channelId)).sort()).toEqual([stack.channels[0].id, stack.channels[1].id].sort());
  });

  test("5xx on the post (after discord.js's one retry) and an unknown channel move on too", async () => {
    const stack = await stackWith({
      entries: [
        { model: MODEL, coze: 0, channelId: "123456789012345678" },
        { model: MODEL, coze: 1 },
        { model: MODEL, coze: 2 },
      ],
      settings: { failureCooldownMs: 60_000 },
    });
    expect((await ask(stack, "unknown channel")).choices[0].message.content).toStartWith("You said:");
    stack.sim.failPosts(2, 502);
    expect((await ask(stack, "server error")).choices[0].message.content).toStartWith("You said:");
    const entries = (await json(await stack.fetch("/readyz"))).models[0].entries;
    expect(entries.filter((e: any) => e.cooling_down_seconds > 0)).toHaveLength(2);
    expect(stack.app.metrics.render()).toContain('coze_proxy_discord_post_failures_total{status="404"} 1');
  });

  test("a broken connection on the post moves the request on", async () => {
    const stack = await twoEntries({ failureCooldownMs: 60_000 });
    stack.sim.failPosts(1, 0);
    expect((await ask(stack, "through a broken network")).choices[0].message.content).toStartWith("You said: through a broken network");
    expect(stack.app.metrics.render()).toContain('coze_proxy_discord_post_failures_total{status="0"} 1');
    expect(stack.logs.some((l) => l.includes("call failed; trying the next entry") && l.includes("could not be reached"))).toBe(true);
  });

  test("a rate limit longer than the start deadline is a 429 with retry-after, not a 502, and rests no entry", async () => {
    const stack = await twoEntries({}, { rateLimit: { limit: 1, windowMs: 60_000 } });
    await ask(stack, "first");
    await ask(stack, "second");
    const started = Date.now();
    const third = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody("gpt-test", "third: both channels are now limited for a minute") });
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(third.headers.get("x-should-retry")).toBeNull();
    expect((await json(third)).error.code).toBe("discord_rate_limited");
    // Refused as soon as discord.js knew the wait would outlast REPLY_START_TIMEOUT (3 s here), not after it.
    expect(Date.now() - started).toBeLessThan(3000);
    const metrics = stack.app.metrics.render();
    expect(metrics).toMatch(/coze_proxy_discord_rate_limits_total [1-9]/);
    expect(metrics).toMatch(/coze_proxy_discord_rate_limited_calls_total [1-9]/);
    expect(metrics).not.toContain('coze_proxy_discord_post_failures_total{status="429"}');
    for (const entry of (await json(await stack.fetch("/readyz"))).models[0].entries) expect(entry.cooling_down_seconds).toBe(0);
  });

  test("a quota error is counted by kind in /metrics", async () => {
    const stack = await twoEntries({ failureCooldownMs: 400 });
    stack.sim.script(stack.cozes[0], { error: COZE_ERRORS.creditsToday });
    stack.sim.script(stack.cozes[1], { error: COZE_ERRORS.somethingWrong });
    await ask(stack, "x").catch(() => {});
    const text = await (await fetch(`${stack.base}/metrics`)).text();
    expect(text).toContain('coze_proxy_coze_errors_total{kind="quota"} 1');
    expect(text).toContain('coze_proxy_coze_errors_total{kind="failure"} 1');
  });
});

describe("overload", () => {
  test("beyond MAX_IN_FLIGHT a fast 429 with retry-after, not a queue", async () => {
    const stack = await stackWith({ settings: { maxInFlight: 2 } });
    stack.sim.script(stack.cozes[0], { text: "slow one", firstDelayMs: 600 }, { text: "slow two", firstDelayMs: 600 });
    const slow = [ask(stack, "a"), ask(stack, "b")];
    await stack.sim.waitFor(() => stack.app.pool.tracking.following === 2);
    const res = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "c") });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("1");
    expect((await json(res)).error.code).toBe("overloaded");
    expect((await Promise.all(slow)).map((c) => c.choices[0].message.content)).toEqual(["slow one", "slow two"]);
    expect((await ask(stack, "after")).choices[0].message.content).toStartWith("You said: after");
  });

  test("MAX_IN_FLIGHT_PER_BOT skips a full entry; all full is a 429", async () => {
    const stack = await twoEntries({ maxInFlightPerBot: 1 });
    for (const coze of stack.cozes) stack.sim.script(coze, { text: "busy", firstDelayMs: 600 });
    const slow = [ask(stack, "a"), ask(stack, "b")];
    await stack.sim.waitFor(() => stack.app.pool.tracking.following === 2);
    const third = await ask(stack, "c").catch((e: any) => e);
    expect(third).toBeInstanceOf(OpenAI.RateLimitError);
    expect(third.code).toBe("overloaded");
    await Promise.all(slow);
    expect(new Set(stack.sim.posts.map((p) => stack.sim.parentOf(p.channelId))).size).toBe(2);
  });
});

describe("shutdown and reload", () => {
  test("stop lets short replies finish and ends long ones with an error event", async () => {
    const stack = await startStack({ settings: { shutdownGraceMs: 500 } });
    stack.cozes[0].behaviour = (prompt) =>
      prompt === "quick" ? { text: "quick enough", firstDelayMs: 200 } : { text: "far too slow for the grace period", steps: 30, editIntervalMs: 100 };
    const quick = ask(stack, "quick");
    const slow = streamOf(stack, "slow");
    await stack.sim.waitFor(() => stack.app.pool.tracking.following === 2);
    const stopped = stack.app.stop();
    const [q, s] = await Promise.all([quick, slow]);
    await stopped;
    await stack.sim.stop();
    expect(q.choices[0].message.content).toBe("quick enough");
    expect(s.done).toBe(false);
    expect(s.text.length).toBeGreaterThan(0);
    expect(s.events.at(-1).error).toMatchObject({ code: "bot_unavailable", message: "The service is shutting down." });
  });

  test("reload applies a new bot list; a request in flight on a removed entry still finishes", async () => {
    const stack = await stackWith({ entries: [{ model: "old-model", coze: 0 }, { model: MODEL, coze: 1 }] });
    stack.sim.script(stack.cozes[0], { text: "finished on the old list", steps: 10, editIntervalMs: 60 });
    const inFlight = ask(stack, "long", "old-model");
    await stack.sim.waitFor(() => stack.app.pool.tracking.following === 1);
    await stack.app.reload([{ ...stack.entries[1], index: 0 }, { ...stack.entries[1], index: 1, model: "new-model" }]);
    expect((await inFlight).choices[0].message.content).toBe("finished on the old list");
    const models = (await json(await stack.fetch("/v1/models"))).data.map((m: any) => m.id);
    expect(models).toEqual([MODEL, "new-model"]);
    expect((await ask(stack, "hi", "new-model")).choices[0].message.content).toStartWith("You said: hi");
    expect((await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody("old-model", "x") })).status).toBe(404);
  });
});
