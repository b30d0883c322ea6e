/**
 * Chat completions through the whole path, beyond one bot's answers: long
 * waits, timeouts, and several bots of one model (round-robin, failover).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { PROBE } from "../lib/pool/seam.ts";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";
import { chatBody, json, readSse, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-test";
const ask = (stack: Stack, content: string, extra: object = {}) =>
  stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content }], ...extra } as any) as Promise<OpenAI.ChatCompletion>;


describe("long waits", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ settings: { idleTimeoutSeconds: 1, keepaliveMs: 300, replyStartTimeoutMs: 10_000, replyQuietMs: 200 } });
  });
  afterAll(() => stack.stop());

  test("Bun's idle timer never cuts a request waiting for Coze", async () => {
    stack.sim.script(stack.cozes[0], { text: "worth the wait", firstDelayMs: 2500 });
    expect((await ask(stack, "patience")).choices[0].message.content).toBe("worth the wait");
  });

  test("a waiting stream sends nothing until REPLY_QUIET + 5 s, then opens with the role chunk and sends keepalive comments", async () => {
    stack.sim.script(stack.cozes[0], { text: "finally", firstDelayMs: 6500 });
    const started = performance.now();
    const res = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "patience", { stream: true }) });
    // Until then a failure could still be answered with its HTTP status.
    expect(performance.now() - started).toBeGreaterThanOrEqual(5150);
    const { events, done, raw } = await readSse(res);
    expect(done).toBe(true);
    expect(raw.split(": keepalive\n\n").length - 1).toBeGreaterThanOrEqual(3);
    expect(raw.indexOf(": keepalive")).toBeGreaterThan(raw.indexOf('"role":"assistant"'));
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe("finally");
  });
});

describe("timeouts", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ settings: { replyQuietMs: 5000, replyTimeoutMs: 600 } });
  });
  afterAll(() => stack.stop());

  test("REPLY_TIMEOUT returns what came with finish_reason length", async () => {
    stack.sim.script(stack.cozes[0], { text: "this reply takes far too long to finish", steps: 40, editIntervalMs: 50 });
    const completion = await ask(stack, "slow");
    expect(completion.choices[0].finish_reason).toBe("length");
    const content = completion.choices[0].message.content!;
    expect(content.length).toBeGreaterThan(0);
    expect("this reply takes far too long to finish".startsWith(content)).toBe(true);
  });
});

describe("several bots", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      bots: 2,
      entries: [
        { model: MODEL, coze: 0, bot: 0 },
        { model: MODEL, coze: 1, bot: 1 },
        { model: MODEL, coze: 2, bot: 0 },
      ],
      settings: { replyQuietMs: 300 },
    });
  });
  afterAll(() => stack.stop());
  const byChannel = (since: number) => {
    const counts = new Map<string, number>();
    for (const p of stack.sim.posts.slice(since)) counts.set(stack.sim.parentOf(p.channelId), (counts.get(stack.sim.parentOf(p.channelId)) ?? 0) + 1);
    return stack.channels.map((c) => counts.get(c.id) ?? 0);
  };

  test("round-robin spreads requests evenly over the model's entries", async () => {
    const since = stack.sim.posts.length;
    for (let i = 0; i < 6; i++) await ask(stack, `turn ${i}`);
    expect(byChannel(since)).toEqual([2, 2, 2]);
  });

  test("many concurrent requests each receive their own reply", async () => {
    const prompts = Array.from({ length: 24 }, (_, i) => `concurrent prompt number ${i} 🎲`);
    const results = await Promise.all(prompts.map((p, i) => (i % 2 ? ask(stack, p) : streamText(stack, p))));
    results.forEach((r, i) => {
      const text = typeof r === "string" ? r : r.choices[0].message.content!;
      expect(text).toStartWith(`You said: ${prompts[i]}\n\n`);
    });
  });

  test("another Coze error moves the request on; when every bot fails it is a 502", async () => {
    for (const coze of stack.cozes) stack.sim.script(coze, { error: COZE_ERRORS.unusualTraffic });
    stack.sim.script(stack.cozes[0], { text: "recovered" });
    stack.sim.script(stack.cozes[1], { text: "recovered" });
    stack.sim.script(stack.cozes[2], { text: "recovered" });
    const error = await ask(stack, "all failing").catch((e: any) => e);
    expect(error.status).toBe(502);
    expect(error.message).toContain("unusual traffic");
    expect((await ask(stack, "after")).choices[0].message.content).toBe("recovered");
  });

  test("a quota text moves the request to another bot; the first rests once its probe meets a quota too; all exhausted is a 429", async () => {
    for (const coze of stack.cozes) coze.queue.length = 0;
    // Round-robin continues from the entry after the one that took the last post.
    const next = (stack.channels.findIndex((c) => c.id === stack.sim.parentOf(stack.sim.posts.at(-1)!.channelId)) + 1) % 3;
    const [first, second, third] = [0, 1, 2].map((k) => stack.cozes[(next + k) % 3]);
    const since = stack.sim.posts.length;
    // The reply, then the suspect entry's probe: a quota both times.
    stack.sim.script(first, { error: COZE_ERRORS.dailyLimit }, { error: COZE_ERRORS.dailyLimit });
    stack.sim.script(second, { text: "second answers" });
    const answered = await ask(stack, "quota one");
    expect(answered.choices[0].message.content).toBe("second answers");
    const prompts = stack.sim.posts.slice(since).filter((p) => !p.content.includes(PROBE));
    expect(prompts.map((p) => stack.sim.parentOf(p.channelId))).toEqual([(next + 0) % 3, (next + 1) % 3].map((k) => stack.channels[k].id));

    // The bot whose probe met a quota text too rests: the next requests go to the others only.
    const resting = async () => (await json(await stack.fetch("/readyz"))).models[0].entries.map((e: any) => e.cooling_down_seconds > 0);
    await until(async () => (await resting())[next]);
    expect(await resting()).toEqual([0, 1, 2].map((k) => k === next));
    stack.sim.script(third, { text: "third answers" });
    stack.sim.script(second, { text: "second again" });
    expect((await ask(stack, "skip the resting one")).choices[0].message.content).toBe("third answers");
    expect((await ask(stack, "and again")).choices[0].message.content).toBe("second again");

    // Round-robin is at third: its quota text makes it suspect (its probe meets one too); second's, the second
    // quota text of that request, touches nothing.
    stack.sim.script(third, { error: COZE_ERRORS.creditsToday }, { error: COZE_ERRORS.creditsToday });
    stack.sim.script(second, { error: COZE_ERRORS.freeCredits });
    const error = await ask(stack, "quota all").catch((e: any) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.message).toContain("Coze quota exhausted");
    expect(Number(error.headers.get("retry-after"))).toBeGreaterThan(60);
    expect(await resting()).toEqual([0, 1, 2].map((k) => k !== (next + 1) % 3));
    stack.sim.script(second, { text: "second was never touched" });
    expect((await ask(stack, "still?")).choices[0].message.content).toBe("second was never touched");
  });
});

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(50);
  }
}

async function streamText(stack: Stack, content: string): Promise<string> {
  const stream = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content }], stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  return text;
}
