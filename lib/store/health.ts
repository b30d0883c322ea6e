import { log } from "../log.ts";
import { errorText } from "../error-text.ts";
import type { StoreHealth } from "./store.ts";

/**
 * Whether the store works, as incidents: the first failure starts one (logged
 * once, not per write), drops of queued writes are logged once per incident,
 * and the incident ends (logged) when writes and reads work again. Writes and
 * reads are tracked apart: a full disk still reads, so a read that works must
 * not end an incident whose writes still fail.
 */
export class HealthTracker {
  private writesFailing = false;
  private readsFailing = false;
  private problem = "";
  private since = 0;
  private dropped = 0;
  private dropLogged = false;

  constructor(
    private readonly store: string,
    /** Removes what must never reach a log line (a database password) from an error's text. */
    private readonly redact: (text: string) => string,
  ) {}

  get degraded(): boolean {
    return this.writesFailing || this.readsFailing;
  }

  get failingWrites(): boolean {
    return this.writesFailing;
  }

  get failingReads(): boolean {
    return this.readsFailing;
  }

  failed(what: "write" | "read", error: unknown): void {
    const problem = `${what} failed: ${this.redact(errorText(error))}`;
    if (!this.degraded) {
      this.since = Date.now();
      log.warn("the store failed; answers are still delivered, writes are retried in the background", { store: this.store, problem });
    }
    this.problem = problem;
    if (what === "write") this.writesFailing = true;
    else this.readsFailing = true;
  }

  worked(what: "write" | "read"): void {
    const was = this.degraded;
    if (what === "write") this.writesFailing = false;
    else this.readsFailing = false;
    if (!was || this.degraded) return;
    log.info("the store works again", { store: this.store, after_ms: Date.now() - this.since, dropped_writes: this.dropped });
    // Drops counted before the failure was first seen (a burst while the first pass was failing) belong to this incident.
    this.dropped = 0;
    this.dropLogged = false;
  }

  droppedWrites(n: number, bound: number): void {
    if (n === 0) return;
    this.dropped += n;
    if (this.dropLogged) return;
    this.dropLogged = true;
    log.warn("too many writes wait for the store; dropping the oldest", { store: this.store, bound, problem: this.problem || undefined });
  }

  report(queued: number): StoreHealth {
    if (!this.degraded) return { state: "ok", queued, dropped: this.dropped };
    return { state: "degraded", problem: this.problem, since: this.since, queued, dropped: this.dropped };
  }
}
