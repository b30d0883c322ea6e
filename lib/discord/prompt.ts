import type { ChatMessage } from "../openai/chat-request.ts";
import { roleLabel } from "../openai/role-label.ts";
import { splitText } from "./text-split.ts";

/** Discord refuses message content longer than this (error 50035). */
export const DISCORD_CONTENT_LIMIT = 2000;

/**
 * The Discord messages one chat request becomes. Only the last one mentions
 * the Coze bot; the ones before it exist only when the last user message alone
 * is too long for one message.
 */
export interface PromptPlan {
  /** Contents to post, in order; the last starts with the mention. */
  contents: string[];
  /** The prompt as Coze reads it (for the usage estimate). */
  text: string;
  /** How many turns were dropped to fit. */
  dropped: number;
}

/**
 * Renders a conversation as one text and fits it into Discord's limit.
 *
 * A lone user message is sent as it is. Anything else becomes one paragraph
 * per turn, `User: …`, `Assistant: …`, `System: …`, `Tool (fn, call): …`,
 * separated by blank lines; an `instruction` (what the client requires of
 * the answer: functions, JSON) is the last paragraph and is never dropped.
 * To fit, whole turns are dropped: the oldest user and assistant turns first,
 * then system turns, never the last user message. If what is left is still
 * too long it is split over several messages, the last one carrying the
 * mention.
 */
export function planPrompt(messages: ChatMessage[], mention: string, instruction?: string, limit = DISCORD_CONTENT_LIMIT): PromptPlan {
  const turns = messages.filter((m) => m.text.trim() !== "");
  let anchor = turns.findLastIndex((m) => m.role === "user");
  if (anchor === -1) anchor = turns.length - 1;
  const prefix = `${mention} `;
  const budget = limit - prefix.length;
  const pinned = instruction ? `\n\n${instruction}` : "";

  // Lengths are kept as sums so that dropping turns from a long conversation stays linear.
  const labelled = turns.map((m) => `${roleLabel(m)}: ${m.text.trim()}`);
  const kept = turns.map(() => true);
  let count = turns.length;
  let total = labelled.reduce((sum, t) => sum + t.length, 0);
  const bare = () => (count === 1 && !pinned ? bareText(turns[kept.indexOf(true)]) : undefined);
  const length = () => (bare()?.length ?? total + 2 * (count - 1) + pinned.length);
  const dropOrder = turns
    .map((m, i) => ({ i, system: m.role === "system" || m.role === "developer" }))
    .filter(({ i }) => i !== anchor)
    .sort((a, b) => Number(a.system) - Number(b.system) || a.i - b.i);
  let dropped = 0;
  while (length() > budget && dropped < dropOrder.length) {
    const { i } = dropOrder[dropped++];
    kept[i] = false;
    count--;
    total -= labelled[i].length;
  }
  const text = bare() ?? labelled.filter((_, i) => kept[i]).join("\n\n") + pinned;
  if (text.length <= budget) return { contents: [prefix + text], text, dropped };

  // What is left (the last user message, the instruction) is too long for one message.
  const pieces = splitText(text, limit);
  const last = pieces.pop()!;
  pieces.push(...splitText(last, budget));
  pieces[pieces.length - 1] = prefix + pieces[pieces.length - 1];
  return { contents: pieces, text, dropped };
}

/** A lone user message without a name goes as it is; any other lone turn keeps its label, which says what it is. */
function bareText(message: ChatMessage): string | undefined {
  return message.role === "user" && !message.name ? message.text.trim() : undefined;
}
