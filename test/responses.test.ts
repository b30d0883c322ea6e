/**
 * `POST /v1/responses` with the official openai SDK: create, the stream
 * helper's event sequence, previous_response_id continuing the same thread,
 * errors before and after the stream opened.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";
import { json, readSse, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-test";
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.stop());
const lastPost = () => stack.sim.posts.at(-1)!;

describe("responses.create", () => {
  test("input as a string, with instructions: the answer as output_text, usage, status completed", async () => {
    stack.sim.script(stack.cozes[0], { text: "Responses work: 你好 😀", steps: 3 });
    const response = await stack.openai.responses.create({ model: MODEL, input: "hello there", instructions: "Be brief." });
    expect(response.object).toBe("response");
    expect(response.status).toBe("completed");
    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe("Responses work: 你好 😀");
    expect(response.usage!.output_tokens).toBeGreaterThan(0);
    expect(response.usage!.total_tokens).toBe(response.usage!.input_tokens + response.usage!.output_tokens);
    expect(lastPost().content).toBe(`<@${stack.cozes[0].user.id}> System: Be brief.\n\nUser: hello there`);
  });

  test("previous_response_id continues the conversation in its thread, posting only the new input", async () => {
    const first = await stack.openai.responses.create({ model: MODEL, input: [{ role: "user", content: "my name is Ann" }] });
    const thread = lastPost().channelId;
    const second = await stack.openai.responses.create({ model: MODEL, input: "what is my name?", previous_response_id: first.id });
    expect(lastPost().channelId).toBe(thread);
    expect(lastPost().content).toBe(`<@${stack.cozes[0].user.id}> what is my name?`);
    expect(second.output_text).toContain('Earlier in this conversation you said: "my name is Ann"');
    expect(second.previous_response_id).toBe(first.id);
    const missing = await stack.openai.responses.create({ model: MODEL, input: "x", previous_response_id: "resp_nope" }).catch((e) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });

  test("max_output_tokens cuts the answer: status incomplete", async () => {
    stack.sim.script(stack.cozes[0], { text: "a long answer that goes on and on and on and on" });
    const response = await stack.openai.responses.create({ model: MODEL, input: "go", max_output_tokens: 3 });
    expect(response.status).toBe("incomplete");
    expect(response.incomplete_details).toEqual({ reason: "max_output_tokens" });
  });

  test("function tools: a call is a function_call item; its output with previous_response_id continues the thread", async () => {
    const tools: OpenAI.Responses.Tool[] = [
      { type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false },
    ];
    stack.sim.script(stack.cozes[0], { text: '```json\n{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Bern"}}]}\n```', steps: 3 });
    const first = await stack.openai.responses.create({ model: MODEL, input: "Bern weather?", tools });
    expect(lastPost().content).toContain('"name":"get_weather"');
    expect(first.output).toHaveLength(1);
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: "function_call", name: "get_weather", arguments: '{"city":"Bern"}', status: "completed" });
    expect(call.call_id).toMatch(/^call_/);
    const thread = lastPost().channelId;

    stack.sim.script(stack.cozes[0], { text: "Bern has 12 degrees.", steps: 3 });
    const second = await stack.openai.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: "12 degrees" }],
      tools,
    });
    expect(second.output_text).toBe("Bern has 12 degrees.");
    expect(lastPost().channelId).toBe(thread);
    expect(lastPost().content).toContain(`Tool (get_weather, ${call.call_id}): 12 degrees`);
  });

  test("text.format json_schema: the JSON is checked, and asked for again once", async () => {
    stack.sim.script(stack.cozes[0], { text: '{"city": 7}', steps: 2 });
    stack.sim.script(stack.cozes[0], { text: '{"city": "Bern"}', steps: 2 });
    const response = await stack.openai.responses.create({
      model: MODEL,
      input: "a city as JSON",
      text: { format: { type: "json_schema", name: "city", schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }, strict: false } },
    });
    expect(JSON.parse(response.output_text)).toEqual({ city: "Bern" });
    expect(lastPost().content).toContain("the JSON does not match the schema");
  });
});

describe("responses.stream", () => {
  test("the SDK's stream helper accepts the event sequence and assembles the answer", async () => {
    stack.sim.script(stack.cozes[0], { text: "Streamed through the Responses API.", steps: 5 });
    const stream = stack.openai.responses.stream({ model: MODEL, input: "stream it" });
    const types: string[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    const final = await stream.finalResponse();
    expect(text).toBe("Streamed through the Responses API.");
    expect(final.output_text).toBe("Streamed through the Responses API.");
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.filter((t) => t === "response.output_text.delta").length).toBeGreaterThanOrEqual(2);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
  });

  test("a streamed function call: the item, its arguments, done, completed; no message item before it", async () => {
    stack.sim.script(stack.cozes[0], { text: '{"name": "get_time", "arguments": {}}', steps: 4 });
    const stream = stack.openai.responses.stream({ model: MODEL, input: "what time is it?", tools: [{ type: "function", name: "get_time", parameters: null, strict: false }] });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(types).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(final.output[0]).toMatchObject({ type: "function_call", name: "get_time", arguments: "{}" });
  });

  test("an error before the stream opened is an HTTP error; after, a response.failed event", async () => {
    stack.sim.script(stack.cozes[0], { error: COZE_ERRORS.somethingWrong });
    const early = await stack.fetch("/v1/responses", { method: "POST", body: JSON.stringify({ model: MODEL, input: "x", stream: true }) });
    expect(early.status).toBe(502);
    expect((await json(early)).error.code).toBe("coze_error");
    // A reply that starts, then the service shuts down: the stream is open, so the error is an event.
    const other = await startStack();
    other.sim.script(other.cozes[0], { text: "a slow answer that the shutdown cuts short", steps: 40, editIntervalMs: 100 });
    const open = await other.fetch("/v1/responses", { method: "POST", body: JSON.stringify({ model: MODEL, input: "slow", stream: true }) });
    const stopping = Bun.sleep(500).then(() => other.app.stop());
    const { events } = await readSse(open);
    await stopping;
    await other.stop();
    const failed = events.find((e) => e.type === "response.failed");
    expect(failed.response).toMatchObject({ status: "failed", error: { code: "bot_unavailable" } });
    expect(events.at(-1)).toMatchObject({ type: "error", code: "bot_unavailable" });
  });
});
