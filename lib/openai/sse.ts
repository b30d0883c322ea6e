/**
 * Server-sent events as OpenAI streams them: the counterpart of openai-node's
 * decoder (`src/core/streaming.ts`), which reads `data:` lines, stops at
 * `[DONE]`, and throws when a data object carries `error`.
 */

const encoder = new TextEncoder();

/** One `data:` event holding a JSON value (JSON never contains a raw newline). */
export function sseData(value: unknown): Uint8Array {
  return encoder.encode(`data: ${JSON.stringify(value)}\n\n`);
}

/** The end-of-stream marker the SDKs wait for. */
export const SSE_DONE = encoder.encode("data: [DONE]\n\n");

/** A comment line: ignored by every SSE reader, but it keeps proxies and idle timers from cutting a quiet stream. */
export const SSE_KEEPALIVE = encoder.encode(": keepalive\n\n");

export const SSE_HEADERS: Record<string, string> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
  "x-accel-buffering": "no",
};

/** A named event (`event:` then `data:`), as the Responses API streams them. */
export function sseEvent(value: { type: string }): Uint8Array {
  return encoder.encode(`event: ${value.type}\ndata: ${JSON.stringify(value)}\n\n`);
}
