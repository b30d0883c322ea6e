import { invalidRequest } from "./api-error.ts";
import { FREE_ANSWER, type AnswerRules } from "./answer-rules.ts";
import { parseResponseFormat } from "./json-answer.ts";
import { parseTools, renderToolCalls, type ToolCall } from "./tools.ts";
import { asObject, optionalBoolean, requiredString, type JsonObject } from "./validate.ts";

export type Role = "system" | "developer" | "user" | "assistant" | "tool" | "function";
const ROLES = new Set<string>(["system", "developer", "user", "assistant", "tool", "function"]);

/** An image a chat message carries: an http(s) URL or a `data:` URI, and where it sat in the request. */
export interface ImageInput {
  url: string;
  param: string;
}

/** A chat message reduced to what can travel through Discord: its text and its images. */
export interface ChatMessage {
  role: Role;
  text: string;
  images: ImageInput[];
  /** The participant's `name`, when the client gave one; for a tool result, the call it answers. */
  name?: string;
  /** An assistant turn's function calls (already rendered into `text`). */
  toolCalls?: ToolCall[];
  /** A tool result's call. */
  toolCallId?: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  /** `stream_options.include_usage`: one more chunk with `usage` before `[DONE]`. */
  includeUsage: boolean;
  /** `stop`: up to 4 sequences the answer ends before. */
  stop: string[];
  /** `max_completion_tokens` or `max_tokens`. */
  maxTokens: number | undefined;
  /** `n`: how many choices. */
  n: number;
  /** `tools`, `tool_choice` and `response_format`: what shape the answer must have. */
  rules: AnswerRules;
  /** `coze_parameters`: a chatflow's input parameters for this request (an extra body field SDKs can send). */
  cozeParameters?: JsonObject;
}

/** Most choices one request may ask for: each is a relay of its own through Discord. */
export const MAX_CHOICES = 8;

/**
 * Validates a `/v1/chat/completions` body. Fields that cannot mean anything
 * to a Coze bot (`temperature`, `seed`, `user`…) are accepted and have no
 * effect: the README lists them.
 */
export function parseChatRequest(raw: unknown): ChatRequest {
  const body = asObject(raw, null);
  const model = requiredString(body, "model");
  const list = body.messages;
  if (!Array.isArray(list)) throw invalidRequest("'messages' must be an array of messages.", "messages");
  if (list.length === 0) throw invalidRequest("'messages' must contain at least one message.", "messages");
  const messages = list.map((m, i) => parseMessage(m, `messages[${i}]`));
  nameToolResults(messages);
  if (messages.every((m) => m.text.trim() === "" && m.images.length === 0)) {
    throw invalidRequest("'messages' hold no text or image to send.", "messages");
  }
  const stream = optionalBoolean(body, "stream") ?? false;
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    const options = asObject(body.stream_options, "stream_options");
    includeUsage = optionalBoolean(options, "include_usage", "stream_options.include_usage") ?? false;
  }
  const cozeParameters = parseCozeParameters(body);
  return { model, messages, stream, includeUsage, stop: parseStop(body.stop), maxTokens: parseMaxTokens(body), n: parseN(body.n), rules: parseRules(body), ...(cozeParameters ? { cozeParameters } : {}) };
}

/** `coze_parameters`: an object of a Coze chatflow's input parameters, merged over the entry's `parameters`; no effect on a bot. */
export function parseCozeParameters(body: JsonObject): JsonObject | undefined {
  if (body.coze_parameters === undefined || body.coze_parameters === null) return undefined;
  return asObject(body.coze_parameters, "coze_parameters");
}

/** `stop`: a string or an array of up to 4 non-empty strings. */
export function parseStop(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === "string" && s !== "")) {
    throw invalidRequest("'stop' must be a non-empty string or an array of up to 4 of them.", "stop");
  }
  return list as string[];
}

/** `max_completion_tokens` (newer clients) or `max_tokens`: a whole number above 0. */
export function parseMaxTokens(body: JsonObject, keys = ["max_completion_tokens", "max_tokens"]): number | undefined {
  for (const key of keys) {
    const value = body[key];
    if (value === undefined || value === null) continue;
    if (!Number.isInteger(value) || (value as number) < 1) throw invalidRequest(`'${key}' must be a whole number above 0.`, key);
    return value as number;
  }
  return undefined;
}

function parseN(value: unknown): number {
  if (value === undefined || value === null) return 1;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_CHOICES) {
    throw invalidRequest(`'n' must be a whole number from 1 to ${MAX_CHOICES} (each choice is a Coze reply of its own).`, "n");
  }
  return value as number;
}

function parseRules(body: JsonObject): AnswerRules {
  // The legacy `functions` answer in another shape (`function_call`); clients that still send it are told, not ignored.
  if (Array.isArray(body.functions) && body.functions.length > 0 && body.function_call !== "none") {
    throw invalidRequest("'functions' is deprecated and not supported; send 'tools'.", "functions", "unsupported_parameter");
  }
  const { tools, choice } = parseTools(body, false);
  const format = parseResponseFormat(body.response_format, "response_format", false);
  if (tools.length === 0 && format.type === "text") return FREE_ANSWER;
  return { tools, toolChoice: choice, format };
}

/**
 * A `tool` message answers the call whose id it names: it is rendered
 * `Tool (get_weather, call_1): …` so that Coze sees which call each result
 * answers, the function's name found among the assistant's earlier calls.
 */
export function nameToolResults(messages: ChatMessage[]): void {
  const names = new Map<string, string>();
  for (const m of messages) {
    for (const call of m.toolCalls ?? []) names.set(call.id, call.name);
    if (m.role !== "tool" || m.toolCallId === undefined) continue;
    const fn = names.get(m.toolCallId);
    m.name = fn ? `${fn}, ${m.toolCallId}` : m.toolCallId;
  }
}

function parseMessage(raw: unknown, param: string): ChatMessage {
  const message = asObject(raw, param);
  const role = message.role;
  if (typeof role !== "string" || !ROLES.has(role)) {
    throw invalidRequest(`'${param}.role' must be one of ${[...ROLES].join(", ")}.`, `${param}.role`);
  }
  const content = message.content;
  const images: ImageInput[] = [];
  let text: string;
  if (typeof content === "string") text = content;
  else if (content === null || content === undefined) {
    if (role === "user" || role === "system" || role === "developer") {
      throw invalidRequest(`'${param}.content' is required.`, `${param}.content`);
    }
    text = "";
  } else if (Array.isArray(content)) {
    const texts: string[] = [];
    content.forEach((part, k) => parsePart(part, `${param}.content[${k}]`, texts, images));
    text = texts.join("\n");
  } else {
    throw invalidRequest(`'${param}.content' must be a string or an array of content parts.`, `${param}.content`);
  }
  const name = typeof message.name === "string" && message.name.trim() !== "" ? message.name.trim() : undefined;
  const parsed: ChatMessage = { role: role as Role, text, images, ...(name ? { name } : {}) };
  if (role === "tool" && typeof message.tool_call_id === "string" && message.tool_call_id !== "") parsed.toolCallId = message.tool_call_id;
  if (role === "assistant" && Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
    parsed.toolCalls = message.tool_calls.map((c, k) => parseToolCall(c, `${param}.tool_calls[${k}]`));
    parsed.text = [text.trim(), renderToolCalls(parsed.toolCalls)].filter((t) => t !== "").join("\n");
  }
  return parsed;
}

function parseToolCall(raw: unknown, param: string): ToolCall {
  const call = asObject(raw, param);
  const fn = asObject(call.function, `${param}.function`);
  if (typeof call.id !== "string" || typeof fn.name !== "string") throw invalidRequest(`'${param}' needs an 'id' and a 'function.name'.`, param);
  return { id: call.id, name: fn.name, arguments: typeof fn.arguments === "string" ? fn.arguments : JSON.stringify(fn.arguments ?? {}) };
}

function parsePart(raw: unknown, param: string, texts: string[], images: ImageInput[]): void {
  const part = asObject(raw, param);
  switch (part.type) {
    case "text":
      if (typeof part.text !== "string") throw invalidRequest(`'${param}.text' must be a string.`, `${param}.text`);
      texts.push(part.text);
      return;
    case "image_url":
      images.push({ url: imageUrl(part, param), param });
      return;
    case "refusal":
      return; // an assistant's refusal part carries nothing worth relaying
    default:
      throw invalidRequest(
        `'${param}.type' must be 'text' or 'image_url'${typeof part.type === "string" ? `; '${part.type}' is not supported` : ""}.`,
        `${param}.type`,
      );
  }
}

function imageUrl(part: JsonObject, param: string): string {
  const value = part.image_url;
  const url = typeof value === "string" ? value : value && typeof value === "object" ? (value as JsonObject).url : undefined;
  if (typeof url !== "string" || !/^(https?:|data:)/i.test(url)) {
    throw invalidRequest(`'${param}.image_url.url' must be an http(s) URL or a data: URI.`, `${param}.image_url`);
  }
  return url;
}
