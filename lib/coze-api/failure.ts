import { UpstreamFailure, type FailureKind } from "../pool/failure.ts";

/**
 * What a Coze API error code means for the service:
 * - `entry`: the token is invalid or not allowed, or the bot is not published
 *   to the API or not found. The entry is down until fixed; the request moves
 *   on, and the client never sees a 401 for Coze's token.
 * - `quota`: usage limit, balance, arrears: the entry rests (QUOTA_COOLDOWN),
 *   the request moves on, else 429.
 * - `busy`: rate limited or busy: waited out within the start deadline, then
 *   the request moves on, else 429 with `retry-after`.
 * - `action`: the bot waits for the caller's tool output; nothing here can give it.
 * - `other`: anything else: 502.
 */
export type CozeApiFailureKind = "entry" | "quota" | "busy" | "action" | "other";

const ENTRY_CODES = new Set([4100, 4101, 700012006, 4015, 4006]);
const QUOTA_CODES = new Set([4008, 4011, 4019, 4022]);
// 4016 (the conversation is busy) should not happen, since chats in one conversation take turns and a chat
// given up on is cancelled; should it still, it passes like the others.
const BUSY_CODES = new Set([4013, 4020, 4009, 4016]);

/** The kind of a failure from Coze's code, or from the HTTP status when there is no code. */
export function failureKind(code: number | undefined, status?: number): CozeApiFailureKind {
  if (code !== undefined && code !== 0) {
    if (ENTRY_CODES.has(code)) return "entry";
    if (QUOTA_CODES.has(code)) return "quota";
    if (BUSY_CODES.has(code)) return "busy";
    return "other";
  }
  if (status === 401 || status === 403) return "entry";
  if (status === 429) return "busy";
  return "other";
}

/** Words a user can act on for an entry that is down. */
export function entryProblem(code: number | undefined, msg: string): string {
  if (code === 4015) return `the bot is not published to the API (Coze code 4015): publish it with "API" checked in Coze`;
  if (code === 4006) return `Coze does not know this bot_id (code 4006): copy it from the bot's URL in Coze`;
  return `Coze refused the token (${code ?? "HTTP 401"}: ${msg}): create a personal access token with chat permission; for 扣子 set "api_base": "https://api.coze.cn"`;
}

const KINDS: Record<CozeApiFailureKind, FailureKind> = {
  entry: "entry-down",
  quota: "quota",
  busy: "rate-limited",
  action: "needs-tool-output",
  other: "entry-fault",
};

function clientWords(kind: CozeApiFailureKind, code: number | undefined, msg: string): string {
  switch (kind) {
    case "quota":
      return `${msg} (code ${code})`;
    case "busy":
      return `Coze's API is rate limiting or busy (${code ?? "HTTP 429"}); try again shortly.`;
    case "entry":
      return `No entry of the model could reach its Coze bot: ${entryProblem(code, msg)}`;
    case "action":
      return "The Coze bot waits for the caller's tool output (conversation.chat.requires_action), which this service cannot give; remove the plugin or workflow that asks for it.";
    default:
      return `Coze's API answered with an error${code !== undefined ? ` (code ${code})` : ""}: ${msg}`;
  }
}

const OPENAI_CODES: Record<CozeApiFailureKind, string> = { entry: "bot_unavailable", quota: "rate_limit_exceeded", busy: "coze_rate_limited", action: "coze_requires_action", other: "coze_error" };

/** Coze's API refused or failed a call: its code and words kept, its meaning from the kind. */
export class CozeApiFailure extends UpstreamFailure {
  override name = "CozeApiFailure";

  constructor(
    readonly apiKind: CozeApiFailureKind,
    readonly code: number | undefined,
    /** Coze's own words (never the token or the prompt). */
    readonly msg: string,
    retryAfterMs?: number,
    cause?: unknown,
  ) {
    super(KINDS[apiKind], clientWords(apiKind, code, msg), { openaiCode: OPENAI_CODES[apiKind], retryAfterMs, cause, fromCoze: true });
    this.message = `Coze API error${code !== undefined ? ` ${code}` : ""}: ${msg}`;
  }
}
