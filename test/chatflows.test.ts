/**
 * Coze chatflows as models, on coze.com's dialect and on Coze Studio's,
 * through the real path (the openai SDK → the service → the simulated Coze
 * API's `/v1/workflows/chat`): answers, usage, conversations sending only new
 * turns, images, parameters, errors and failover, bot.json validation. Then
 * images on a Studio's object store (`image_hosts`), and a streamed request
 * whose early failure keeps its HTTP status.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type OpenAI from "openai";
import { parseBots } from "../lib/config/bots.ts";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";
import { chatBody, json, readSse, stackPerTest, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-flow";
const PIXEL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

describe.each(["coze", "studio"] as const)("a chatflow entry on %s", (dialect) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ entries: [], api: [{ model: MODEL, workflow: true, parameters: { lang: "en", tone: "dry" } }], apiDialect: dialect });
  });
  afterAll(() => stack.stop());
  const flow = () => stack.apiBots[0];
  const last = () => stack.apiSim.chats.at(-1)!;

  test("JSON and SSE answers equal the chatflow's; usage is input + output", async () => {
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hello flow" }] });
    expect(completion.choices[0].message.content).toBe("Chatflow says: hello flow");
    expect(last().workflowId).toBe(flow().id);
    const { input_count, output_count } = last().usage!;
    expect(completion.usage).toEqual({ prompt_tokens: input_count, completion_tokens: output_count, total_tokens: input_count + output_count });

    flow().queue.push({ text: ["Node one.", "Node two."], deltas: 4 });
    const { events, done } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "stream", { stream: true }) }));
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe("Node one.\nNode two.");
    expect(events.filter((e) => e.choices[0]?.delta.content).length).toBeGreaterThan(2);
    expect(done).toBe(true);
  });

  test("a three-turn conversation in one chatflow conversation, only new turns sent; the entry's parameters, the request's over them", async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "system", content: "Be brief." }, { role: "user", content: "A one" }];
    const body = (extra: object = {}) => ({ model: MODEL, messages, ...extra }) as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;
    let c = await stack.openai.chat.completions.create(body({ coze_parameters: { tone: "warm" } }));
    const first = last();
    expect(first.continued).toBe(false);
    expect(first.additional.map((m) => m.content)).toEqual(["System: Be brief.", "A one"]);
    // A new conversation is named, which Studio needs to start one; the client's parameters go over the entry's.
    expect(first.parameters).toEqual({ lang: "en", tone: "warm", CONVERSATION_NAME: expect.stringMatching(/^coze-chat-proxy-/) });
    for (const next of ["A two", "A three"]) {
      messages.push(c.choices[0].message as OpenAI.Chat.Completions.ChatCompletionMessageParam, { role: "user", content: next });
      c = await stack.openai.chat.completions.create(body());
      expect(last()).toMatchObject({ conversationId: first.conversationId, continued: true });
      expect(last().additional.map((m) => m.content)).toEqual([next]);
      expect(last().parameters).toEqual({ lang: "en", tone: "dry" }); // a continued conversation is sent by id, not by name
    }
    expect(c.choices[0].message.content).toBe("Chatflow says: A three (after 5 messages)");
  });

  test("a client's CONVERSATION_NAME is dropped: the service names its conversations, on a new turn and a continued one", async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "B one" }];
    const body = () => ({ model: MODEL, messages, coze_parameters: { CONVERSATION_NAME: "someone-elses", tone: "warm" } }) as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;
    const c = await stack.openai.chat.completions.create(body());
    expect(last().parameters).toEqual({ lang: "en", tone: "warm", CONVERSATION_NAME: expect.stringMatching(/^coze-chat-proxy-/) });
    messages.push(c.choices[0].message as OpenAI.Chat.Completions.ChatCompletionMessageParam, { role: "user", content: "B two" });
    await stack.openai.chat.completions.create(body());
    expect(last().continued).toBe(true);
    expect(last().parameters).toEqual({ lang: "en", tone: "warm" });
  });

  test("the Responses API takes coze_parameters too", async () => {
    const response = await stack.openai.responses.create({ model: MODEL, input: "via responses", coze_parameters: { tone: "curt" } } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    expect(response.output_text).toBe("Chatflow says: via responses");
    expect(last().parameters).toMatchObject({ lang: "en", tone: "curt" });
  });

  test("an image goes in as an object_string item with the uploaded file's id", async () => {
    await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: [{ type: "text", text: "see" }, { type: "image_url", image_url: { url: PIXEL } }] }] });
    const items = JSON.parse(last().additional.at(-1)!.content);
    expect(items).toEqual([{ type: "text", text: "see" }, { type: "image", file_id: expect.stringMatching(/^\d{19}$/) }]);
    expect(stack.apiSim.files.get(items[1].file_id)!.type).toBe("image/png");
  });

  test("a failed chatflow run is a 502 with Coze's code and words", async () => {
    flow().queue.push({ fail: { code: 720701013, msg: "node execution failed" } });
    const response = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "fail please", { stream: true }) });
    expect(response.status).toBe(502);
    expect((await json(response)).error.message).toContain("(code 720701013): node execution failed");
  });
});

describe("chatflow failover", () => {
  const stackFor = stackPerTest({ settings: { replyStartTimeoutMs: 1500 } });

  test("Studio refusing a chatflow (an empty HTTP 200) moves on to the model's other entry", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL, workflow: true, published: false }, { model: MODEL, workflow: true }], apiDialect: "studio" });
    const answers = [];
    for (let i = 0; i < 2; i++) answers.push((await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `q${i}` }] })).choices[0].message.content);
    expect(answers).toEqual(["Chatflow says: q0", "Chatflow says: q1"]);
    expect(stack.apiSim.chats.every((c) => c.workflowId === stack.apiBots[1].id)).toBe(true);
  });

  test("coze.com answering 4200 for a chatflow it does not find takes the entry down", async () => {
    const stack = await stackFor({ entries: [], api: [{ model: MODEL, workflow: true, published: false }, { model: MODEL, workflow: true }] });
    for (let i = 0; i < 2; i++) await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `q${i}` }] });
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries.map((e: { state: string }) => e.state)).toEqual(["down", "ready"]);
    expect(ready.models[0].entries[0].problem).toContain("4200");
  });
});

describe("bot.json chatflow entries", () => {
  const parse = (entry: object) => () => parseBots(JSON.stringify([{ model: "m", coze_api_token: "pat_x", ...entry }]), "bot.json");

  test("a chatflow entry: workflow_id, optional bot_id or app_id, parameters, image_hosts", () => {
    const { entries } = parseBots(
      JSON.stringify([{ model: "m", coze_api_token: "pat_x", workflow_id: "7401234567890123456", app_id: "7401234567890123457", parameters: { lang: "en" }, image_hosts: ["MinIO:9000"], api_base: "http://localhost:8888" }]),
      "bot.json",
    );
    expect(entries[0]).toEqual({ kind: "api", index: 0, model: "m", coze_api_token: "pat_x", workflow_id: "7401234567890123456", app_id: "7401234567890123457", parameters: { lang: "en" }, image_hosts: ["minio:9000"], api_base: "http://localhost:8888" });
  });

  test.each([
    ["a workflow_id that is no id", { workflow_id: "my flow" }, 'bot.json entry 0 field "workflow_id" is not a Coze workflow id'],
    ["bot_id and app_id together", { workflow_id: "7401234567890123456", bot_id: "7401234567890123457", app_id: "7401234567890123458" }, 'bot.json entry 0 has both "bot_id" and "app_id"'],
    ["parameters that are no object", { workflow_id: "7401234567890123456", parameters: "lang=en" }, 'bot.json entry 0 field "parameters" must be an object'],
    ["parameters on a bot entry", { bot_id: "7401234567890123456", parameters: {} }, 'bot.json entry 0 field "parameters" belongs to a chatflow entry'],
    ["app_id on a bot entry", { bot_id: "7401234567890123456", app_id: "7401234567890123457" }, 'bot.json entry 0 field "app_id" belongs to a chatflow entry'],
    ["neither bot_id nor workflow_id", {}, 'bot.json entry 0 is missing "bot_id" (a Coze bot) or "workflow_id" (a Coze chatflow)'],
    ["image_hosts that are no hosts", { bot_id: "7401234567890123456", image_hosts: ["http://minio:9000/"] }, 'bot.json entry 0 field "image_hosts" must be an array of hosts'],
  ])("%s is refused, naming the entry and the field", (_, entry, message) => {
    expect(parse(entry)).toThrow(message);
  });
});

describe("images from a Coze Studio's object store", () => {
  const stackFor = stackPerTest();

  test("on a host the entry lists in image_hosts: stored and served by the service; elsewhere: left as they are", async () => {
    // The object store is the simulator itself under another name (localhost, not 127.0.0.1): private, and not api_base's host.
    const storeOf = (apiUrl: string) => `localhost:${new URL(apiUrl).port}`;
    const stack = await stackFor({ entries: [], api: [{ model: MODEL, imageHosts: (url) => [storeOf(url)] }], apiDialect: "studio" });
    stack.apiBots[0].queue.push({ text: "A picture:", image: { host: storeOf(stack.apiSim.url) } });
    const kept = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "draw" }] });
    const link = /!\[image\]\((.+?)\)/.exec(kept.choices[0].message.content!)![1];
    expect(link.startsWith(stack.base + "/images/")).toBe(true);
    expect((await fetch(link)).headers.get("content-type")).toBe("image/png");

    const unlisted = await stackFor({ entries: [], api: [{ model: MODEL }], apiDialect: "studio" });
    unlisted.apiBots[0].queue.push({ text: "A picture:", image: { host: storeOf(unlisted.apiSim.url) } });
    const left = await unlisted.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "draw" }] });
    expect(left.choices[0].message.content).toContain(`(http://${storeOf(unlisted.apiSim.url)}/opencoze/`);
  });
});

describe("a streamed request whose Coze fails early keeps its HTTP status", () => {
  let stack: Stack;
  beforeAll(async () => {
    // Keepalives every 200 ms: before REPLY_QUIET + 5 s, not one may open the stream.
    stack = await startStack({ settings: { keepaliveMs: 200, replyQuietMs: 700 } });
  });
  afterAll(() => stack.stop());

  test("Coze's error text on Discord: a 502, not a 200 stream with an error event", async () => {
    stack.cozes[0].queue.push({ error: COZE_ERRORS.somethingWrong });
    const response = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody("gpt-test", "trigger a coze error please", { stream: true }) });
    expect(response.status).toBe(502);
    expect((await json(response)).error.code).toBe("coze_error");
  });
});
