import { abortWhen } from "../abort-link.ts";

/**
 * What the Discord calls made for a request may spend: its start deadline
 * (ms since the epoch, discord.js's clock) and its client's signal.
 *
 * The calls made under one CallLimits (a new thread and the prompt posted in
 * it) share the signal they are sent with, which aborts when the client
 * leaves or the deadline passes: one controller, one listener and one timer
 * for them all, made with the first call. `close` lets them go once those
 * calls are done: a timer left running to the deadline would hold the
 * signal, and what discord.js hangs on it, for a minute.
 */
export class CallLimits {
  private controller: AbortController | undefined;
  private timer: Timer | undefined;
  private unlink: (() => void) | undefined;

  constructor(
    readonly deadline: number,
    readonly signal: AbortSignal,
  ) {}

  /** The signal a call is sent with: aborted by the client's leaving, or when the deadline passes. */
  get callSignal(): AbortSignal {
    if (!this.controller) {
      const controller = (this.controller = new AbortController());
      this.timer = setTimeout(() => controller.abort(), Math.max(0, this.deadline - Date.now()));
      this.unlink = abortWhen(this.signal, controller);
    }
    return this.controller.signal;
  }

  /** Limits for the same client with a deadline `ms` later (a prompt's later pieces, once its first went out). */
  later(ms: number): CallLimits {
    return new CallLimits(this.deadline + ms, this.signal);
  }

  /** The calls are done: the timer and the link to the client's signal go (a later call makes them anew). */
  close(): void {
    clearTimeout(this.timer);
    this.unlink?.();
    this.controller = this.timer = this.unlink = undefined;
  }
}
