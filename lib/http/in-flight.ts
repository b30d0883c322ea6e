import { abortWhen } from "../abort-link.ts";
import { ApiError, overloaded, unavailable } from "../openai/api-error.ts";

/**
 * The relay requests under way: a bound on how many there may be (beyond it
 * a fast 429, not an ever-growing queue), and a way to let them finish, or
 * end them with an error, when the service stops.
 */
export class InFlight {
  private readonly active = new Set<AbortController>();
  private draining = false;
  private idle: (() => void) | undefined;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.active.size;
  }

  /** Admits a request; its `signal` aborts when the client leaves or shutdown ends it. Call `end` when it is done. */
  begin(clientSignal: AbortSignal): { signal: AbortSignal; end: () => void } {
    if (this.draining) throw unavailable("The service is shutting down; try again in a moment.");
    if (this.active.size >= this.max) throw overloaded(`The service has ${this.max} requests in flight (MAX_IN_FLIGHT); try again shortly.`, 1);
    const controller = new AbortController();
    const unlink = abortWhen(clientSignal, controller);
    this.active.add(controller);
    return {
      signal: controller.signal,
      end: () => {
        if (!this.active.delete(controller)) return;
        unlink();
        if (this.active.size === 0) this.idle?.();
      },
    };
  }

  /** Refuses new requests, waits up to `graceMs` for the others, then ends what remains with `reason`. */
  async drain(graceMs: number, reason: ApiError): Promise<number> {
    this.draining = true;
    if (this.active.size > 0) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.idle = resolve;
      const timer = setTimeout(resolve, graceMs);
      await promise;
      clearTimeout(timer);
    }
    const cut = this.active.size;
    for (const controller of this.active) controller.abort(reason);
    return cut;
  }
}
