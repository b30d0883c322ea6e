import { invalidRequest } from "./api-error.ts";
import { asObject, type JsonObject } from "./validate.ts";

/**
 * Function calling, emulated (Coze has no tools of the caller): Coze is told the functions and to
 * answer a call with nothing but `{"tool_calls": [{"name", "arguments"}]}`;
 * an answer of that shape naming offered functions becomes OpenAI
 * `tool_calls`. This file holds the request side (what is offered, what is
 * required) and the shapes both sides share.
 */
export interface ToolSpec {
  name: string;
  description?: string;
  parameters?: JsonObject;
}

/** `tool_choice`: `none` offers nothing, `auto` lets Coze choose, `required` or a named function asks for a call. */
export type ToolChoice = { kind: "none" } | { kind: "auto" } | { kind: "required" } | { kind: "function"; name: string };

/** A call as the service hands it to the client: an id it generated, the function, its arguments as a JSON string. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * `tools` and `tool_choice` of a chat request (`{type:"function", function:{…}}`)
 * or of a Responses request (`{type:"function", name, …}`, `flat`).
 */
export function parseTools(body: JsonObject, flat: boolean): { tools: ToolSpec[]; choice: ToolChoice } {
  const raw = body.tools;
  if (raw === undefined || raw === null) return { tools: [], choice: parseChoice(body.tool_choice, [], flat) };
  if (!Array.isArray(raw)) throw invalidRequest("'tools' must be an array of tools.", "tools");
  const tools = raw.map((item, i): ToolSpec => {
    const param = `tools[${i}]`;
    const tool = asObject(item, param);
    if (tool.type !== "function") {
      throw invalidRequest(`'${param}.type' must be 'function'; only function tools can be emulated through Coze.`, `${param}.type`, "unsupported_parameter");
    }
    const fn = flat ? tool : asObject(tool.function, `${param}.function`);
    const where = flat ? param : `${param}.function`;
    if (typeof fn.name !== "string" || !NAME.test(fn.name)) {
      throw invalidRequest(`'${where}.name' must be 1 to 64 letters, digits, underscores or dashes.`, `${where}.name`);
    }
    const spec: ToolSpec = { name: fn.name };
    if (typeof fn.description === "string" && fn.description.trim() !== "") spec.description = fn.description.trim();
    if (fn.parameters !== undefined && fn.parameters !== null) spec.parameters = asObject(fn.parameters, `${where}.parameters`);
    return spec;
  });
  const names = new Set(tools.map((t) => t.name));
  if (names.size !== tools.length) throw invalidRequest("'tools' must not name a function twice.", "tools");
  return { tools, choice: parseChoice(body.tool_choice, tools, flat) };
}

function parseChoice(raw: unknown, tools: ToolSpec[], flat: boolean): ToolChoice {
  if (raw === undefined || raw === null) return tools.length > 0 ? { kind: "auto" } : { kind: "none" };
  if (raw === "none") return { kind: "none" };
  if (raw === "auto" || raw === "required") {
    if (tools.length === 0 && raw === "required") throw invalidRequest("'tool_choice' 'required' needs 'tools'.", "tool_choice");
    return tools.length > 0 ? { kind: raw } : { kind: "none" };
  }
  const choice = asObject(raw, "tool_choice");
  const name = flat ? choice.name : (choice.function as JsonObject | undefined)?.name;
  if (choice.type !== "function" || typeof name !== "string") {
    throw invalidRequest(
      `'tool_choice' must be 'none', 'auto', 'required' or ${flat ? "{type:'function', name}" : "{type:'function', function:{name}}"}.`,
      "tool_choice",
    );
  }
  if (!tools.some((t) => t.name === name)) throw invalidRequest(`'tool_choice' names '${name}', which is not in 'tools'.`, "tool_choice");
  return { kind: "function", name };
}

/**
 * How calls appear in a conversation Coze reads: the same object it was told
 * to answer with, ids included so that each result can name its call. The
 * rendering is canonical (arguments re-serialised) because it is also what a
 * conversation's fingerprint is taken over: the calls the service answered
 * and the same calls echoed back by the client must render alike.
 */
export function renderToolCalls(calls: ToolCall[]): string {
  return JSON.stringify({ tool_calls: calls.map((c) => ({ id: c.id, name: c.name, arguments: canonicalArguments(c.arguments) })) });
}

function canonicalArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A fresh call id, in OpenAI's shape. */
export function toolCallId(): string {
  return `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

/** The tail of the instruction Coze gets: the functions, the answer format, and what the client requires. */
export function toolInstruction(tools: ToolSpec[], choice: ToolChoice): string | undefined {
  if (choice.kind === "none" || tools.length === 0) return undefined;
  const offered = choice.kind === "function" ? tools.filter((t) => t.name === choice.name) : tools;
  const lines = [
    "You can call these functions (JSON Schema parameters):",
    JSON.stringify(offered),
    'To call functions, answer with nothing but this JSON, no other text: {"tool_calls": [{"name": "<function name>", "arguments": {<arguments>}}]}',
    'A message "Tool (<function name>, <call id>): …" is the result of the call with that id.',
  ];
  if (choice.kind === "auto") lines.push("Call a function only when it helps; otherwise answer normally.");
  else if (choice.kind === "required") lines.push("You must call at least one function now.");
  else lines.push(`You must call the function "${choice.name}" now.`);
  return lines.join("\n");
}
