/**
 * The clients people use, end to end against the service and the simulator:
 * the Vercel AI SDK (its default provider speaks the Responses API, `.chat`
 * chat completions) and LangChain JS (chat completions, and the Responses
 * API with useResponsesApi).
 */
import { createOpenAI } from "@ai-sdk/openai";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";
import { KEY, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-test";
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  stack.cozes[0].behaviour = (prompt, context) => ({
    text: `Answer to ${prompt}${context.length ? ` (I remember ${context.length} earlier messages)` : ""}.`,
    steps: 4,
  });
});
afterAll(() => stack.stop());

describe("Vercel AI SDK", () => {
  const openai = () => createOpenAI({ baseURL: `${stack.base}/v1`, apiKey: KEY });

  test("generateText with the default provider (the Responses API)", async () => {
    const { text, usage } = await generateText({ model: openai()(MODEL), prompt: "hello from the AI SDK", maxRetries: 0 });
    expect(text).toBe("Answer to hello from the AI SDK.");
    expect(usage.outputTokens).toBeGreaterThan(0);
  });

  test("streamText with the default provider", async () => {
    const result = streamText({ model: openai()(MODEL), prompt: "stream from the AI SDK", maxRetries: 0 });
    let text = "";
    for await (const part of result.textStream) text += part;
    expect(text).toBe("Answer to stream from the AI SDK.");
  });

  test("generateText and streamText over chat completions, with a two-turn history continuing one thread", async () => {
    const first = await generateText({ model: openai().chat(MODEL), messages: [{ role: "user", content: "first" }], maxRetries: 0 });
    const thread = stack.sim.posts.at(-1)!.channelId;
    const result = streamText({
      model: openai().chat(MODEL),
      messages: [
        { role: "user", content: "first" },
        { role: "assistant", content: first.text },
        { role: "user", content: "second" },
      ],
      maxRetries: 0,
    });
    let text = "";
    for await (const part of result.textStream) text += part;
    expect(text).toBe("Answer to second (I remember 2 earlier messages).");
    expect(stack.sim.posts.at(-1)!.channelId).toBe(thread);
  });

  test("generateText with a tool (the Responses API): the call, its result, and the answer that uses it", async () => {
    stack.sim.script(stack.cozes[0], { text: '{"tool_calls": [{"name": "weather", "arguments": {"city": "Turin"}}]}', steps: 3 });
    stack.sim.script(stack.cozes[0], { text: "Turin: 19 degrees.", steps: 3 });
    const weather = tool({ description: "The weather in a city", inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => `${city}: 19 degrees` });
    const result = await generateText({ model: openai()(MODEL), prompt: "Turin weather?", tools: { weather }, stopWhen: stepCountIs(2), maxRetries: 0 });
    expect(result.steps[0].toolCalls.map((c) => [c.toolName, c.input])).toEqual([["weather", { city: "Turin" }]]);
    expect(result.steps[0].toolResults.map((r) => r.output)).toEqual(["Turin: 19 degrees"]);
    expect(result.text).toBe("Turin: 19 degrees.");
    expect(stack.sim.posts.at(-1)!.content).toContain("Tool (weather, call_");
  });

  test("streamText with a required tool over chat completions", async () => {
    stack.sim.script(stack.cozes[0], { text: '```json\n{"name": "weather", "arguments": {"city": "Pisa"}}\n```', steps: 4 });
    const result = streamText({
      model: openai().chat(MODEL),
      prompt: "Pisa?",
      tools: { weather: tool({ inputSchema: z.object({ city: z.string() }) }) },
      toolChoice: "required",
      maxRetries: 0,
    });
    const calls = await result.toolCalls;
    expect(calls.map((c) => [c.toolName, c.input])).toEqual([["weather", { city: "Pisa" }]]);
    expect(await result.finishReason).toBe("tool-calls");
  });
});

describe("LangChain JS", () => {
  const model = (extra: object = {}) => new ChatOpenAI({ model: MODEL, apiKey: KEY, configuration: { baseURL: `${stack.base}/v1` }, maxRetries: 0, ...extra });

  test("invoke and stream over chat completions", async () => {
    const message = await model().invoke("hello from LangChain");
    expect(message.content).toBe("Answer to hello from LangChain.");
    let text = "";
    for await (const chunk of await model({ streamUsage: true }).stream("stream from LangChain")) text += chunk.content;
    expect(text).toBe("Answer to stream from LangChain.");
  });

  test("invoke over the Responses API (useResponsesApi)", async () => {
    const message = await model({ useResponsesApi: true }).invoke("hello via responses");
    expect(message.text).toBe("Answer to hello via responses.");
  });

  test("bindTools: the call comes back as tool_calls, in invoke and in stream", async () => {
    const weather = { name: "weather", description: "The weather in a city", schema: z.object({ city: z.string() }) };
    stack.sim.script(stack.cozes[0], { text: '{"tool_calls": [{"name": "weather", "arguments": {"city": "Genoa"}}]}', steps: 3 });
    const message = await model().bindTools([weather]).invoke("Genoa?");
    expect(message.tool_calls?.map((c) => [c.name, c.args])).toEqual([["weather", { city: "Genoa" }]]);
    stack.sim.script(stack.cozes[0], { text: '{"name": "weather", "arguments": {"city": "Bari"}}', steps: 3 });
    let calls: unknown[] = [];
    for await (const chunk of await model().bindTools([weather]).stream("Bari?")) calls = [...calls, ...(chunk.tool_call_chunks ?? [])];
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ name: "weather", args: '{"city":"Bari"}' });
  });

  test("withStructuredOutput (function calling and JSON schema) returns the object, not undefined", async () => {
    const schema = z.object({ name: z.string(), age: z.number() });
    stack.sim.script(stack.cozes[0], { text: '{"tool_calls": [{"name": "person", "arguments": {"name": "Ada", "age": 36}}]}', steps: 3 });
    expect(await model().withStructuredOutput(schema, { name: "person", method: "functionCalling" }).invoke("who?")).toEqual({ name: "Ada", age: 36 });
    stack.sim.script(stack.cozes[0], { text: '```json\n{"name": "Alan", "age": 41}\n```', steps: 3 });
    expect(await model().withStructuredOutput(schema, { name: "person", method: "jsonSchema" }).invoke("who else?")).toEqual({ name: "Alan", age: 41 });
  });
});
