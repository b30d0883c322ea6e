/**
 * The two deadlines of an answer, kept alike by every backend: its start
 * (REPLY_START_TIMEOUT: nothing at all came, which passes once the first sign
 * of an answer came) and its whole (REPLY_TIMEOUT: what came is returned,
 * cut short). `clear` ends both, once the answer is settled.
 */
export class ReplyClock {
  private readonly start: Timer;
  private readonly total: Timer;

  constructor(startInMs: number, totalMs: number, on: { noStart(): void; overtime(): void }) {
    this.start = setTimeout(on.noStart, Math.max(0, startInMs));
    this.total = setTimeout(on.overtime, totalMs);
  }

  /** The first sign of the answer came: its start deadline no longer applies. */
  started(): void {
    clearTimeout(this.start);
  }

  clear(): void {
    clearTimeout(this.start);
    clearTimeout(this.total);
  }
}
