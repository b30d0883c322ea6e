import type { FollowResult } from "./reply-follower.ts";

/**
 * Coze writes at most 2000 characters per message; a longer answer ends with
 * an ellipsis and goes on when asked to continue (README, "How a request becomes a Discord message", long answers).
 * These decide when to ask, and how the pieces join into one answer.
 */

/** A piece this long (code points, after the mention) fills Coze's message. */
const FULL_MESSAGE = 1900;

const TRAILING_ELLIPSIS = /(?:…|\.\.\.)\s*$/;
const TRAILING_DOTS = /[.…]+\s*$/;
const CONTINUE_BUTTON = /^continue|^继续/i;

/** Whether Coze cut this piece short: it fills its message and ends with an ellipsis, or a button offers to continue. */
export function shouldContinue(piece: Pick<FollowResult, "text" | "buttons" | "finishReason">): boolean {
  if (piece.finishReason !== "stop") return false;
  if (piece.buttons.some((label) => CONTINUE_BUTTON.test(label.trim()))) return true;
  return TRAILING_ELLIPSIS.test(piece.text) && [...piece.text].length >= FULL_MESSAGE;
}

/** The text of a piece that goes on in the next one: its trailing ellipsis removed, nothing else changed. */
export function continuation(text: string): string {
  return text.replace(TRAILING_ELLIPSIS, "");
}

/** A growing piece long enough to be cut, without trailing dots, which may turn out to be the ellipsis of a cut answer. */
export function withoutTrailingDots(text: string): string {
  return text.length >= FULL_MESSAGE ? text.replace(TRAILING_DOTS, "") : text;
}
