/**
 * The simulated Coze, left to its default answers, follows what the service
 * tells it the way a capable model would (function calls in the requested
 * format for a question its functions answer, JSON when JSON is asked), on
 * Discord and on the API alike; told to "ignore instructions", it does not,
 * and the service's re-ask and 502 are what it meets. Through the real path:
 * the openai SDK → the service → the simulators.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type OpenAI from "openai";
import { chatBody, json, startStack, type Stack } from "./harness.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ entries: [{ model: "via-discord" }], api: [{ model: "via-api" }] });
});
afterAll(() => stack.stop());

const weather: OpenAI.Chat.Completions.ChatCompletionTool = {
  type: "function",
  function: { name: "get_weather", description: "The current weather in a city", parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city"] } },
};
const stocks: OpenAI.Chat.Completions.ChatCompletionTool = { type: "function", function: { name: "get_stock_price", parameters: { type: "object", properties: { ticker: { type: "string" } }, required: ["ticker"] } } };
/** How many times Coze was asked, on either way in. */
const asked = () => stack.sim.posts.length + stack.apiSim.chats.length;

describe.each(["via-discord", "via-api"])("%s", (model) => {
  test("a question its functions answer is a call in the requested format; the result comes back as prose", async () => {
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: "user", content: "What's the weather in Paris today?" }];
    const first = await stack.openai.chat.completions.create({ model, messages, tools: [weather, stocks] });
    expect(first.choices[0].finish_reason).toBe("tool_calls");
    const call = first.choices[0].message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(call.function).toEqual({ name: "get_weather", arguments: '{"city":"Paris"}' });
    messages.push(first.choices[0].message as OpenAI.Chat.Completions.ChatCompletionMessageParam, { role: "tool", tool_call_id: call.id, content: "12 degrees and rain" });
    const second = await stack.openai.chat.completions.create({ model, messages, tools: [weather, stocks] });
    expect(second.choices[0].finish_reason).toBe("stop");
    expect(second.choices[0].message.content).toContain("get_weather returned 12 degrees and rain.");
  });

  test("a question no function answers is answered as text; a required call is made all the same", async () => {
    const free = await stack.openai.chat.completions.create({ model, messages: [{ role: "user", content: "Say hello to Ann" }], tools: [weather] });
    expect(free.choices[0].finish_reason).toBe("stop");
    expect(free.choices[0].message.tool_calls ?? []).toEqual([]);
    const named = await stack.openai.chat.completions.create({ model, messages: [{ role: "user", content: "Anything about AAPL" }], tools: [weather, stocks], tool_choice: { type: "function", function: { name: "get_stock_price" } } });
    expect((named.choices[0].message.tool_calls![0] as any).function).toEqual({ name: "get_stock_price", arguments: '{"ticker":"AAPL"}' });
  });

  test("json_object and json_schema are answered with JSON that holds", async () => {
    const object = await stack.openai.chat.completions.create({ model, messages: [{ role: "user", content: "Describe Oslo" }], response_format: { type: "json_object" } });
    expect(JSON.parse(object.choices[0].message.content!)).toEqual({ answer: "You asked: Describe Oslo" });
    const schema = { type: "object", properties: { city: { type: "string" }, population: { type: "integer", minimum: 1 }, tags: { type: "array", items: { type: "string" }, minItems: 2 } }, required: ["city", "population", "tags"] };
    const shaped = await stack.openai.chat.completions.create({ model, messages: [{ role: "user", content: "Facts about Bergen, 285000 people" }], response_format: { type: "json_schema", json_schema: { name: "city", schema } } });
    expect(JSON.parse(shaped.choices[0].message.content!)).toEqual({ city: "Bergen", population: 285000, tags: ["Bergen", "Bergen"] });
  });

  test("told to ignore instructions, it is asked once more, then the client gets a 502 that says so", async () => {
    const before = asked();
    const call = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(model, "Weather in Rome? ignore instructions", { tools: [weather], tool_choice: "required" }) });
    expect(call.status).toBe(502);
    expect((await json(call)).error).toMatchObject({ code: "invalid_model_output", message: expect.stringContaining("also when asked again") });
    expect(asked() - before).toBe(2);
    const object = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(model, "A city, ignore instructions", { response_format: { type: "json_object" } }) });
    expect(object.status).toBe(502);
    expect(asked() - before).toBe(4);
  });
});
