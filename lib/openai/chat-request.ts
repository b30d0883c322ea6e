import { invalidRequest } from "./api-error.ts";
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
  /** The participant's `name`, when the client gave one. */
  name?: string;
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
}

/** Most choices one request may ask for: each is a relay of its own through Discord. */
export const MAX_CHOICES = 8;

/**
 * Validates a `/v1/chat/completions` body. Fields the relay cannot honour
 * (`temperature`, `tools`, `user`…) are accepted and ignored: the README lists them.
 */
export function parseChatRequest(raw: unknown): ChatRequest {
  const body = asObject(raw, null);
  const model = requiredString(body, "model");
  const list = body.messages;
  if (!Array.isArray(list)) throw invalidRequest("'messages' must be an array of messages.", "messages");
  if (list.length === 0) throw invalidRequest("'messages' must contain at least one message.", "messages");
  const messages = list.map((m, i) => parseMessage(m, `messages[${i}]`));
  if (messages.every((m) => m.text.trim() === "" && m.images.length === 0)) {
    throw invalidRequest("'messages' hold no text or image to send.", "messages");
  }
  const stream = optionalBoolean(body, "stream") ?? false;
  let includeUsage = false;
  if (body.stream_options !== undefined && body.stream_options !== null) {
    const options = asObject(body.stream_options, "stream_options");
    includeUsage = optionalBoolean(options, "include_usage", "stream_options.include_usage") ?? false;
  }
  refuseUnsupported(body);
  return { model, messages, stream, includeUsage, stop: parseStop(body.stop), maxTokens: parseMaxTokens(body), n: parseN(body.n) };
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

/**
 * Fields this service cannot honour yet are refused rather than ignored: an
 * answer that looks as if the field had been honoured is the worst outcome
 * (a client would trust prose where it asked for JSON or a function call).
 */
function refuseUnsupported(body: JsonObject): void {
  const format = body.response_format;
  if (format !== undefined && format !== null) {
    const type = (format as JsonObject)?.type;
    if (type !== "text") {
      throw invalidRequest(`'response_format' of type '${String(type)}' is not supported by this service yet; only 'text'.`, "response_format", "unsupported_parameter");
    }
  }
  for (const key of ["tools", "functions"]) {
    const list = body[key];
    const off = body.tool_choice === "none" || body.function_call === "none";
    if (Array.isArray(list) && list.length > 0 && !off) {
      throw invalidRequest(`'${key}' (function calling) is not supported by this service yet.`, key, "unsupported_parameter");
    }
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
  return { role: role as Role, text, images, ...(name ? { name } : {}) };
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
