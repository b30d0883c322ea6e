import { extractJson, formatInstruction, jsonProblem, type ResponseFormat } from "./json-answer.ts";
import { toolCallId, toolInstruction, type ToolCall, type ToolChoice, type ToolSpec } from "./tools.ts";
import type { JsonObject } from "./validate.ts";

/**
 * What the client asked of the answer's shape: functions it offers, whether
 * a call is required, and JSON. Pure: turned into an instruction for Coze
 * before the relay, and into a verdict on Coze's answer after it.
 */
export interface AnswerRules {
  tools: ToolSpec[];
  toolChoice: ToolChoice;
  format: ResponseFormat;
}

export const FREE_ANSWER: AnswerRules = { tools: [], toolChoice: { kind: "none" }, format: { type: "text" } };

/** The paragraph appended to the prompt, or undefined when the answer is free. */
export function answerInstruction(rules: AnswerRules): string | undefined {
  const parts = [toolInstruction(rules.tools, rules.toolChoice), formatInstruction(rules.format)].filter((p) => p !== undefined);
  return parts.length > 0 ? parts.join("\n") : undefined;
}

/** Coze's answer, judged: text for the client (clean JSON in JSON mode), function calls, or wrong, with what to ask again. */
export type Verdict =
  | { kind: "text"; text: string }
  | { kind: "calls"; calls: ToolCall[] }
  | { kind: "wrong"; problem: string; reask: string };

export function judgeAnswer(answer: string, rules: AnswerRules): Verdict {
  const { toolChoice } = rules;
  if (toolChoice.kind !== "none") {
    const calls = parseCalls(answer, toolChoice.kind === "function" ? [toolChoice.name] : rules.tools.map((t) => t.name));
    if (calls) return { kind: "calls", calls };
    if (toolChoice.kind !== "auto") {
      const name = toolChoice.kind === "function" ? toolChoice.name : "<function name>";
      return {
        kind: "wrong",
        problem: toolChoice.kind === "function" ? `Coze's answer did not call the function '${toolChoice.name}'` : "Coze's answer did not call a function",
        reask: `Your answer did not call ${toolChoice.kind === "function" ? `the function "${name}"` : "a function"}, which is required. Answer again with nothing but {"tool_calls": [{"name": "${name}", "arguments": {…}}]}`,
      };
    }
  }
  const { problem, json } = jsonProblem(answer, rules.format);
  if (problem) {
    return { kind: "wrong", problem: `Coze's answer could not be used as JSON: ${problem}`, reask: `Your answer could not be used: ${problem}. Answer again with nothing but the JSON object.` };
  }
  return { kind: "text", text: json ?? answer };
}

/**
 * The calls an answer makes: `{"tool_calls": [{name, arguments}]}` or a
 * single `{name, arguments}`, bare or in code fences, every call naming one
 * of `names`. Anything else is not a call (undefined).
 */
export function parseCalls(answer: string, names: string[]): ToolCall[] | undefined {
  const found = extractJson(answer)?.value;
  if (!isObject(found)) return undefined;
  const list = Array.isArray(found.tool_calls) ? found.tool_calls : "name" in found ? [found] : undefined;
  if (!list || list.length === 0) return undefined;
  const calls: ToolCall[] = [];
  for (const item of list) {
    if (!isObject(item) || typeof item.name !== "string" || !names.includes(item.name)) return undefined;
    const args = argumentsOf(item.arguments ?? item.parameters ?? {});
    if (args === undefined) return undefined;
    calls.push({ id: toolCallId(), name: item.name, arguments: args });
  }
  return calls;
}

/** Arguments as the JSON string OpenAI sends: an object, or a string holding one. */
function argumentsOf(value: unknown): string | undefined {
  if (typeof value === "string") {
    try {
      return isObject(JSON.parse(value)) ? value : undefined;
    } catch {
      return undefined;
    }
  }
  return isObject(value) ? JSON.stringify(value) : undefined;
}

const isObject = (value: unknown): value is JsonObject => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * While a reply grows: must what Coze has written so far wait? JSON answers
 * and required calls wait for the whole answer (it is checked, and may be
 * asked again); with `auto`, text waits while it may still become a call
 * (empty, an object, or a code fence that may hold one).
 */
export function holdsBack(soFar: string, rules: AnswerRules): boolean {
  if (rules.format.type !== "text" || rules.toolChoice.kind === "required" || rules.toolChoice.kind === "function") return true;
  if (rules.toolChoice.kind === "none") return false;
  const text = soFar.trimStart();
  if (text === "" || text.startsWith("{")) return true;
  if (!text.startsWith("```")) return "```".startsWith(text);
  const newline = text.indexOf("\n");
  if (newline === -1) return true; // the fence's language is still being written
  const body = text.slice(newline + 1).trimStart();
  return body === "" || body.startsWith("{");
}
