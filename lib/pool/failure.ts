import type { Answer } from "./seam.ts";
import { invalidRequest, quotaExhausted, rateLimitedBy, replyTimeout, unavailable, upstreamError, type ApiError } from "../openai/api-error.ts";

/**
 * What went wrong upstream, as both backends report it. Each backend turns
 * its own signals (Discord's statuses, Coze's error texts on Discord, Coze's
 * API codes) into one of these kinds, keeping the original as `cause`; the
 * table below is the one place that says what each kind means.
 */
export type FailureKind =
  /** Coze says the bot's quota or balance is spent, in a way a prompt cannot forge (an API code). */
  | "quota"
  /** A reply reads as Coze's quota text, which a prompt can make Coze repeat: the entry is suspect until a probe says which. */
  | "quota-text"
  /** The prompt would take more Discord posts than PROMPT_MAX_POSTS allows: another kind of entry may still take it. */
  | "too-long"
  /** Coze or Discord paces us (a rate limit, "busy") for longer than the request may wait. */
  | "rate-limited"
  /** A call failed through a fault of the entry (its token, channel, or the service down): its breaker counts it. */
  | "entry-fault"
  /** A call failed for a reason that says nothing about the entry's health. */
  | "call-failed"
  /** The entry cannot reach its bot at all until the user fixes it (a refused token, an unpublished bot). */
  | "entry-down"
  /** Coze answered with one of its error messages instead of an answer. */
  | "error-answer"
  /** Nothing of an answer came within the start deadline. */
  | "start-timeout"
  /** An image request's answer came without an image. */
  | "no-image"
  /** The bot waits for output of the caller's tools, which the service cannot give. */
  | "needs-tool-output"
  /** Coze cannot take what the client sent (a prompt past the model's context, an image it cannot read): the client's to fix, any entry would refuse it too. */
  | "input-refused"
  /** The entry's backend lacks what the request needs (Coze Studio has no audio routes); it stays up for the rest. */
  | "unsupported";

/**
 * What a request's use of an entry came to, for the entry's health: `quota`
 * rests it, `suspect` has it probed (and rested only when the probe meets a
 * quota too), `failure` trips its breaker, `ok` closes it.
 */
export type Outcome = "ok" | "quota" | "suspect" | "failure" | "neutral";

interface Policy {
  /** Another entry of the model may succeed where this one failed. */
  movesOn: boolean;
  outcome: Exclude<Outcome, "ok">;
  /** The client's error when no entry is left; `retryAfterMs` is the soonest any entry takes requests again. */
  toApiError(failure: UpstreamFailure, retryAfterMs: number | undefined): ApiError;
}

const POLICY: Record<FailureKind, Policy> = {
  // A quota Coze reports as an API code rests the entry at once; a quota text on Discord, which a prompt can
  // make Coze repeat, makes the entry suspect: it stops taking requests until a probe says which.
  quota: {
    movesOn: true,
    outcome: "quota",
    toApiError: (f, retry) => quotaExhausted(`Coze quota exhausted on every bot of the model: ${f.detail}`, (retry ?? 60_000) / 1000),
  },
  "quota-text": {
    movesOn: true,
    outcome: "suspect",
    toApiError: (f, retry) => quotaExhausted(`Coze quota exhausted on every bot of the model: ${f.detail}`, (retry ?? 60_000) / 1000),
  },
  "too-long": { movesOn: true, outcome: "neutral", toApiError: (f) => invalidRequest(f.detail, "messages", "context_length_exceeded") },
  "rate-limited": {
    movesOn: true,
    outcome: "neutral",
    toApiError: (f, retry) => rateLimitedBy(f.detail, (retry ?? f.retryAfterMs ?? 5_000) / 1000, f.openaiCode),
  },
  "entry-fault": { movesOn: true, outcome: "failure", toApiError: (f) => upstreamError(f.detail, f.openaiCode) },
  "call-failed": { movesOn: true, outcome: "neutral", toApiError: (f) => upstreamError(f.detail, f.openaiCode) },
  "entry-down": { movesOn: true, outcome: "neutral", toApiError: (f) => unavailable(f.detail) },
  "error-answer": { movesOn: true, outcome: "neutral", toApiError: (f) => upstreamError(f.detail, f.openaiCode) },
  "start-timeout": { movesOn: false, outcome: "neutral", toApiError: (f) => replyTimeout(f.detail) },
  "no-image": { movesOn: false, outcome: "neutral", toApiError: (f) => upstreamError(f.detail, f.openaiCode) },
  "needs-tool-output": { movesOn: false, outcome: "neutral", toApiError: (f) => upstreamError(f.detail, f.openaiCode) },
  "input-refused": { movesOn: false, outcome: "neutral", toApiError: (f) => invalidRequest(f.detail, f.param ?? null, f.openaiCode) },
  unsupported: { movesOn: true, outcome: "neutral", toApiError: (f) => invalidRequest(f.detail, "model", f.openaiCode) },
};

export interface FailureDetails {
  /** The OpenAI error `code` the client gets (`discord_error`, `coze_error`…). */
  openaiCode: string;
  /** How long until a retry may work, when the upstream said. */
  retryAfterMs?: number;
  /** What the upstream reported, as it reported it (a discord.js error, Coze's code and words). */
  cause?: unknown;
  /** Coze itself reported it (an error text, an API code), not a call on the way to Coze. */
  fromCoze?: boolean;
  /** The request field it is about, for a refused input (`messages[1].content[2]`). */
  param?: string;
}

/**
 * A request through a backend failed in a way the relay knows. The relay
 * asks the failure, never its backend, whether to move on, what it means for
 * the entry, and what the client is told.
 */
export class UpstreamFailure extends Error {
  override name = "UpstreamFailure";
  readonly openaiCode: string;
  readonly retryAfterMs: number | undefined;
  readonly fromCoze: boolean;
  readonly param: string | undefined;
  /**
   * The answer this failure is if a probe shows its text was Coze's answer
   * after all (a quota text a user made Coze repeat); set by the backend.
   */
  heldAnswer: Answer | undefined;

  constructor(
    readonly kind: FailureKind,
    /** The client's words for it: what happened and, where the user can act, what to do. */
    readonly detail: string,
    details: FailureDetails,
  ) {
    super(detail, { cause: details.cause });
    this.openaiCode = details.openaiCode;
    this.retryAfterMs = details.retryAfterMs;
    this.fromCoze = details.fromCoze ?? false;
    this.param = details.param;
  }

  get movesOn(): boolean {
    return POLICY[this.kind].movesOn;
  }

  get outcome(): Exclude<Outcome, "ok"> {
    return POLICY[this.kind].outcome;
  }

  toApiError(retryAfterMs?: number): ApiError {
    return POLICY[this.kind].toApiError(this, retryAfterMs);
  }
}
