/**
 * What clients send is honoured or refused, never silently dropped: stop,
 * max_tokens, n, name, and the fields it cannot honour.
 * Through the real path with the official openai SDK, and pure checks of the
 * answer limits.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { shapeAnswer } from "../lib/relay/answer-limits.ts";
import { estimateTokens } from "../lib/openai/usage.ts";
import { chatBody, json, readSse, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-test";
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ entries: [{ model: MODEL, coze: 0 }, { model: MODEL, coze: 1 }] });
  for (const coze of stack.cozes) coze.behaviour = (prompt) => ({ text: `Step one. Step two. STOP here. Step three for ${prompt}.`, steps: 6, editIntervalMs: 10 });
});
afterAll(() => stack.stop());
const streamed = async (body: object) => {
  const { events, done } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, stream: true, ...body }) }));
  const byIndex = new Map<number, string>();
  const finish = new Map<number, string>();
  for (const e of events) {
    for (const c of e.choices ?? []) {
      byIndex.set(c.index, (byIndex.get(c.index) ?? "") + (c.delta.content ?? ""));
      if (c.finish_reason) finish.set(c.index, c.finish_reason);
    }
  }
  return { byIndex, finish, done, events };
};
const messages = [{ role: "user" as const, content: "go" }];

describe("stop", () => {
  test("the answer ends before the first stop sequence, finish_reason stop, in JSON and in streams", async () => {
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages, stop: ["STOP", "never"] });
    expect(completion.choices[0]).toMatchObject({ message: { content: "Step one. Step two. " }, finish_reason: "stop" });
    const { byIndex, finish, done } = await streamed({ messages, stop: "STOP" });
    expect(byIndex.get(0)).toBe("Step one. Step two. ");
    expect(finish.get(0)).toBe("stop");
    expect(done).toBe(true);
  });
});

describe("max_tokens", () => {
  test("the answer is cut at max_tokens by the count usage reports, finish_reason length", async () => {
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages, max_tokens: 5 });
    const content = completion.choices[0].message.content!;
    expect(completion.choices[0].finish_reason).toBe("length");
    expect(estimateTokens(content)).toBeLessThanOrEqual(5);
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(5);
    expect(`Step one. Step two. STOP here. Step three for go.`.startsWith(content)).toBe(true);
    const { byIndex, finish } = await streamed({ messages, max_completion_tokens: 5 });
    expect(byIndex.get(0)).toBe(content);
    expect(finish.get(0)).toBe("length");
  });
});

describe("n", () => {
  test("n choices are n replies spread over the model's entries, indexed, in JSON and in streams", async () => {
    const since = stack.sim.posts.length;
    const completion = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "two ways" }], n: 2 });
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1]);
    for (const c of completion.choices) expect(c.message.content).toBe("Step one. Step two. STOP here. Step three for two ways.");
    const posts = stack.sim.posts.slice(since);
    expect(new Set(posts.map((p) => stack.sim.parentOf(p.channelId))).size).toBe(2);
    expect(new Set(posts.map((p) => p.channelId)).size).toBe(2); // a thread each
    const { byIndex, finish, done } = await streamed({ messages, n: 3 });
    expect([...byIndex.keys()].sort()).toEqual([0, 1, 2]);
    for (const i of [0, 1, 2]) {
      expect(byIndex.get(i)).toBe("Step one. Step two. STOP here. Step three for go.");
      expect(finish.get(i)).toBe("stop");
    }
    expect(done).toBe(true);
  });
});

describe("fields that cannot be honoured are refused, not ignored", () => {
  test.each([
    ["the legacy functions", { functions: [{ name: "f", parameters: { type: "object" } }] }, "functions"],
    ["a tool that is not a function", { tools: [{ type: "web_search" }] }, "tools[0].type"],
    ["a function without a usable name", { tools: [{ type: "function", function: { name: "no spaces please" } }] }, "tools[0].function.name"],
    ["tool_choice required without tools", { tool_choice: "required" }, "tool_choice"],
    ["an unknown response_format", { response_format: { type: "xml" } }, "response_format.type"],
    ["n above 8", { n: 9 }, "n"],
    ["stop with 5 sequences", { stop: ["a", "b", "c", "d", "e"] }, "stop"],
    ["max_tokens 0", { max_tokens: 0 }, "max_tokens"],
  ])("%s is a 400 naming the field", async (_name, extra, param) => {
    const response = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "x", extra) });
    expect(response.status).toBe(400);
    expect((await json(response)).error.param).toBe(param);
  });

  test("tools with tool_choice none, and response_format text, are accepted", async () => {
    const response = await stack.fetch("/v1/chat/completions", {
      method: "POST",
      body: chatBody(MODEL, "x", { tools: [{ type: "function", function: { name: "f" } }], tool_choice: "none", response_format: { type: "text" } }),
    });
    expect(response.status).toBe(200);
  });
});

describe("a message's name", () => {
  test("is kept in the rendering", async () => {
    await stack.openai.chat.completions.create({
      model: MODEL,
      messages: [
        { role: "user", content: "hello", name: "alice" },
        { role: "user", content: "and me", name: "bob" },
      ],
    });
    expect(stack.sim.posts.at(-1)!.content).toContain("User (alice): hello");
    expect(stack.sim.posts.at(-1)!.content).toContain("User (bob): and me");
  });
});

describe("answer limits (pure)", () => {
  test("a growing answer holds back a tail that may become a stop sequence", () => {
    const limits = { stop: ["END"], maxTokens: undefined };
    expect(shapeAnswer("abc E", limits, false).text).toBe("abc ");
    expect(shapeAnswer("abc EN", limits, false).text).toBe("abc ");
    expect(shapeAnswer("abc EX", limits, false).text).toBe("abc EX");
    expect(shapeAnswer("abc E", limits, true)).toEqual({ text: "abc E", finish: undefined });
    expect(shapeAnswer("abc END more", limits, false)).toEqual({ text: "abc ", finish: "stop" });
  });

  test("max tokens cut between code points, CJK counted as a token each", () => {
    const shaped = shapeAnswer("你好世界 and more", { stop: [], maxTokens: 3 }, true);
    expect(shaped).toEqual({ text: "你好世", finish: "length" });
  });
});
