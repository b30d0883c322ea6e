/**
 * The two deadlines of an answer, kept alike by every backend: its start
 * (REPLY_START_TIMEOUT: nothing at all came, which passes once the first sign
 * of an answer came) and its whole (REPLY_TIMEOUT: what came is returned,
 * cut short). `clear` ends both, once the answer is settled.
 *
 * One timer at a time, set for the nearer deadline still pending: a timer
 * costs a request more CPU than the few comparisons that replace the second
 * one, and most answers settle before either deadline, so `started` only
 * marks the start as met (no timer is touched) and `clear` stops the one.
 */
export class ReplyClock {
  private timer: Timer | undefined;
  /** When the start deadline passes (performance.now()), Infinity once met or fired. */
  startAt: number;
  /** When the whole deadline passes, Infinity once fired. */
  totalAt: number;

  constructor(
    startInMs: number,
    totalMs: number,
    readonly on: { noStart(): void; overtime(): void },
  ) {
    const now = performance.now();
    this.startAt = now + Math.max(0, startInMs);
    this.totalAt = now + totalMs;
    this.arm(now);
  }

  /** The first sign of the answer came: its start deadline no longer applies. */
  started(): void {
    this.startAt = Infinity;
  }

  clear(): void {
    this.startAt = this.totalAt = Infinity;
    clearTimeout(this.timer);
  }

  /** Sets the timer for the nearer pending deadline, if any. */
  arm(now: number): void {
    const next = Math.min(this.startAt, this.totalAt);
    if (next !== Infinity) this.timer = setTimeout(fire, Math.max(0, next - now), this);
  }
}

/** A clock's timer went off: each deadline passed is told, in order, and the timer is set again for what remains. */
function fire(clock: ReplyClock): void {
  const now = performance.now();
  if (clock.startAt <= now && clock.startAt <= clock.totalAt) {
    clock.startAt = Infinity;
    clock.on.noStart();
  }
  if (clock.totalAt <= now) {
    clock.totalAt = Infinity;
    clock.on.overtime();
  }
  if (clock.startAt <= now) {
    clock.startAt = Infinity;
    clock.on.noStart();
  }
  clock.arm(now);
}
