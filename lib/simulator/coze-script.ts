import { followInstructions } from "./instructions.ts";

/** One message of the history Coze read as a reply's context: who wrote it, and what. */
export interface ContextLine {
  authorId: string;
  content: string;
}

/**
 * How the simulated Coze bot answers one prompt. Every field is optional;
 * the defaults make a short reply edited in a few steps, then buttons.
 */
export interface CozeScript {
  /** The whole answer; longer than one message (2000 characters), it is cut with an ellipsis and goes on when asked to continue. */
  text?: string;
  /** Literal texts of successive edits (overrides the growth of `text`), e.g. to rewrite a reply. */
  edits?: string[];
  /** How many steps the reply grows in (each message of it). */
  steps?: number;
  /** Delay before the first message, ms. */
  firstDelayMs?: number;
  /** Delay between edits, ms. */
  editIntervalMs?: number;
  /** Coze's suggestion buttons at the end (default true). */
  buttons?: boolean;
  /** An image in the reply: as an embed, an attachment, a markdown link in the text, or an attachment in a second message. */
  image?: "embed" | "attachment" | "markdown" | "separate";
  /** Answer with this Coze error text instead: Coze posts its errors as its reply, mentioning the sender, as it does an answer. */
  error?: string;
  /** Do not answer at all. */
  silent?: boolean;
  /** Called after each edit is dispatched, with its index; lets a test inject a fault mid-reply. */
  onEdit?: (index: number) => void;
}

/** Coze's own error texts, which it posts in place of an answer when a limit or a failure stops the bot; for tests and the demo. */
export const COZE_ERRORS = {
  dailyLimit: "You have exceeded the daily limit for sending messages to the bot. Please try again later.",
  freeCredits: "You've used up your free chat credits. Please upgrade or wait for the credits to reset.",
  creditsToday: "You've used up your credits for today.",
  developerCredits: "The bot is unavailable due to the developer's message credits being exhausted.",
  somethingWrong: "Something wrong occurs, please retry.",
  someError: "Some error occurred. Please try again.",
  unusualTraffic: "We've detected unusual traffic from your network, please try again later.",
  tooManyUsers: "There are too many users now. Please try again later.",
} as const;

const DEMO_PARAGRAPH =
  "This reply comes from the Discord simulator that ships with coze-chat-proxy, not from a real Coze bot. " +
  "It was posted in a simulated Discord channel, edited in steps the way Coze writes, and relayed to you as an OpenAI completion.";

/**
 * The simulated bot's default behaviour: deterministic, recognisable, and
 * driven by the prompt so that the demo can show every feature:
 * "draw …" or "image …" returns a picture, "error" a Coze error, "long" a
 * reply over several messages; functions and JSON the service asks for are
 * answered as a capable model would ("ignore instructions" makes a bot that
 * does not); anything else is echoed back.
 */
export function defaultScript(prompt: string, context: ContextLine[] = []): CozeScript {
  const text = prompt.trim();
  if (/^\s*(draw|image|picture|paint|画)/i.test(text)) {
    return { text: `Here is a picture of ${JSON.stringify(text.slice(0, 200))}.`, image: "embed", steps: 2 };
  }
  if (/\bcoze error\b/i.test(text)) return { error: COZE_ERRORS.somethingWrong };
  const followed = followInstructions(text, context.map((line) => line.content));
  if (followed !== undefined) return { text: followed, steps: 3 };
  if (/\blong reply\b/i.test(text)) {
    const lines = Array.from({ length: 60 }, (_, i) => `Line ${i + 1} of a long simulated reply, which Coze cuts at 2000 characters and continues when asked.`);
    return { text: lines.join("\n"), steps: 6 };
  }
  // Coze's memory is the thread: the demo shows it by recalling the first thing said there.
  const first = context.find((line) => line.content !== "" && !line.content.startsWith("You said:"));
  const memory = first ? `\n\nEarlier in this conversation you said: ${JSON.stringify(first.content.slice(0, 200))}` : "";
  return { text: `You said: ${text}${memory}\n\n${DEMO_PARAGRAPH}`, steps: 5 };
}
