import { CODE_BY_NUMBER, type ApiScript, type StoredMessage } from "./coze-api-types.ts";
import { followInstructions } from "./instructions.ts";

/**
 * How a simulated API bot or chatflow answers when a test queued nothing:
 * deterministic and driven by the prompt, so that the demo shows each case.
 * "coze code 4010" (any code Coze answers with) refuses with that code;
 * functions and JSON asked by the service are answered as a capable model
 * would ("ignore instructions" makes a bot that does not); "think" or
 * "reason" gives reasoning content before the answer; "draw …" an image;
 * anything else is echoed, with how many messages came before.
 */
export function defaultApiScript(name: string, prompt: string, history: StoredMessage[]): ApiScript {
  const code = /\bcoze code (\d{4})\b/i.exec(prompt);
  const known = code ? CODE_BY_NUMBER.get(Number(code[1])) : undefined;
  if (known) return { refuse: { status: 200, ...known } };
  const followed = followInstructions(prompt, history.map((m) => m.content));
  if (followed !== undefined) return { text: followed, deltas: 4 };
  const echo = `${name} says: ${prompt}${history.length > 0 ? ` (after ${history.length} messages)` : ""}`;
  if (/\b(think|reason|reasoning)\b/i.test(prompt)) return { reasoning: `The user wrote ${JSON.stringify(prompt.slice(0, 80))}; echoing it is the answer.`, text: echo, deltas: 4 };
  if (/^\s*(draw|image|picture|paint|画)/i.test(prompt)) return { text: `Here is a picture of ${JSON.stringify(prompt.slice(0, 200))}.`, image: true };
  return { text: echo, deltas: 4 };
}
