/**
 * The clients people use, end to end against the service and the simulator:
 * the Vercel AI SDK (its default provider speaks the Responses API, `.chat`
 * chat completions) and LangChain JS (chat completions, and the Responses
 * API with useResponsesApi).
 */
import { createOpenAI } from "@ai-sdk/openai";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, streamText } from "ai";
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
});
