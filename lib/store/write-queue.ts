import { sizeOf, slotOf, type Write } from "./backend.ts";

/**
 * Writes waiting for the store, in order, one per row (a later write to the
 * same row replaces the earlier and moves to the end, so that the order of
 * the latest writes is kept). Bounded by count and by bytes: beyond either
 * the oldest write is dropped, and counted. A batch taken for writing stays
 * queued until `done` says it was written, so that a failed batch is simply
 * tried again, and a write queued meanwhile is never overwritten by it.
 */
export class WriteQueue {
  private readonly writes = new Map<string, Write>();
  private bytes = 0;
  /** Writes dropped since `takeDropped` was last called. */
  private dropped = 0;

  constructor(
    private readonly maxWrites: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.writes.size;
  }

  add(write: Write): void {
    const slot = slotOf(write);
    const old = this.writes.get(slot);
    if (old) {
      this.writes.delete(slot);
      this.bytes -= sizeOf(old);
    }
    this.writes.set(slot, write);
    this.bytes += sizeOf(write);
    while (this.writes.size > 1 && (this.writes.size > this.maxWrites || this.bytes > this.maxBytes)) {
      const [oldest, write] = this.writes.entries().next().value!;
      this.writes.delete(oldest);
      this.bytes -= sizeOf(write);
      this.dropped++;
    }
  }

  /** The queued write for a row, if any (reads see what is not written yet). */
  pending(slot: string): Write | undefined {
    return this.writes.get(slot);
  }

  /** Every queued write, oldest first. */
  batch(): Write[] {
    return [...this.writes.values()];
  }

  /** Removes the written writes that nothing replaced meanwhile. */
  done(batch: Write[]): void {
    for (const write of batch) {
      const slot = slotOf(write);
      if (this.writes.get(slot) === write) {
        this.writes.delete(slot);
        this.bytes -= sizeOf(write);
      }
    }
  }

  /** How many writes were dropped since the last call. */
  takeDropped(): number {
    const n = this.dropped;
    this.dropped = 0;
    return n;
  }
}
