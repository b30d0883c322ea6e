/**
 * Coze's official API as a second way in. First the simulator's
 * truth, with the official `@coze/api` SDK as its client; then the real
 * path: the openai SDK → the service → the simulated Coze API (and the
 * Discord simulator, for a model served both ways).
 */
import { APIError, ChatEventType, CozeAPI, RoleType } from "@coze/api";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { createReadStream, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CozeApiSimulator } from "../lib/simulator/coze-api.ts";
import { startApp } from "../lib/app.ts";
import { readSettings } from "../lib/config/settings.ts";
import { json, KEY, readSse, stackPerTest, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-api";

describe("the simulated Coze API speaks what the official SDK expects", () => {
  const sim = new CozeApiSimulator();
  let token: string;
  let botId: string;
  beforeAll(() => {
    sim.start();
    token = sim.addToken();
    botId = sim.addBot().id;
  });
  afterAll(() => sim.stop());
  const sdk = (auth = token) => new CozeAPI({ token: auth, baseURL: sim.url });

  test("chat.stream: created, in progress, answer deltas, completed messages, verbose, follow-ups, usage, done", async () => {
    const events: { event: string; data: any }[] = [];
    for await (const part of await sdk().chat.stream({ bot_id: botId, user_id: "u1", additional_messages: [{ role: RoleType.User, content: "hello", content_type: "text" }] })) {
      events.push(part);
    }
    const kinds = events.map((e) => (e.event.startsWith("conversation.message") ? `${e.event}:${e.data.type}` : e.event));
    expect(kinds[0]).toBe(ChatEventType.CONVERSATION_CHAT_CREATED);
    expect(kinds[1]).toBe(ChatEventType.CONVERSATION_CHAT_IN_PROGRESS);
    expect(kinds.filter((k) => k === "conversation.message.delta:answer").length).toBeGreaterThan(1);
    expect(kinds.slice(-6)).toEqual([
      "conversation.message.completed:answer",
      "conversation.message.completed:verbose",
      "conversation.message.completed:follow_up",
      "conversation.message.completed:follow_up",
      ChatEventType.CONVERSATION_CHAT_COMPLETED,
      ChatEventType.DONE,
    ]);
    expect(events.at(-1)!.data).toBe("[DONE]");
    const text = events.filter((e) => e.event === ChatEventType.CONVERSATION_MESSAGE_DELTA).map((e) => e.data.content).join("");
    expect(text).toBe("API says: hello");
    expect(events.at(-2)!.data.usage).toEqual(sim.chats.at(-1)!.usage);
  });

  test("conversations keep their messages; files upload; bots retrieve", async () => {
    const conversation = await sdk().conversations.create({ bot_id: botId });
    const path = join(mkdtempSync(join(tmpdir(), "coze-sdk-")), "a.png");
    writeFileSync(path, new Uint8Array([137, 80, 78, 71]));
    const file = await sdk().files.upload({ file: createReadStream(path) });
    expect(file.id).toMatch(/^\d+$/);
    const content = JSON.stringify([{ type: "text", text: "see" }, { type: "image", file_id: file.id }]);
    for await (const _ of await sdk().chat.stream({ bot_id: botId, user_id: "u1", conversation_id: conversation.id, additional_messages: [{ role: RoleType.User, content, content_type: "object_string" }] })) void _;
    let again = "";
    for await (const part of await sdk().chat.stream({ bot_id: botId, user_id: "u1", conversation_id: conversation.id, additional_messages: [{ role: RoleType.User, content: "more", content_type: "text" }] })) {
      if (part.event === ChatEventType.CONVERSATION_MESSAGE_DELTA) again += part.data.content;
    }
    expect(again).toBe("API says: more (after 2 messages)");
    expect((await sdk().bots.retrieve({ bot_id: botId })).bot_id).toBe(botId);
  });

  test("errors: a bad token is HTTP 401 code 4100; an unpublished bot 4015; a quota refusal its code", async () => {
    const bad = await sdk("pat_wrong").bots.retrieve({ bot_id: botId }).catch((e) => e);
    expect(bad).toBeInstanceOf(APIError);
    expect(bad.code).toBe(4100);
    const hidden = sim.addBot(false);
    const unpublished = await sdk().bots.retrieve({ bot_id: hidden.id }).catch((e) => e);
    expect(unpublished.code).toBe(4015);
    // A refusal with HTTP 200 is a JSON body where a stream was expected: the SDK yields it as an `error` event.
    sim.bots.get(botId)!.queue.push({ refuse: { status: 200, code: 4008, msg: "usage limit" } });
    const events = [];
    for await (const part of await sdk().chat.stream({ bot_id: botId, user_id: "u1", additional_messages: [{ role: RoleType.User, content: "x", content_type: "text" }] })) events.push(part);
    expect(events).toEqual([{ event: ChatEventType.ERROR, data: expect.objectContaining({ code: 4008, msg: "usage limit" }) }]);
  });
});

describe("through the service", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ entries: [], api: [{ model: MODEL }] });
  });
  afterAll(() => stack.stop());
  const bot = () => stack.apiBots[0];
  const last = () => stack.apiSim.chats.at(-1)!;

  test("JSON and SSE answers equal Coze's, usage is Coze's counts, suggestions never in the text", async () => {
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi there" }] });
    expect(completion.choices[0].message.content).toBe(last().answer);
    expect(completion.choices[0].message.content).toBe("API says: hi there");
    expect(completion.usage).toEqual({ prompt_tokens: last().usage!.input_count, completion_tokens: last().usage!.output_count, total_tokens: last().usage!.token_count });
    expect(last().userId).toMatch(/^[0-9a-f]{16}$/); // a digest of the key, never the key

    bot().queue.push({ text: ["First part.", "Second part."], deltas: 5, followUps: ["Suggestion one"] });
    const { events, done } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "stream" }] }) }));
    const text = events.map((e) => e.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("First part.\nSecond part.");
    expect(events.filter((e) => e.choices[0]?.delta.content).length).toBeGreaterThan(2);
    expect(events.at(-1).usage.completion_tokens).toBe(last().usage!.output_count);
    expect(done).toBe(true);
  });

  test("a three-turn conversation sends only its new turns, in one conversation_id; interleaved ones never share", async () => {
    const ask = async (messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[]) => {
      const c = await stack.openai.chat.completions.create({ model: MODEL, messages });
      return [...messages, c.choices[0].message as OpenAI.Chat.Completions.ChatCompletionMessageParam];
    };
    let a = await ask([{ role: "system", content: "Be brief." }, { role: "user", content: "A one" }]);
    const first = last();
    expect(first.additional.map((m) => [m.role, m.content])).toEqual([["user", "System: Be brief."], ["user", "A one"]]);
    let b = await ask([{ role: "user", content: "B one" }]);
    a = await ask([...a, { role: "user", content: "A two" }]);
    expect(last().conversationId).toBe(first.conversationId);
    expect(last().continued).toBe(true);
    expect(last().additional.map((m) => m.content)).toEqual(["A two"]);
    b = await ask([...b, { role: "user", content: "B two" }]);
    expect(last().conversationId).not.toBe(first.conversationId);
    a = await ask([...a, { role: "user", content: "A three" }]);
    expect(last().conversationId).toBe(first.conversationId);
    expect(last().additional.map((m) => m.content)).toEqual(["A three"]);
    expect((a.at(-1) as { content: string }).content).toBe("API says: A three (after 5 messages)"); // Coze kept both earlier rounds: 2 + 1, then 1 + 1
  });

  test("image input is uploaded and sent as an object_string message; image answers are stored by the service", async () => {
    const pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    bot().queue.push({ text: "A picture:", image: true });
    const completion = await stack.openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: pixel } }] }],
    });
    const sent = last().additional.at(-1)!;
    expect(sent.content_type).toBe("object_string");
    const items = JSON.parse(sent.content);
    expect(items[0]).toEqual({ type: "text", text: "what is this?" });
    const uploaded = stack.apiSim.files.get(items[1].file_id)!;
    expect(uploaded.type).toBe("image/png");
    expect(Buffer.from(uploaded.bytes).toString("base64")).toBe(pixel.split(",")[1]); // bytes intact
    const link = /!\[image\]\((.+?)\)/.exec(completion.choices[0].message.content!)![1];
    expect(link.startsWith(stack.base + "/images/")).toBe(true);
    const served = await fetch(link);
    expect(served.headers.get("content-type")).toBe("image/png");
  });

  test("the Responses API and function calling work the same on the API: the instruction closes the user turn", async () => {
    bot().queue.push({ text: '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}' });
    const first = await stack.openai.responses.create({
      model: MODEL,
      input: "Oslo weather?",
      tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }],
    });
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"Oslo"}' });
    const sent = last().additional.at(-1)!.content;
    expect(sent).toStartWith("Oslo weather?\n\nYou can call these functions");
    const conversation = last().conversationId;
    bot().queue.push({ text: "Oslo: 4 degrees." });
    const second = await stack.openai.responses.create({ model: MODEL, previous_response_id: first.id, input: [{ type: "function_call_output", call_id: call.call_id, output: "4" }] });
    expect(second.output_text).toBe("Oslo: 4 degrees.");
    expect(last().conversationId).toBe(conversation);
    expect(last().additional.map((m) => m.content)).toEqual([`Tool (get_weather, ${call.call_id}): 4`]);
    expect(second.usage!.output_tokens).toBe(last().usage!.output_count);
  });

  test("two requests at once in one named conversation take turns: one conversation_id, no 4016", async () => {
    const headers = { "x-conversation-id": "together" };
    await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "start" }] }, { headers });
    const conversation = last().conversationId;
    bot().queue.push({ text: "slow one", deltas: 5, intervalMs: 40 }, { text: "quick one" });
    const [a, b] = await Promise.all(
      ["first", "second"].map((content) => stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content }] }, { headers })),
    );
    expect([a.choices[0].message.content, b.choices[0].message.content]).toEqual(["slow one", "quick one"]);
    expect(stack.apiSim.chats.slice(-2).map((c) => c.conversationId)).toEqual([conversation, conversation]);
    expect(stack.apiSim.busyRefusals).toBe(0);
  });

  test("an image generation on an API entry returns the service's own URL for Coze's image", async () => {
    bot().queue.push({ text: "Here it is:", image: true });
    const image = await stack.openai.images.generate({ model: MODEL, prompt: "a fox" });
    const url = image.data![0].url!;
    expect(url.startsWith(`${stack.base}/images/`)).toBe(true);
    expect((await fetch(url)).headers.get("content-type")).toBe("image/png");
  });

  test("quota on the model's only entry is a 429 with retry-after and Coze's words", async () => {
    bot().queue.push({ refuse: { status: 200, code: 4011, msg: "insufficient balance" } });
    const quota = await stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "q" }] }) });
    expect(quota.status).toBe(429);
    expect(quota.headers.get("retry-after")).not.toBeNull();
    expect((await json(quota)).error.message).toContain("insufficient balance");
  });
});

describe("failures and mixed pools", () => {
  const stackFor = stackPerTest({ settings: { replyStartTimeoutMs: 1500 } });

  test("a bad token: the other entry answers, /readyz names the bad one, and the client never sees a 401", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL, token: "pat_revoked" }, { model: MODEL }] });
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries[0]).toMatchObject({ via: "api", state: "down", problem: expect.stringContaining("4100") });
    for (let i = 0; i < 3; i++) {
      const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `bad token ${i}` }] });
      expect(completion.choices[0].message.content).toBe(`API says: bad token ${i}`);
    }
    expect(stack.apiSim.chats.every((c) => c.botId === stack.apiBots[1].id)).toBe(true);
  });

  test("a token revoked while serving takes its entry down and the request moves on", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL }, { model: MODEL }] });
    stack.apiSim.tokens.delete(stack.apiEntries[0].coze_api_token);
    stack.apiSim.tokens.delete(stack.apiEntries[1].coze_api_token);
    const response = await stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }] }) });
    expect(response.status).toBe(503);
    expect((await json(response)).error.message).toContain("Coze refused the token");
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries.map((e: { state: string }) => e.state)).toEqual(["down", "down"]);
  });

  test("quota on one entry fails over to the next, which answers; the rested entry is skipped after", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL }, { model: MODEL }] });
    stack.apiBots[0].queue.push({ fail: { code: 4008, msg: "usage limit reached" } });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `q${i}` }] })).choices[0].message.content);
    expect(answers).toEqual(["API says: q0", "API says: q1", "API says: q2"]);
    expect(stack.apiSim.chats.filter((c) => c.botId === stack.apiBots[0].id)).toHaveLength(1);
  });

  test("busy is waited out within the start deadline; past it a 429 with retry-after", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL }] });
    stack.apiBots[0].queue.push({ refuse: { status: 429, code: 4013, msg: "rate limited", retryAfter: 0.2 } as never });
    stack.apiBots[0].queue.push({ refuse: { status: 200, code: 4009, msg: "busy" } });
    const ok = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "patience" }] });
    expect(ok.choices[0].message.content).toBe("API says: patience");
    for (let i = 0; i < 3; i++) stack.apiBots[0].queue.push({ refuse: { status: 429, code: 4013, msg: "rate limited", retryAfter: 5 } });
    const limited = await stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "now" }] }) });
    expect(limited.status).toBe(429);
    expect((await json(limited)).error.code).toBe("coze_rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  test("requires_action and unknown codes are 502s that say so; silence is a 504 and the chat is cancelled", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL }] });
    const post = () => stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }] }) });
    stack.apiBots[0].queue.push({ requiresAction: true });
    const action = await post();
    expect(action.status).toBe(502);
    expect((await json(action)).error.code).toBe("coze_requires_action");
    stack.apiBots[0].queue.push({ streamError: { code: 5000, msg: "internal" } });
    const other = await post();
    expect(other.status).toBe(502);
    expect((await json(other)).error.message).toContain("5000");
    stack.apiBots[0].queue.push({ silent: true });
    const silent = await post();
    expect(silent.status).toBe(504);
    for (let i = 0; i < 50 && !stack.apiSim.chats.at(-1)!.cancelled; i++) await Bun.sleep(20);
    expect(stack.apiSim.chats.at(-1)!.cancelled).toBe(true);
  });

  test("a conversation on the API continues in its conversation_id after a restart with the same DATA_DIR", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-api-restart-"));
    const stack = await stackFor({ entries: [], api: [{ model: MODEL }], dataDir });
    const history: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "before the restart" }];
    const first = await stack.openai.chat.completions.create({ model: MODEL, messages: history });
    history.push({ role: "assistant", content: first.choices[0].message.content }, { role: "user", content: "after the restart" });
    const conversation = stack.apiSim.chats.at(-1)!.conversationId;
    await stack.app.stop();
    // A new service on the same store and the same Coze API.
    const again = startApp({ ...readSettings({ AUTH_TOKEN: KEY, DATA_DIR: dataDir }), host: "127.0.0.1", port: 0 }, stack.apiEntries);
    try {
      await again.ready;
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${again.server.port}/v1`, apiKey: KEY, maxRetries: 0 });
      const second = await client.chat.completions.create({ model: MODEL, messages: history });
      expect(second.choices[0].message.content).toBe("API says: after the restart (after 2 messages)");
      expect(stack.apiSim.chats.at(-1)!.conversationId).toBe(conversation);
      expect(stack.apiSim.chats.at(-1)!.additional.map((m) => m.content)).toEqual(["after the restart"]);
    } finally {
      await again.stop();
    }
  });

  test("a model served by one Discord entry and one API entry: they take turns", async () => {
    const stack = await stackFor({ entries: [{ model: MODEL }], api: [{ model: MODEL }] });
    stack.cozes[0].behaviour = (prompt) => ({ text: `Discord says: ${prompt}`, steps: 2 });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `turn ${i}` }] })).choices[0].message.content!);
    expect(answers.filter((a) => a.startsWith("Discord says")).length).toBe(2);
    expect(answers.filter((a) => a.startsWith("API says")).length).toBe(2);
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries.map((e: { via: string }) => e.via)).toEqual(["discord", "api"]);
  });
});
