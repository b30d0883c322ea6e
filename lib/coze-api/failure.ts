import { UpstreamFailure, type FailureKind } from "../pool/failure.ts";

/**
 * What a Coze API error code means for the service (coze.com's codes, and
 * Coze Studio's, which reach the service the same ways):
 * - `entry`: the token is invalid or not allowed (4100, 4101, 700012006), or
 *   the bot is not published to the API or not found (4015, 4006, Studio's
 *   "agent not published"). The entry is down until fixed; the request
 *   moves on, and the client never sees a 401 for Coze's token.
 * - `quota`: usage limit, balance, arrears, credits (4008, 4011, 4019, 4022,
 *   4027, 4028): the entry rests (QUOTA_COOLDOWN), the request moves on, else 429.
 * - `busy`: rate limited or busy: waited out within the start deadline, then
 *   the request moves on, else 429 with `retry-after`.
 * - `gone` (4200, not found): a continued conversation is gone, and is
 *   started again with its history; on a new chat the bot or chatflow is
 *   missing, and the entry is down like 4006.
 * - `input`: the prompt is longer than the model's context (4010): a 400
 *   `context_length_exceeded`, not the entry's fault.
 * - `file`: a file Coze cannot take (4300–4304): a 400 naming the image part.
 * - `action`: the bot waits for the caller's tool output; nothing here can give it.
 * - `other`: anything else, Studio's run errors (103…) and 5000 among them: 502.
 */
export type CozeApiFailureKind = "entry" | "quota" | "busy" | "gone" | "input" | "file" | "action" | "other";

const ENTRY_CODES = new Set([4100, 4101, 700012006, 4015, 4006]);
const QUOTA_CODES = new Set([4008, 4011, 4019, 4022, 4027, 4028]);
// 4016 (the conversation is busy) should not happen, since chats in one conversation take turns and a chat
// given up on is cancelled; should it still, it passes like the others.
const BUSY_CODES = new Set([4013, 4020, 4009, 4016]);
const FILE_CODES = new Set([4300, 4301, 4302, 4303, 4304]);
/** Coze Studio says a bot is not published to its API channel in words, under a generic code (100000000, or 103100001 around it). */
const STUDIO_NOT_PUBLISHED = /agent not published/;

/** The kind of a failure from Coze's code (and its words, for Studio's), or from the HTTP status when there is no code. */
export function failureKind(code: number | undefined, status?: number, msg = ""): CozeApiFailureKind {
  if (code !== undefined && code !== 0) {
    if (ENTRY_CODES.has(code) || STUDIO_NOT_PUBLISHED.test(msg)) return "entry";
    if (QUOTA_CODES.has(code)) return "quota";
    if (BUSY_CODES.has(code)) return "busy";
    if (code === 4200) return "gone";
    if (code === 4010) return "input";
    if (FILE_CODES.has(code)) return "file";
    return "other";
  }
  if (status === 401 || status === 403) return "entry";
  if (status === 429) return "busy";
  return "other";
}

/** Words a user can act on for an entry that is down. */
export function entryProblem(code: number | undefined, msg: string): string {
  if (code === 4015) return `the bot is not published to the API (Coze code 4015): publish it with "API" checked in Coze`;
  if (STUDIO_NOT_PUBLISHED.test(msg)) return `the bot is not published to the API channel (Coze Studio: "${firstLine(msg)}"): publish it in Coze Studio with "API" checked`;
  if (code === 4006) return `Coze does not know this bot_id (code 4006): copy it from the bot's URL in Coze`;
  if (code === 4200) return `Coze does not find this bot or chatflow (code 4200: ${msg}): check bot_id or workflow_id, and that it is published`;
  return `Coze refused the token (${code ?? "HTTP 401"}: ${msg}): create a personal access token with chat permission; for 扣子 set "api_base": "https://api.coze.cn"`;
}

/** Coze Studio's messages may carry a stack trace after their first line (its errorx's `Error()`): never shown. */
export const firstLine = (msg: string) => msg.split(/\r?\nstack=|\r?\n/)[0].trim();

const KINDS: Record<CozeApiFailureKind, FailureKind> = {
  entry: "entry-down",
  quota: "quota",
  busy: "rate-limited",
  gone: "entry-down",
  input: "input-refused",
  file: "input-refused",
  action: "needs-tool-output",
  other: "entry-fault",
};

function clientWords(kind: CozeApiFailureKind, code: number | undefined, msg: string, param: string | undefined): string {
  switch (kind) {
    case "quota":
      return `${msg} (code ${code})`;
    case "busy":
      return `Coze's API is rate limiting or busy (${code ?? "HTTP 429"}); try again shortly.`;
    case "entry":
    case "gone":
      return `No entry of the model could reach its Coze bot: ${entryProblem(code, msg)}`;
    case "input":
      return `The conversation is longer than the Coze bot's model can read (Coze code ${code}: ${msg}); shorten it or start a new one.`;
    case "file":
      return `Coze could not take the image${param ? ` at '${param}'` : ""} (code ${code}: ${msg}); send a PNG, JPEG, GIF or WebP image of a few MiB.`;
    case "action":
      return "The Coze bot waits for the caller's tool output (conversation.chat.requires_action), which this service cannot give; remove the plugin or workflow that asks for it.";
    default:
      return `Coze's API answered with an error${code !== undefined ? ` (code ${code})` : ""}: ${msg}`;
  }
}

const OPENAI_CODES: Record<CozeApiFailureKind, string> = {
  entry: "bot_unavailable",
  quota: "rate_limit_exceeded",
  busy: "coze_rate_limited",
  gone: "bot_unavailable",
  input: "context_length_exceeded",
  file: "invalid_image",
  action: "coze_requires_action",
  other: "coze_error",
};

/** Coze's API refused or failed a call: its code and words kept, its meaning from the kind. */
export class CozeApiFailure extends UpstreamFailure {
  override name = "CozeApiFailure";

  constructor(
    readonly apiKind: CozeApiFailureKind,
    readonly code: number | undefined,
    /** Coze's own words (never the token or the prompt), without a stack trace Studio may append. */
    readonly msg: string,
    retryAfterMs?: number,
    cause?: unknown,
    /** The request field a refused input is about (an image part). */
    param?: string,
  ) {
    msg = firstLine(msg);
    super(KINDS[apiKind], clientWords(apiKind, code, msg, param), { openaiCode: OPENAI_CODES[apiKind], retryAfterMs, cause, fromCoze: true, param });
    this.msg = msg;
    this.message = `Coze API error${code !== undefined ? ` ${code}` : ""}: ${msg}`;
  }
}
