import { readLimited } from "../read-limited.ts";
import { bodyTimeout, bodyTooLarge, invalidRequest } from "../openai/api-error.ts";

/** One decoder for every body: decoding a whole buffer keeps no state between calls. */
const utf8 = new TextDecoder();

/** Deepest JSON nesting a request may have; OpenAI bodies need about six levels. */
export const MAX_JSON_DEPTH = 32;

/**
 * Reads a request body as JSON, refusing more than `limit` bytes (413) before
 * buffering them, a body that has not fully arrived within `timeoutMs` (408:
 * a client trickling bytes would otherwise hold a slot forever), and
 * malformed or absurdly nested JSON (400) before parsing.
 */
export async function readJsonBody(req: Request, limit: number, timeoutMs = 30_000): Promise<unknown> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(bodyTimeout(timeoutMs / 1000)), timeoutMs);
  });
  let bytes: Uint8Array;
  try {
    bytes = await Promise.race([readLimited(req, limit, () => bodyTooLarge(limit)), late]);
  } finally {
    clearTimeout(timer);
  }
  const text = utf8.decode(bytes);
  if (text.trim() === "") throw invalidRequest("The request body is empty; send a JSON object.");
  if (nestingDepth(text) > MAX_JSON_DEPTH) {
    throw invalidRequest(`The request body nests JSON deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidRequest("The request body is not valid JSON.");
  }
}

/** Deepest bracket nesting outside strings; a linear scan, cheaper than the parse it protects. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) max = depth;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}
