import { ApiError } from "./openai/api-error.ts";

/** Seconds a request refused for input memory is told to wait: about what a reply holds its inputs for. */
const RETRY_AFTER_SECONDS = 5;

/**
 * IMAGE_INPUT_MEMORY: the bytes of input all requests together may hold at
 * once: decoded image input, and audio uploads (up to 25 MiB each, held in
 * several copies while the form is read and sent on). Each input is bounded
 * on its own, but five requests of ten images would still hold half a
 * gigabyte; this bounds their sum.
 *
 * A request reserves its worst case before it loads anything (10 MiB per
 * image link, a data: URI's decoded size, an upload's copies; at most the
 * whole budget), all at once, so that two half-loaded requests never wait on
 * each other. Reservations are granted in arrival order: a large one is not
 * starved by small ones behind it. What it really holds is charged as it is
 * decoded and the rest given back as each image arrives; everything is given
 * back when the request ends.
 */
export class InputMemory {
  private held = 0;
  private highest = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly limit: number) {}

  /** Bytes reserved now. */
  get inUse(): number {
    return this.held;
  }

  /** The most bytes ever reserved at once (never above `limit`). */
  get peak(): number {
    return this.highest;
  }

  /**
   * Reserves `bytes` (the whole budget at most) for one request, waiting in
   * line for room until `deadline` (ms); past it a 503 with `retry-after`.
   */
  async reserve(bytes: number, deadline: number, signal: AbortSignal): Promise<InputLease> {
    const wanted = Math.min(bytes, this.limit);
    if (this.waiting.length === 0 && this.held + wanted <= this.limit) return this.grant(wanted);
    const { promise, resolve, reject } = Promise.withResolvers<InputLease>();
    const waiter = {
      bytes: wanted,
      grant: () => {
        settle();
        resolve(this.grant(wanted));
      },
    };
    const leave = (error: unknown) => {
      settle();
      this.waiting.splice(this.waiting.indexOf(waiter), 1);
      this.admit(); // those behind may fit now
      reject(error);
    };
    const timer = setTimeout(() => leave(memoryFull(this.limit)), Math.max(0, deadline - Date.now()));
    const onAbort = () => leave(signal.reason);
    const settle = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    this.waiting.push(waiter);
    return promise;
  }

  /** Takes `bytes` at once if they fit (a loading image that outgrows its reservation), else false. */
  take(bytes: number): boolean {
    if (this.held + bytes > this.limit) return false;
    this.add(bytes);
    return true;
  }

  give(bytes: number): void {
    this.held -= bytes;
    this.admit();
  }

  private grant(bytes: number): InputLease {
    this.add(bytes);
    return new InputLease(this, bytes);
  }

  private add(bytes: number): void {
    this.held += bytes;
    this.highest = Math.max(this.highest, this.held);
  }

  /** Grants waiting reservations in order while the first in line fits. */
  private admit(): void {
    while (this.waiting.length > 0 && this.held + this.waiting[0].bytes <= this.limit) this.waiting.shift()!.grant();
  }
}

/** One request's share of the input memory. */
export class InputLease {
  private used = 0;
  private released = false;

  constructor(
    private readonly memory: InputMemory,
    private reserved: number,
  ) {}

  /** Counts `bytes` decoded; beyond the reservation they must fit at once, else the request is refused (503). */
  charge(bytes: number): void {
    if (this.released) throw new Error("input memory charged after its request let go of it");
    this.used += bytes;
    if (this.used <= this.reserved) return;
    if (!this.memory.take(this.used - this.reserved)) {
      this.used -= bytes;
      throw memoryFull(this.memory.limit);
    }
    this.reserved = this.used;
  }

  /** Gives back what is reserved beyond `bytes` (never below what is used). */
  shrinkTo(bytes: number): void {
    const keep = Math.max(bytes, this.used);
    if (keep >= this.reserved) return;
    this.memory.give(this.reserved - keep);
    this.reserved = keep;
  }

  /** Gives back everything; called once the request no longer holds its inputs. Idempotent. */
  release(): void {
    this.released = true;
    this.memory.give(this.reserved);
    this.reserved = 0;
    this.used = 0;
  }

  get charged(): number {
    return this.used;
  }
}

function memoryFull(limit: number): ApiError {
  return new ApiError(
    503,
    `Input is waiting for memory: requests in flight hold IMAGE_INPUT_MEMORY (${Math.round(limit / 1048576)} MiB) of images and audio uploads. Try again shortly.`,
    "api_error",
    "image_memory_full",
    null,
    RETRY_AFTER_SECONDS,
  );
}
