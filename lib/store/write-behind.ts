import type { Backend, Write } from "./backend.ts";
import type { HealthTracker } from "./health.ts";
import { WriteQueue } from "./write-queue.ts";

/** Writes waiting for a failing store, at most (the oldest dropped beyond): by count, and by the memory they hold. */
export const MAX_QUEUED_WRITES = 20_000;
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** Retries of a failing store start at the first and double up to the second: back within 2 s of the store having room. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;
/**
 * Writes wait this long for others to join their pass. A transaction costs
 * its commit whatever it holds: one a turn of the event loop held a write or
 * two under load and spent ~4 % of a request's CPU committing; reads see
 * what is queued, and close() writes what waits, so only a crash can lose
 * these milliseconds of writes.
 */
const PASS_DELAY_MS = 20;
/** A pass without an answer this long shows the store degraded (a database that hangs is a failing one) while it goes on waiting. */
const SLOW_PASS_MS = 3000;

/**
 * Writes off the request path: queued, then written together, one pass at a
 * time, PASS_DELAY_MS after the first of them. A pass that fails leaves the queue
 * as it was and is tried again later, each time waiting twice as long (up to
 * 2 s); meanwhile new writes join the queue without a pass of their own.
 * Nothing here throws to the caller or waits on the event loop.
 */
export class WriteBehind {
  readonly queue = new WriteQueue(MAX_QUEUED_WRITES, MAX_QUEUED_BYTES);
  private writing: Promise<void> | undefined;
  private soon: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryMs = RETRY_MIN_MS;
  private closed = false;

  constructor(
    private readonly backend: Backend,
    private readonly health: HealthTracker,
    /** Run after a pass that worked while reads were failing: tells whether they work again. */
    private readonly probeReads: () => Promise<void>,
    /** Settles when the backend has opened, or has had its time to (writes wait for it, not fail). */
    private readonly opening: Promise<void> = Promise.resolve(),
  ) {}

  add(write: Write): void {
    if (this.closed) return;
    this.queue.add(write);
    this.health.droppedWrites(this.queue.takeDropped(), MAX_QUEUED_WRITES);
    this.passSoon();
  }

  /**
   * The next pass, PASS_DELAY_MS after the first write that needs it: what
   * requests write meanwhile goes in the same transaction. While a retry is
   * pending the store is failing: the retry takes the new writes along.
   */
  private passSoon(): void {
    if (this.soon || this.retryTimer || this.closed) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.pass();
    }, PASS_DELAY_MS);
  }

  private pass(): Promise<void> {
    if (this.writing) return this.writing;
    const run = async () => {
      const batch = this.queue.batch();
      // The pass is not abandoned (a second one beside it could reorder writes): it is only reported.
      const slow = setTimeout(() => this.health.failed("write", new Error(`no answer within ${SLOW_PASS_MS} ms`)), SLOW_PASS_MS);
      try {
        await this.opening;
        if (batch.length > 0) await this.backend.write(batch);
        this.queue.done(batch);
        this.retryMs = RETRY_MIN_MS;
        this.health.worked("write");
        if (this.health.failingReads) await this.probeReads();
      } catch (error) {
        this.health.failed("write", error);
        this.retryLater();
      } finally {
        clearTimeout(slow);
      }
    };
    this.writing = run().finally(() => {
      this.writing = undefined;
      // Writes queued while this pass ran go in the next one.
      if (this.queue.size > 0) this.passSoon();
    });
    return this.writing;
  }

  /** Schedules the next try of a failing store (a write pass, which also probes failing reads). */
  retryLater(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.pass();
    }, delay);
    // A failing store must not keep a stopping process alive: close() writes what it can.
    this.retryTimer.unref?.();
  }

  /** Writes what is queued now; a failing store is left to its retries (nobody waits for it). */
  async flush(): Promise<void> {
    if (this.soon) {
      clearTimeout(this.soon);
      this.soon = undefined;
    }
    if (this.retryTimer) return;
    await this.pass();
    // A pass that was already under way did not take the latest writes.
    if (this.queue.size > 0 && !this.retryTimer) await this.pass();
  }

  /** Tries once more to write what waits, then stops; returns how many writes are left unwritten. */
  async close(): Promise<number> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.flush();
    this.closed = true;
    if (this.soon) clearTimeout(this.soon);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    return this.queue.size;
  }
}
