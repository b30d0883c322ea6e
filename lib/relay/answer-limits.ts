import type { FinishReason } from "../openai/chat-response.ts";
import { estimateTokens } from "../openai/usage.ts";

/**
 * The client's own limits on an answer: `stop` sequences (the answer ends
 * before the first of them) and `max_tokens` (by the service's own count,
 * the one `usage` reports). Pure: applied to the whole text each time it
 * grows, so a stream and a JSON answer end at the same place.
 */
export interface AnswerLimits {
  stop: string[];
  maxTokens: number | undefined;
}

export interface ShapedAnswer {
  /** What the client may see: cut at a limit, and while the reply still grows, without a tail that may yet become a stop sequence. */
  text: string;
  /** Set when a limit ended the answer. */
  finish: FinishReason | undefined;
}

export function shapeAnswer(text: string, limits: AnswerLimits, complete: boolean): ShapedAnswer {
  let finish: FinishReason | undefined;
  let cut = text.length;
  for (const stop of limits.stop) {
    const at = text.indexOf(stop);
    if (at !== -1 && at < cut) {
      cut = at;
      finish = "stop";
    }
  }
  let shaped = text.slice(0, cut);
  if (limits.maxTokens !== undefined && estimateTokens(shaped) > limits.maxTokens) {
    shaped = prefixWithin(shaped, limits.maxTokens);
    finish = "length";
  }
  if (!complete && finish === undefined) shaped = shaped.slice(0, shaped.length - heldBack(shaped, limits.stop));
  return { text: shaped, finish };
}

/** How many trailing characters could be the start of a stop sequence, and so must wait for more text. */
function heldBack(text: string, stops: string[]): number {
  let hold = 0;
  for (const stop of stops) {
    for (let k = Math.min(stop.length - 1, text.length); k > hold; k--) {
      if (text.endsWith(stop.slice(0, k))) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

/** The longest prefix (whole code points) whose estimated token count is at most `max`. */
function prefixWithin(text: string, max: number): string {
  const points = [...text];
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (estimateTokens(points.slice(0, mid).join("")) <= max) low = mid;
    else high = mid - 1;
  }
  return points.slice(0, low).join("");
}
