import { invalidRequest } from "./api-error.ts";
import { FREE_ANSWER, type AnswerRules } from "./answer-rules.ts";
import { parseCozeParameters, parseMaxTokens } from "./chat-request.ts";
import type { ChatMessage, ImageInput, Role } from "./chat-request.ts";
import { parseResponseFormat } from "./json-answer.ts";
import { parseTools, renderToolCalls } from "./tools.ts";
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
  /** Function tools, `tool_choice` and `text.format`. */
  rules: AnswerRules;
  /** `coze_parameters`: a chatflow's input parameters for this request. */
  cozeParameters?: JsonObject;
}

const ROLES = new Set(["user", "assistant", "system", "developer"]);

/**
 * Validates a Responses API body: `input` as a string or a list of items:
 * messages (`input_text`, `input_image`, and `output_text` for earlier
 * assistant turns), `function_call` and `function_call_output`. Function
 * tools and `text.format` are honoured as in chat; other fields
 * (`temperature`, `store`, `metadata`…) have no effect.
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
    body.input.forEach((item, i) => addItem(input, item, `input[${i}]`));
  } else throw invalidRequest("'input' must be a string or a non-empty array of input items.", "input");
  if (!input.some((m) => (m.role === "user" || m.role === "tool") && (m.text.trim() !== "" || m.images.length > 0))) {
    throw invalidRequest("'input' holds no user text, image or function output to send.", "input");
  }
  const previous = optionalString(body, "previous_response_id");
  return {
    model,
    input,
    instructions,
    previousResponseId: previous?.trim() || undefined,
    stream: optionalBoolean(body, "stream") ?? false,
    maxOutputTokens: parseMaxTokens(body, ["max_output_tokens"]),
    rules: parseRules(body),
    cozeParameters: parseCozeParameters(body),
  };
}

function parseRules(body: JsonObject): AnswerRules {
  const { tools, choice } = parseTools(body, true);
  const text = body.text === undefined || body.text === null ? {} : asObject(body.text, "text");
  const format = parseResponseFormat(text.format, "text.format", true);
  if (tools.length === 0 && format.type === "text") return FREE_ANSWER;
  return { tools, toolChoice: choice, format };
}

/**
 * One input item onto the conversation. Function calls in a row are one
 * assistant turn, as the service answered them (and as chat renders them).
 */
function addItem(input: ChatMessage[], raw: unknown, param: string): void {
  const item = asObject(raw, param);
  if (item.type === "function_call") {
    if (typeof item.call_id !== "string" || typeof item.name !== "string" || typeof item.arguments !== "string") {
      throw invalidRequest(`'${param}' needs 'call_id', 'name' and 'arguments' strings.`, param);
    }
    let turn = input.at(-1);
    if (turn?.role !== "assistant" || !turn.toolCalls) input.push((turn = { role: "assistant", text: "", images: [], toolCalls: [] }));
    turn.toolCalls!.push({ id: item.call_id, name: item.name, arguments: item.arguments });
    turn.text = renderToolCalls(turn.toolCalls!);
    return;
  }
  if (item.type === "function_call_output") {
    if (typeof item.call_id !== "string") throw invalidRequest(`'${param}.call_id' must be a string.`, `${param}.call_id`);
    const output = typeof item.output === "string" ? item.output : JSON.stringify(item.output ?? "");
    input.push({ role: "tool", text: output, images: [], toolCallId: item.call_id });
    return;
  }
  input.push(parseItem(item, param));
}

function parseItem(item: JsonObject, param: string): ChatMessage {
  if (item.type !== undefined && item.type !== "message") {
    throw invalidRequest(`'${param}.type' '${String(item.type)}' is not supported; send message, function_call or function_call_output items.`, `${param}.type`, "unsupported_parameter");
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
