/**
 * Function calling and JSON answers, emulated through Coze,
 * through the real path with the official openai SDK: Coze is scripted to
 * answer the way an LLM following the instruction would (bare JSON, fenced
 * JSON, a call, no call, invalid then valid JSON).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type OpenAI from "openai";
import { chatBody, json, readSse, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-test";
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  stack.cozes[0].behaviour = (prompt) => ({ text: `Plain answer to ${prompt.slice(0, 20)}.`, steps: 3 });
});
afterAll(() => stack.stop());

const say = (...texts: string[]) => {
  for (const text of texts) stack.cozes[0].queue.push({ text, steps: 4, editIntervalMs: 10 });
};
const weather: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: "function",
  function: { name: "get_weather", description: "The weather in a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
};
const clock: OpenAI.Chat.Completions.ChatCompletionTool = { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } };
const ask = (content: string, extra: Partial<OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming> = {}) =>
  stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content }], tools: [weather, clock], ...extra });
const postsSince = (since: number) => stack.sim.posts.slice(since);

describe("tools", () => {
  test("Coze is told the functions and the answer format; a bare JSON call becomes tool_calls", async () => {
    say('{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}');
    const since = stack.sim.posts.length;
    const completion = await ask("weather in Paris?");
    const prompt = postsSince(since)[0].content;
    expect(prompt).toContain("User: weather in Paris?");
    expect(prompt).toContain('"name":"get_weather"');
    expect(prompt).toContain('{"tool_calls": [{"name": "<function name>", "arguments": {<arguments>}}]}');
    const choice = completion.choices[0];
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(call).toMatchObject({ type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } });
    expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
  });

  test("a fenced call and a single {name, arguments} are calls too; several calls keep their order", async () => {
    say('```json\n{"name": "get_time", "arguments": {}}\n```');
    const fenced = await ask("time?");
    expect(fenced.choices[0].message.tool_calls!.map((c: any) => c.function.name)).toEqual(["get_time"]);
    say('{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_time", "arguments": "{}"}]}');
    const two = await ask("both?");
    expect(two.choices[0].message.tool_calls!.map((c: any) => [c.function.name, c.function.arguments])).toEqual([
      ["get_weather", '{"city":"Oslo"}'],
      ["get_time", "{}"],
    ]);
  });

  test("with auto, prose and calls of functions not offered are text", async () => {
    say("It is sunny, no need to look it up.", '{"tool_calls": [{"name": "rm_rf", "arguments": {}}]}');
    expect((await ask("sunny?")).choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "It is sunny, no need to look it up." } });
    const other = await ask("delete?");
    expect(other.choices[0].finish_reason).toBe("stop");
    expect(other.choices[0].message.content).toBe('{"tool_calls": [{"name": "rm_rf", "arguments": {}}]}');
  });

  test("streamed: a call is tool-call deltas with no text before them; prose streams in pieces", async () => {
    say('```json\n{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}\n```');
    const stream = stack.openai.chat.completions.stream({ model: MODEL, messages: [{ role: "user", content: "Rome?" }], tools: [weather] });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    stream.on("chunk", (chunk) => chunks.push(chunk));
    const final = await stream.finalChatCompletion();
    expect(final.choices[0].finish_reason).toBe("tool_calls");
    expect((final.choices[0].message.tool_calls![0] as any).function).toMatchObject({ name: "get_weather", arguments: '{"city":"Rome"}' });
    expect(chunks.some((c) => c.choices[0]?.delta.content)).toBe(false);

    say("A long prose answer that is clearly not a function call, written in several edits.");
    const { events } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "prose", { stream: true, tools: [weather] }) }));
    const pieces = events.map((e) => e.choices[0]?.delta.content).filter(Boolean);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join("")).toBe("A long prose answer that is clearly not a function call, written in several edits.");
    expect(events.at(-1).choices[0].finish_reason).toBe("stop");
  });

  test("required: an answer without a call is asked once more in the same thread", async () => {
    say("Let me think about the weather.", '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lima"}}]}');
    const since = stack.sim.posts.length;
    const completion = await ask("Lima?", { tool_choice: "required" });
    expect(completion.choices[0].finish_reason).toBe("tool_calls");
    const posts = postsSince(since);
    expect(posts).toHaveLength(2);
    expect(posts[1].channelId).toBe(posts[0].channelId);
    expect(posts[0].content).toContain("You must call at least one function now.");
    expect(posts[1].content).toContain("Your answer did not call a function, which is required.");
  });

  test("a named function: calling another one is no call; twice without it is a 502 that says so", async () => {
    say('{"name": "get_time", "arguments": {}}', "I would rather not.");
    const since = stack.sim.posts.length;
    const response = await stack.fetch("/v1/chat/completions", {
      method: "POST",
      body: chatBody(MODEL, "weather?", { tools: [weather, clock], tool_choice: { type: "function", function: { name: "get_weather" } } }),
    });
    expect(response.status).toBe(502);
    const body = await json(response);
    expect(body.error.code).toBe("invalid_model_output");
    expect(body.error.message).toContain("did not call the function 'get_weather', also when asked again");
    const posts = postsSince(since);
    expect(posts).toHaveLength(2);
    expect(posts[0].content).toContain('You must call the function "get_weather" now.');
    expect(posts[0].content).not.toContain('"name":"get_time"'); // only the named function is offered
  });

  test("tool_choice none offers nothing; a tool_choice naming a function not offered is a 400", async () => {
    const since = stack.sim.posts.length;
    const completion = await ask("just talk", { tool_choice: "none" });
    expect(completion.choices[0].finish_reason).toBe("stop");
    expect(postsSince(since)[0].content).not.toContain("get_weather");
    const response = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "x", { tools: [weather], tool_choice: { type: "function", function: { name: "nope" } } }) });
    expect(response.status).toBe(400);
    expect((await json(response)).error.param).toBe("tool_choice");
  });

  test("an agent's history: Coze sees each call and the result that answers it, and the loop continues its thread", async () => {
    say('{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Kyiv"}}]}', "It is 21 degrees in Kyiv.");
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "Kyiv weather?" }];
    const first = await stack.openai.chat.completions.create({ model: MODEL, messages, tools: [weather] });
    const call = first.choices[0].message.tool_calls![0];
    const thread = stack.sim.posts.at(-1)!.channelId;
    messages.push(first.choices[0].message, { role: "tool", tool_call_id: call.id, content: '{"celsius": 21}' });
    const since = stack.sim.posts.length;
    const second = await stack.openai.chat.completions.create({ model: MODEL, messages, tools: [weather] });
    expect(second.choices[0].message.content).toBe("It is 21 degrees in Kyiv.");
    const [post] = postsSince(since);
    expect(post.channelId).toBe(thread); // only the result is posted, in the conversation's thread
    expect(post.content).toContain(`Tool (get_weather, ${call.id}): {"celsius": 21}`);
    expect(post.content).not.toContain("Kyiv weather?");

    // The same history in a fresh conversation (another key's view is a new thread) renders the call itself.
    const fresh = await stack.fetch("/v1/chat/completions", { method: "POST", headers: { authorization: "Bearer test-key-2" }, body: JSON.stringify({ model: MODEL, messages, tools: [weather] }) });
    expect(fresh.status).toBe(200);
    const rendered = stack.sim.posts.at(-1)!.content;
    expect(rendered).toContain(`Assistant: {"tool_calls":[{"id":"${call.id}","name":"get_weather","arguments":{"city":"Kyiv"}}]}`);
    expect(rendered).toContain(`Tool (get_weather, ${call.id}): {"celsius": 21}`);
  });
});

describe("response_format", () => {
  test("json_object: Coze is told; fenced JSON comes back clean, in JSON and in streams", async () => {
    say('```json\n{"answer": 42}\n```');
    const since = stack.sim.posts.length;
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "the answer?" }], response_format: { type: "json_object" } });
    expect(completion.choices[0].message.content).toBe('{"answer": 42}');
    expect(postsSince(since)[0].content).toContain("Answer with nothing but one valid JSON object");
    say('Here you go:\n```json\n{"answer": 42}\n```', '```\n{"answer": 43}\n```');
    const { events, done } = await readSse(
      await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "again", { stream: true, response_format: { type: "json_object" } }) }),
    );
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe('{"answer": 43}'); // prose first: asked again, and only clean JSON was sent
    expect(done).toBe(true);
  });

  test("json_schema: an answer that breaks the schema is asked again in the same thread, then a 502 that says so", async () => {
    const format = {
      type: "json_schema" as const,
      json_schema: { name: "person", strict: true, schema: { type: "object", properties: { name: { type: "string" }, age: { type: "integer" } }, required: ["name", "age"], additionalProperties: false } },
    };
    say('{"name": "Ada"}', '{"name": "Ada", "age": 36}');
    const since = stack.sim.posts.length;
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "who?" }], response_format: format });
    expect(JSON.parse(completion.choices[0].message.content!)).toEqual({ name: "Ada", age: 36 });
    const posts = postsSince(since);
    expect(posts).toHaveLength(2);
    expect(posts[0].content).toContain('"required":["name","age"]');
    expect(posts[1].channelId).toBe(posts[0].channelId);
    expect(posts[1].content).toContain("the JSON does not match the schema");

    say('{"name": "Ada", "age": "old"}', "not json at all");
    const response = await stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "who?" }], response_format: format }) });
    expect(response.status).toBe(502);
    expect((await json(response)).error).toMatchObject({ code: "invalid_model_output", message: expect.stringContaining("not valid JSON, also when asked again") });
  });

  test("a schema that is not one is a 400 naming it", async () => {
    const response = await stack.fetch("/v1/chat/completions", {
      method: "POST",
      body: chatBody(MODEL, "x", { response_format: { type: "json_schema", json_schema: { name: "x", schema: { $ref: "#/$defs/missing" } } } }),
    });
    expect(response.status).toBe(400);
    expect((await json(response)).error.param).toBe("response_format.json_schema.schema");
  });
});
