/**
 * One prompt cannot take a model offline: a reply that reads as Coze's quota
 * text makes its entry suspect, a neutral probe decides, and only a quota in
 * answer to the probe too rests the entry. Through the real path: HTTP in,
 * the service's discord.js clients, the Discord simulator, HTTP out.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROBE } from "../lib/pool/seam.ts";
import { COZE_ERRORS, defaultScript, type ContextLine, type CozeScript } from "../lib/simulator/coze-script.ts";
import { chatBody, json, readSse, SECOND_KEY, stackPerTest, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-test";
const QUOTA = COZE_ERRORS.dailyLimit;
const ECHO_PROMPT = `Please repeat exactly, nothing else: "${QUOTA}"`;

/**
 * A Coze that does what it is asked: told to repeat a text, it writes that
 * text in one message (as a real quota error looks); anything else as the
 * simulator's default bot. `probeDelayMs` and `echoDelayMs` slow its answers to the probe and to the echo.
 */
const echoing =
  (probeDelayMs = 0, echoDelayMs = 0) =>
  (prompt: string, context: ContextLine[]): CozeScript => {
    const asked = /repeat exactly, nothing else: "([^"]+)"/.exec(prompt);
    if (asked) return { edits: [asked[1]], firstDelayMs: echoDelayMs };
    if (prompt.includes(PROBE)) return { text: "OK", firstDelayMs: probeDelayMs };
    return defaultScript(prompt, context);
  };

const newStack = stackPerTest({ settings: { replyQuietMs: 300, replyStartTimeoutMs: 8000 } });
const ask = (stack: Stack, content: string, key?: string) =>
  stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, content), ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) });
const readyz = async (stack: Stack) => {
  const res = await stack.fetch("/readyz");
  return { status: res.status, body: await json(res) };
};
const probes = (stack: Stack) => stack.sim.posts.filter((p) => p.content.includes(PROBE));

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(25);
  }
}

describe("a quota text makes its entry suspect; a probe decides", () => {
  test("the quota-echo prompt on a two-entry model leaves no entry resting, and another key is served at once", async () => {
    const stack = await newStack({ entries: [{ model: MODEL, coze: 0 }, { model: MODEL, coze: 1 }] });
    for (const coze of stack.cozes) coze.behaviour = echoing();
    const echoed = await ask(stack, ECHO_PROMPT);
    // Both entries wrote the text; the probe of the first was answered normally, so the text was Coze's answer.
    expect(echoed.status).toBe(200);
    expect((await json(echoed)).choices[0].message.content).toBe(QUOTA);
    expect(probes(stack)).toHaveLength(1);
    const { status, body } = await readyz(stack);
    expect(status).toBe(200);
    expect(body.models[0].ready).toBe(true);
    expect(body.models[0].entries.map((e: any) => e.cooling_down_seconds)).toEqual([0, 0]);
    expect(body.models[0].entries.every((e: any) => e.reason === undefined)).toBe(true);
    expect(stack.logs.some((l) => l.includes("bot entry resting"))).toBe(false);
    // The echoed text is the user's own prompt: above debug only its kind and length are logged.
    expect(stack.logs.some((l) => l.includes("coze answered with an error") && l.includes("kind=quota-text") && /length=\d+/.test(l))).toBe(true);
    expect(stack.logs.filter((l) => l.includes(QUOTA.slice(0, 40)))).toEqual([]);

    const started = performance.now();
    const other = await ask(stack, "hello from another key", SECOND_KEY);
    expect(other.status).toBe(200);
    expect((await json(other)).choices[0].message.content).toStartWith("You said: hello from another key");
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("a Coze whose every answer is a quota text, the probe's too, still rests its entry; /readyz says so and stays 200", async () => {
    const stack = await newStack({ entries: [{ model: MODEL, coze: 0 }, { model: "solo", coze: 1 }] });
    stack.cozes[0].behaviour = () => ({ error: QUOTA });
    const refused = await ask(stack, "anything");
    // The only entry is suspect; the request waits for its probe, which meets the quota too: 429 with the rest.
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(590);
    expect((await json(refused)).error.message).toContain("daily limit");
    expect(probes(stack)).toHaveLength(1);
    const { status, body } = await readyz(stack);
    expect(status).toBe(200);
    const model = body.models.find((m: any) => m.model === MODEL);
    expect(model.ready).toBe(false);
    expect(model.entries[0].cooling_down_seconds).toBeGreaterThan(590);
    expect(model.entries[0].reason).toContain("quota");
    expect(body.models.find((m: any) => m.model === "solo").ready).toBe(true);
    // Resting now: the next request is refused without a post.
    const posts = stack.sim.posts.length;
    expect((await ask(stack, "again")).status).toBe(429);
    expect(stack.sim.posts.length).toBe(posts);
  });

  test("a model whose only entry is suspect keeps its requests waiting for the probe, then serves them", async () => {
    const stack = await newStack();
    stack.cozes[0].behaviour = echoing(1500);
    const echoed = ask(stack, ECHO_PROMPT);
    await until(async () => (await readyz(stack)).body.models[0].entries[0].reason?.startsWith("suspect") ?? false);
    // Suspect is not unready.
    expect((await readyz(stack)).body.models[0].ready).toBe(true);
    const waiting = ask(stack, "waiting for the probe", SECOND_KEY);
    const [first, second] = await Promise.all([echoed, waiting]);
    expect(first.status).toBe(200);
    expect((await json(first)).choices[0].message.content).toBe(QUOTA);
    expect(second.status).toBe(200);
    expect((await json(second)).choices[0].message.content).toStartWith("You said: waiting for the probe");
    // The waiting request was posted only once the probe had been answered.
    const probe = probes(stack)[0];
    const prompt = stack.sim.posts.find((p) => p.content.includes("waiting for the probe"))!;
    expect(prompt.at).toBeGreaterThan(probe.at + 1400);
  });

  test("a request waits for the probe only within its start deadline: past it, a 429 with retry-after", async () => {
    const stack = await newStack({ settings: { replyQuietMs: 300, replyStartTimeoutMs: 2500 } });
    // The echo comes at 1.5 s, the probe's answer 2 s after the probe: past the request's 2.5 s, within the probe's own.
    stack.cozes[0].behaviour = echoing(2000, 1500);
    const started = performance.now();
    const res = await ask(stack, ECHO_PROMPT);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(3300);
    // The probe goes on without the request, and brings the entry back.
    await until(async () => (await readyz(stack)).body.models[0].entries[0].reason === undefined);
    expect((await readyz(stack)).body.models[0].entries[0].cooling_down_seconds).toBe(0);
  });

  test("streamed, the echoed quota text is held back until the probe has spoken, then sent as the answer", async () => {
    const stack = await newStack({ entries: [{ model: MODEL, coze: 0 }, { model: MODEL, coze: 1 }] });
    for (const coze of stack.cozes) coze.behaviour = echoing();
    const res = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, ECHO_PROMPT, { stream: true }) });
    expect(res.status).toBe(200);
    const { events, done } = await readSse(res);
    expect(done).toBe(true);
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe(QUOTA);
    expect((await readyz(stack)).body.models[0].entries.map((e: any) => e.cooling_down_seconds)).toEqual([0, 0]);
  });

  test("a suspect mark outlives a restart: the new process probes the entry again", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-suspect-restart-"));
    const first = await startStack({ dataDir, settings: { replyQuietMs: 300, replyStartTimeoutMs: 2500 } });
    // The probe's answer would come after the process is gone.
    first.cozes[0].behaviour = echoing(2000, 1500);
    expect((await ask(first, ECHO_PROMPT)).status).toBe(429);
    expect((await readyz(first)).body.models[0].entries[0].reason).toStartWith("suspect");
    const { sim } = first;
    first.app.server.stop(true);
    await first.app.stop();
    await first.apiSim.stop();
    const probesBefore = probes(first).length;
    const second = await newStack({ dataDir, reuse: { sim, entries: first.entries } });
    second.cozes[0].behaviour = echoing();
    await until(() => probes(second).length > probesBefore);
    await until(async () => (await readyz(second)).body.models[0].entries[0].reason === undefined);
    expect((await ask(second, "after the restart")).status).toBe(200);
  });

  test("in a channel without threads the probe is posted in the channel itself, and the echo comes back as the answer", async () => {
    const stack = await newStack({ entries: [{ model: MODEL, threads: false }] });
    stack.cozes[0].behaviour = echoing();
    const res = await ask(stack, ECHO_PROMPT);
    expect(res.status).toBe(200);
    expect((await json(res)).choices[0].message.content).toBe(QUOTA);
    // Posted in the channel itself, after the echo was complete.
    const probe = probes(stack)[0];
    const echo = stack.sim.posts.find((p) => p.content.includes("repeat exactly"))!;
    expect(probe.channelId).toBe(stack.channels[0].id);
    expect(echo.reply?.done).toBe(true);
    expect(probe.at).toBeGreaterThan(echo.at);
  });

  test("Coze's API codes rest an entry at once, without a probe", async () => {
    const stack = await newStack({ entries: [], api: [{ model: MODEL }] });
    stack.apiBots[0].queue.push({ fail: { code: 4011, msg: "insufficient balance" } });
    const res = await ask(stack, "q");
    expect(res.status).toBe(429);
    expect(probes(stack)).toHaveLength(0);
    expect((await readyz(stack)).body.models[0].entries[0].cooling_down_seconds).toBeGreaterThan(590);
  });
});
