import { invalidRequest } from "./api-error.ts";
import { parseMaxTokens } from "./chat-request.ts";
import type { ChatMessage, ImageInput, Role } from "./chat-request.ts";
import { asObject, optionalBoolean, optionalString, requiredString, type JsonObject } from "./validate.ts";

/** A `POST /v1/responses` request, reduced to what the relay does with it. */
export interface ResponsesRequest {
  model: string;
  /** `instructions` and `input`, as chat messages (instructions first, as a system turn). */
  input: ChatMessage[];
  instructions: string | undefined;
  previousResponseId: string | undefined;
  stream: boolean;
  maxOutputTokens: number | undefined;
}

const ROLES = new Set(["user", "assistant", "system", "developer"]);

/**
 * Validates a Responses API body: `input` as a string or a list of message
 * items (`input_text`, `input_image`, and `output_text` for earlier assistant
 * turns). Function tools are not emulated yet and are refused, not ignored;
 * other fields (`temperature`, `store`, `metadata`…) have no effect.
 */
export function parseResponsesRequest(raw: unknown): ResponsesRequest {
  const body = asObject(raw, null);
  const model = requiredString(body, "model");
  const instructions = optionalString(body, "instructions");
  const input: ChatMessage[] = [];
  if (instructions?.trim()) input.push({ role: "system", text: instructions, images: [] });
  if (typeof body.input === "string") {
    if (body.input.trim() === "") throw invalidRequest("'input' must not be empty.", "input");
    input.push({ role: "user", text: body.input, images: [] });
  } else if (Array.isArray(body.input) && body.input.length > 0) {
    body.input.forEach((item, i) => input.push(parseItem(item, `input[${i}]`)));
  } else throw invalidRequest("'input' must be a string or a non-empty array of input items.", "input");
  if (!input.some((m) => m.role === "user" && (m.text.trim() !== "" || m.images.length > 0))) {
    throw invalidRequest("'input' holds no user text or image to send.", "input");
  }
  const tools = body.tools;
  if (Array.isArray(tools) && tools.length > 0 && body.tool_choice !== "none") {
    throw invalidRequest("'tools' (function calling) is not supported by this service yet.", "tools", "unsupported_parameter");
  }
  const format = (body.text as JsonObject | undefined)?.format as JsonObject | undefined;
  if (format && format.type !== "text") {
    throw invalidRequest(`'text.format' of type '${String(format.type)}' is not supported by this service yet; only 'text'.`, "text.format", "unsupported_parameter");
  }
  const previous = optionalString(body, "previous_response_id");
  return {
    model,
    input,
    instructions,
    previousResponseId: previous?.trim() || undefined,
    stream: optionalBoolean(body, "stream") ?? false,
    maxOutputTokens: parseMaxTokens(body, ["max_output_tokens"]),
  };
}

function parseItem(raw: unknown, param: string): ChatMessage {
  const item = asObject(raw, param);
  if (item.type !== undefined && item.type !== "message") {
    throw invalidRequest(`'${param}.type' '${String(item.type)}' is not supported; send message items.`, `${param}.type`, "unsupported_parameter");
  }
  const role = item.role;
  if (typeof role !== "string" || !ROLES.has(role)) throw invalidRequest(`'${param}.role' must be one of user, assistant, system, developer.`, `${param}.role`);
  const images: ImageInput[] = [];
  let text: string;
  if (typeof item.content === "string") text = item.content;
  else if (Array.isArray(item.content)) {
    const texts: string[] = [];
    item.content.forEach((rawPart, k) => {
      const where = `${param}.content[${k}]`;
      const part = asObject(rawPart, where);
      if (part.type === "input_text" || part.type === "output_text" || part.type === "text") {
        if (typeof part.text !== "string") throw invalidRequest(`'${where}.text' must be a string.`, `${where}.text`);
        texts.push(part.text);
      } else if (part.type === "input_image") {
        const url = typeof part.image_url === "string" ? part.image_url : undefined;
        if (!url || !/^(https?:|data:)/i.test(url)) throw invalidRequest(`'${where}.image_url' must be an http(s) URL or a data: URI.`, `${where}.image_url`);
        images.push({ url, param: where });
      } else if (part.type !== "refusal") {
        throw invalidRequest(`'${where}.type' must be input_text, input_image or output_text.`, `${where}.type`);
      }
    });
    text = texts.join("\n");
  } else throw invalidRequest(`'${param}.content' must be a string or an array of content parts.`, `${param}.content`);
  return { role: (role === "developer" ? "system" : role) as Role, text, images };
}
