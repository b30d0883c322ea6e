import type { ApiError } from "./openai/api-error.ts";

/** What a failure says about the entry that served the request. */
export type FailureOutcome = "quota" | "failure" | "neutral";

/**
 * A request through a backend failed in a way the relay knows. Each kind
 * carries its own policy, so the relay has no ladder of cases: whether the
 * model's next entry may help, what the failure means for the entry's health,
 * and which OpenAI error the client gets when nothing else helps.
 */
export abstract class RelayError extends Error {
  /** Another entry of the model may succeed where this one failed. */
  abstract readonly movesOn: boolean;
  abstract readonly outcome: FailureOutcome;
  /** For failures that pass by themselves: how long until a retry may work. */
  readonly retryAfterMs: number | undefined = undefined;
  /** The client's error; `retryAfterMs` is the soonest any entry of the model takes requests again, when known. */
  abstract toApiError(retryAfterMs?: number): ApiError;
}
