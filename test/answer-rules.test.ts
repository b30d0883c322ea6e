/**
 * The pure half of function calling and JSON answers: which
 * answers are calls, what JSON is taken out of an answer, and what a
 * growing reply must hold back.
 */
import { describe, expect, test } from "bun:test";
import { holdsBack, judgeAnswer, parseCalls, type AnswerRules } from "../lib/openai/answer-rules.ts";
import { extractJson, parseResponseFormat } from "../lib/openai/json-answer.ts";
import { renderToolCalls } from "../lib/openai/tools.ts";

const tools = [{ name: "f" }, { name: "g" }];
const auto: AnswerRules = { tools, toolChoice: { kind: "auto" }, format: { type: "text" } };
const names = (calls: ReturnType<typeof parseCalls>) => calls?.map((c) => [c.name, c.arguments]);

describe("calls", () => {
  test.each([
    ['{"tool_calls": [{"name": "f", "arguments": {"a": 1}}]}', [["f", '{"a":1}']]],
    ['  ```json\n{"tool_calls":[{"name":"f","arguments":{}},{"name":"g","arguments":"{\\"b\\":2}"}]}\n```  ', [["f", "{}"], ["g", '{"b":2}']]],
    ['{"name": "g", "arguments": {"x": [1]}}', [["g", '{"x":[1]}']]],
    ['```\n{"name": "g"}\n```', [["g", "{}"]]],
  ])("%s is a call", (answer, expected) => {
    expect(names(parseCalls(answer, ["f", "g"]))).toEqual(expected);
  });

  test.each([
    ["prose", "The weather is fine."],
    ["a function not offered", '{"tool_calls": [{"name": "h", "arguments": {}}]}'],
    ["one of two calls not offered", '{"tool_calls": [{"name": "f", "arguments": {}}, {"name": "h", "arguments": {}}]}'],
    ["no calls", '{"tool_calls": []}'],
    ["arguments that are no object", '{"name": "f", "arguments": "[1,2]"}'],
    ["prose around a fence", 'Sure:\n```json\n{"name": "f", "arguments": {}}\n```'],
    ["broken JSON", '{"name": "f", "arguments": {'],
  ])("%s is not a call", (_what, answer) => {
    expect(parseCalls(answer, ["f", "g"])).toBeUndefined();
  });

  test("ids are fresh and in OpenAI's shape; calls render canonically, whatever the spacing of their arguments", () => {
    const [a] = parseCalls('{"name": "f", "arguments": {"a": 1}}', ["f"])!;
    const [b] = parseCalls('{"name": "f", "arguments": {"a": 1}}', ["f"])!;
    expect(a.id).not.toBe(b.id);
    expect(renderToolCalls([{ ...a, arguments: '{ "a" : 1 }' }])).toBe(renderToolCalls([a]));
  });
});

describe("verdicts", () => {
  test("required without a call is wrong, with a re-ask naming the format; auto is text", () => {
    const wrong = judgeAnswer("no", { ...auto, toolChoice: { kind: "required" } });
    expect(wrong).toMatchObject({ kind: "wrong", problem: "Coze's answer did not call a function" });
    expect(judgeAnswer("no", auto)).toEqual({ kind: "text", text: "no" });
    expect(judgeAnswer('{"name": "g"}', { ...auto, toolChoice: { kind: "function", name: "f" } }).kind).toBe("wrong");
  });

  test("JSON: clean JSON out of fences; a non-object for json_object and a schema miss are wrong", () => {
    const object: AnswerRules = { tools: [], toolChoice: { kind: "none" }, format: { type: "json_object" } };
    expect(judgeAnswer('```json\n{"a": 1}\n```', object)).toEqual({ kind: "text", text: '{"a": 1}' });
    expect(judgeAnswer("[1]", object).kind).toBe("wrong");
    const schema = parseResponseFormat({ type: "json_schema", json_schema: { name: "n", schema: { type: "object", required: ["a"] } } }, "response_format", false);
    const rules: AnswerRules = { tools: [], toolChoice: { kind: "none" }, format: schema };
    expect(judgeAnswer('{"a": null}', rules).kind).toBe("text");
    expect(judgeAnswer('{"b": 1}', rules)).toMatchObject({ kind: "wrong", problem: expect.stringContaining("does not match the schema") });
    expect(extractJson("not json")).toBeUndefined();
  });
});

describe("holding back a growing reply", () => {
  test.each([
    ["", true],
    ["  {", true],
    ["`", true],
    ["``", true],
    ["```js", true],
    ["```json\n", true],
    ["```json\n{", true],
    ["```python\nprint(1)", false],
    ["Hello", false],
    ["[1", false],
  ])("with auto, %j holds back: %p", (text, held) => {
    expect(holdsBack(text, auto)).toBe(held);
  });

  test("JSON and required calls hold everything; no tools hold nothing", () => {
    expect(holdsBack("Hello", { ...auto, toolChoice: { kind: "required" } })).toBe(true);
    expect(holdsBack("Hello", { tools: [], toolChoice: { kind: "none" }, format: { type: "json_object" } })).toBe(true);
    expect(holdsBack("{", { tools: [], toolChoice: { kind: "none" }, format: { type: "text" } })).toBe(false);
  });
});
