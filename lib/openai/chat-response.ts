import type { ToolCall } from "./tools.ts";
import type { Usage } from "./usage.ts";

/** OpenAI's reasons a choice ended; `tool_calls` when the answer is function calls. */
export type FinishReason = "stop" | "length" | "tool_calls";

/** What every chunk and the whole completion of one request share. */
export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

/** Completion ids need to be unique, not secret: a random prefix per process and a counter. */
const ID_PREFIX = `chatcmpl-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
let idCounter = 0;

export function completionIdentity(model: string): CompletionIdentity {
  return { id: `${ID_PREFIX}${(idCounter++).toString(36).padStart(6, "0")}`, created: Math.floor(Date.now() / 1000), model };
}

/**
 * The non-streaming answer: one choice per `n`, in order; a choice that calls
 * functions has `tool_calls` and no content. A model's reasoning is
 * `reasoning_content` beside `content` (the convention DeepSeek's API set,
 * which Open WebUI and LibreChat show as thinking).
 */
export function chatCompletion(who: CompletionIdentity, choices: { content: string; toolCalls?: ToolCall[]; finishReason: FinishReason; reasoning?: string }[], usage: Usage) {
  return {
    id: who.id,
    object: "chat.completion",
    created: who.created,
    model: who.model,
    choices: choices.map((c, index) => ({ index, message: messageOf(c), logprobs: null, finish_reason: c.finishReason })),
    usage,
  };
}

/** A choice's message, built in place (no spread copies: this runs once a request). */
function messageOf(c: { content: string; toolCalls?: ToolCall[]; reasoning?: string }): Record<string, unknown> {
  const message: Record<string, unknown> = c.toolCalls
    ? { role: "assistant", content: null, refusal: null, tool_calls: c.toolCalls.map(toolCallShape) }
    : { role: "assistant", content: c.content, refusal: null };
  if (c.reasoning) message.reasoning_content = c.reasoning;
  return message;
}

const toolCallShape = (call: ToolCall) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } });

/** The streamed form of calls: one delta per call, whole (id, name and arguments at once, which every SDK's accumulator takes). */
export const toolCallDeltas = (calls: ToolCall[]) => ({ tool_calls: calls.map((call, index) => ({ index, ...toolCallShape(call) })) });

/** One streamed chunk of choice `index`; `delta` holds only what is new. */
export function chatChunk(
  who: CompletionIdentity,
  delta: { role?: "assistant"; content?: string; reasoning_content?: string; tool_calls?: object[] },
  finishReason: FinishReason | null = null,
  index = 0,
) {
  return {
    id: who.id,
    object: "chat.completion.chunk",
    created: who.created,
    model: who.model,
    choices: [{ index, delta, logprobs: null, finish_reason: finishReason }],
  };
}

/** The chunk `stream_options.include_usage` asks for: no choices, just usage. */
export function usageChunk(who: CompletionIdentity, usage: Usage) {
  return { id: who.id, object: "chat.completion.chunk", created: who.created, model: who.model, choices: [], usage };
}
