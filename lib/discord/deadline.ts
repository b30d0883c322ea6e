import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The start deadline of the request a Discord call is made for (ms since the
 * epoch, discord.js's clock). discord.js asks one client-wide function
 * whether to wait out a rate limit or give up (`rejectOnRateLimit`); that
 * function runs inside the call's async context, so it can read the deadline
 * of the very request it is deciding for.
 */
const deadlines = new AsyncLocalStorage<number>();

export const runWithDeadline = <T>(deadline: number, call: () => Promise<T>): Promise<T> => deadlines.run(deadline, call);

/** Whether a wait of `retryAfterMs` would end after the current call's deadline; calls without one wait. */
export function waitMissesDeadline(retryAfterMs: number): boolean {
  const deadline = deadlines.getStore();
  return deadline !== undefined && Date.now() + retryAfterMs > deadline;
}
