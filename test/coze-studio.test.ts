/**
 * A self-hosted Coze Studio behind an API entry, through the real path: the
 * openai SDK → the service → the simulated Studio (its end event with an
 * empty data line, its errors, its string ids). Then the rest of Coze's
 * codes on coze.com's dialect, and `check` for each new failure.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type OpenAI from "openai";
import { runCheck } from "../lib/check/check.ts";
import type { ApiEntry } from "../lib/config/bots.ts";
import { readSettings } from "../lib/config/settings.ts";
import { CozeApiSimulator } from "../lib/simulator/coze-api.ts";
import { chatBody, json, readSse, stackPerTest, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-studio";
const PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const post = (stack: Stack, body: object) => stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify(body) });

describe("Coze Studio: a bot entry", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ entries: [], api: [{ model: MODEL }], apiDialect: "studio" });
  });
  afterAll(() => stack.stop());
  const bot = () => stack.apiBots[0];
  const last = () => stack.apiSim.chats.at(-1)!;

  test("JSON and SSE answers equal Studio's, with its usage; \"stream\": true always sent", async () => {
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi studio" }] });
    expect(completion.choices[0].message.content).toBe("API says: hi studio");
    expect(completion.choices[0].message.content).toBe(last().answer);
    expect(completion.usage).toEqual({ prompt_tokens: last().usage!.input_count, completion_tokens: last().usage!.output_count, total_tokens: last().usage!.token_count });
    expect(last().stream).toBe(true);

    bot().queue.push({ text: ["First part.", "Second part."], deltas: 5 });
    const { events, done } = await readSse(await post(stack, { model: MODEL, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "stream" }] }));
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe("First part.\nSecond part.");
    expect(events.at(-1).usage.completion_tokens).toBe(last().usage!.output_count);
    expect(done).toBe(true);
  });

  test("a three-turn conversation stays in one Studio conversation and sends only its new turns", async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "one" }];
    for (const next of ["two", "three"]) {
      const c = await stack.openai.chat.completions.create({ model: MODEL, messages });
      messages.push(c.choices[0].message as OpenAI.Chat.Completions.ChatCompletionMessageParam, { role: "user", content: next });
    }
    const first = stack.apiSim.chats.at(-2)!.conversationId;
    const answer = await stack.openai.chat.completions.create({ model: MODEL, messages });
    expect(last().conversationId).toBe(first);
    expect(last().conversationId).toMatch(/^\d{19}$/); // a string id, kept whole
    expect(last().continued).toBe(true);
    expect(last().additional.map((m) => m.content)).toEqual(["three"]);
    expect(answer.choices[0].message.content).toBe("API says: three (after 4 messages)");
  });

  test("an image goes in as an object_string item with the uploaded file's id", async () => {
    await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: [{ type: "text", text: "see" }, { type: "image_url", image_url: { url: PIXEL } }] }] });
    const items = JSON.parse(last().additional.at(-1)!.content);
    expect(items[0]).toEqual({ type: "text", text: "see" });
    expect(stack.apiSim.files.get(items[1].file_id)!.type).toBe("image/png");
  });

  test("reasoning comes as reasoning_content, in the message and in stream deltas, never in content", async () => {
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "think first" }] });
    const message = completion.choices[0].message as { content: string; reasoning_content?: string };
    expect(message.content).toBe("API says: think first");
    expect(message.reasoning_content).toStartWith("The user wrote");
    const { events } = await readSse(await post(stack, { model: MODEL, stream: true, messages: [{ role: "user", content: "reason again" }] }));
    const thinking = events.map((e) => e.choices[0]?.delta.reasoning_content ?? "").join("");
    expect(thinking).toStartWith("The user wrote");
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe("API says: reason again");
    expect(events.findIndex((e) => e.choices[0]?.delta.reasoning_content)).toBeLessThan(events.findIndex((e) => e.choices[0]?.delta.content));
  });

  test("HTTP 400 and a 103… run error are 502s with Studio's message; a close right after completed is complete", async () => {
    bot().queue.push({ refuse: { status: 400, code: 400, msg: "parameters field should be an object, not a string" } });
    const bad = await post(stack, { model: MODEL, messages: [{ role: "user", content: "x" }] });
    expect(bad.status).toBe(502);
    expect((await json(bad)).error.message).toContain("parameters field should be an object, not a string");
    bot().queue.push({ fail: { code: 103100001, msg: "code=103100001 message=agent run error : model unavailable\nstack=/app/backend/x.go:1 run\n" } });
    const run = await post(stack, { model: MODEL, stream: true, messages: [{ role: "user", content: "x" }] });
    expect(run.status).toBe(502); // a streamed request: nothing was sent yet, so the status holds
    const error = (await json(run)).error;
    expect(error.message).toContain("(code 103100001): code=103100001 message=agent run error : model unavailable");
    expect(error.message).not.toContain("stack=");
    bot().queue.push({ text: "complete anyway", cut: "after-completed" });
    expect((await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }] })).choices[0].message.content).toBe("complete anyway");
  });
});

describe("Coze Studio: failover", () => {
  const stackFor = stackPerTest({ settings: { replyStartTimeoutMs: 1500 } });

  test("a stream cut before completed moves on to the model's other entry", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL }, { model: MODEL }], apiDialect: "studio" });
    stack.apiBots[0].queue.push({ text: "a broken answer cut in the middle", deltas: 6, cut: "before-completed" });
    stack.apiBots[1].queue.push({ text: "the other entry" });
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }] });
    expect(completion.choices[0].message.content).toBe("the other entry");
    expect(stack.apiSim.chats.map((c) => c.botId)).toEqual([stack.apiBots[0].id, stack.apiBots[1].id]);
  });

  test("a bad Studio token (HTTP 200, code 700012006) takes its entry down; the other entry answers", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL, token: "pat_not_on_this_studio" }, { model: MODEL }], apiDialect: "studio" });
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries[0]).toMatchObject({ via: "api", state: "down", problem: expect.stringContaining("700012006") });
    for (let i = 0; i < 2; i++) {
      expect((await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `turn ${i}` }] })).choices[0].message.content).toBe(`API says: turn ${i}`);
    }
    expect(stack.apiSim.chats.every((c) => c.botId === stack.apiBots[1].id)).toBe(true);
  });

  test("a token revoked while serving: Studio's 700012006 mid-service takes the entry down and the request moves on", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL }, { model: MODEL }], apiDialect: "studio" });
    stack.apiSim.tokens.delete(stack.apiEntries[0].coze_api_token);
    for (let i = 0; i < 2; i++) await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `q${i}` }] });
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries.map((e: { state: string }) => e.state)).toEqual(["down", "ready"]);
  });

  test("a bot not published to Studio's API channel is down, in Studio's words", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL, published: false }, { model: MODEL }], apiDialect: "studio" });
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries[0].problem).toContain("not published to the API channel (Coze Studio: \"invalid parameter : agent not published");
    expect((await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }] })).choices[0].message.content).toBe("API says: x");
  });
});

describe("the rest of Coze's codes", () => {
  const stackFor = stackPerTest({ settings: { replyStartTimeoutMs: 1500 } });
  const two = () => stackFor({ entries: [], api: [{ model: MODEL }, { model: MODEL }] });

  test("4010: a 400 context_length_exceeded, not the entry's fault (no other entry tried, the entry stays ready)", async () => {
    const stack = await two();
    stack.apiBots[0].queue.push({ refuse: { status: 200, code: 4010, msg: "The input is longer than the model's context length." } });
    const response = await post(stack, { model: MODEL, messages: [{ role: "user", content: "a very long story" }] });
    expect(response.status).toBe(400);
    expect((await json(response)).error).toMatchObject({ type: "invalid_request_error", code: "context_length_exceeded" });
    expect(stack.apiSim.chats).toHaveLength(0);
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries.map((e: { state: string }) => e.state)).toEqual(["ready", "ready"]);
  });

  test.each([4027, 4028])("%i: quota; the entry rests and the request fails over, else 429", async (code) => {
    const stack = await two();
    stack.apiBots[0].queue.push({ fail: { code, msg: "no credits" } });
    expect((await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "q" }] })).choices[0].message.content).toBe("API says: q");
    const alone = await stackFor({ entries: [], api: [{ model: MODEL }] });
    alone.apiBots[0].queue.push({ refuse: { status: 200, code, msg: "no credits" } });
    const response = await post(alone, { model: MODEL, messages: [{ role: "user", content: "q" }] });
    expect(response.status).toBe(429);
  });

  test("4200 on a continued conversation: a new one with the whole history; on a new chat: the entry is down", async () => {
    const stack = await two();
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "remember me" }];
    const first = await stack.openai.chat.completions.create({ model: MODEL, messages }, { headers: { "x-conversation-id": "gone" } });
    const home = stack.apiSim.chats.at(-1)!;
    stack.apiSim.conversations.delete(home.conversationId); // Coze forgot it
    messages.push(first.choices[0].message as OpenAI.Chat.Completions.ChatCompletionMessageParam, { role: "user", content: "still there?" });
    const again = await stack.openai.chat.completions.create({ model: MODEL, messages }, { headers: { "x-conversation-id": "gone" } });
    expect(again.choices[0].message.content).toBe("API says: still there?");
    const fresh = stack.apiSim.chats.at(-1)!;
    expect(fresh.botId).toBe(home.botId); // the same entry
    expect(fresh.continued).toBe(false);
    expect(fresh.additional.map((m) => m.content)).toEqual(["remember me", "API says: remember me", "still there?"]);

    const other = stack.apiBots.find((b) => b.id !== home.botId)!;
    other.queue.push({ refuse: { status: 200, code: 4200, msg: "Resource not found." } });
    stack.apiBots.find((b) => b.id === home.botId)!.queue.push({ text: "answered here" });
    // Round-robin takes the other entry next: its 4200 on a new chat takes it down, and the request moves on.
    const moved = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "new" }] });
    expect(moved.choices[0].message.content).toBe("answered here");
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries.find((e: { problem?: string }) => e.problem)?.problem).toContain("4200");
  });

  test("4300–4304: a 400 naming the image part; 5000: a 502", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL }] });
    stack.apiBots[0].queue.push({ refuse: { status: 200, code: 4302, msg: "The file could not be downloaded." } });
    const image = await post(stack, { model: MODEL, messages: [{ role: "user", content: "x" }, { role: "assistant", content: "y" }, { role: "user", content: [{ type: "text", text: "this" }, { type: "image_url", image_url: { url: PIXEL } }] }] });
    expect(image.status).toBe(400);
    expect((await json(image)).error).toMatchObject({ code: "invalid_image", param: "messages[2].content[1]", message: expect.stringContaining("'messages[2].content[1]'") });
    stack.apiBots[0].queue.push({ streamError: { code: 5000, msg: "Internal server error." } });
    const internal = await post(stack, { model: MODEL, messages: [{ role: "user", content: "x" }] });
    expect(internal.status).toBe(502);
    expect((await json(internal)).error.message).toContain("(code 5000)");
  });
});

describe("check on Studio and chatflow entries", () => {
  const sims: CozeApiSimulator[] = [];
  afterAll(() => Promise.all(sims.map((s) => s.stop())));

  test("one row per new failure: Studio's bad token, a bot not published to its API channel, an unknown chatflow; ok rows for a bot and a chatflow", async () => {
    const studio = new CozeApiSimulator({ dialect: "studio" }).start();
    sims.push(studio);
    const token = studio.addToken();
    const entry = (i: number, fields: Partial<ApiEntry>): ApiEntry => ({ kind: "api", index: i, model: "m", coze_api_token: token, api_base: studio.url, ...fields });
    const entries = [
      entry(0, { bot_id: studio.addBot().id }),
      entry(1, { bot_id: studio.addBot().id, coze_api_token: "pat_wrong" }),
      entry(2, { bot_id: studio.addBot(false).id }),
      entry(3, { workflow_id: studio.addWorkflow().id }),
      entry(4, { workflow_id: "7400000000000099999" }),
    ];
    const settings = { ...readSettings({ AUTH_TOKEN: "k" }), replyStartTimeoutMs: 1500, replyQuietMs: 500 };
    const rows = await runCheck(settings, entries);
    expect(rows.map((r) => r.ok)).toEqual([true, false, false, true, false]);
    expect(rows[1].problem).toContain("700012006");
    expect(rows[2].problem).toContain('the bot is not published to the API channel (Coze Studio: "invalid parameter : agent not published');
    expect(rows[4].problem).toContain("empty body");
    expect(rows[4].fix).toContain("workflow_id");
  });
});
