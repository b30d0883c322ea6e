/**
 * Requests that must not overlap take turns, per key: the requests of a
 * Discord channel whose conversations share one context, the chats of one
 * Coze conversation (Coze refuses a second one while the first runs). A
 * request whose client leaves while it waits gives up its place without
 * holding up those behind it.
 */
export class Turns<K = string> {
  private readonly last = new Map<K, Promise<void>>();

  /** Waits for the turn on `key`; resolves with the function that ends it (call it once, in a `finally`). */
  async take(key: K, signal: AbortSignal): Promise<() => void> {
    const previous = this.last.get(key) ?? Promise.resolve();
    const { promise: mine, resolve } = Promise.withResolvers<void>();
    const chained = previous.then(() => mine);
    this.last.set(key, chained);
    const end = () => {
      resolve();
      if (this.last.get(key) === chained) this.last.delete(key);
    };
    if (signal.aborted) {
      end();
      throw signal.reason;
    }
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => signal.addEventListener("abort", (onAbort = () => reject(signal.reason)), { once: true }));
    try {
      await Promise.race([previous, aborted]);
    } catch (error) {
      // Give up the place: those behind wait for the one before us instead.
      void previous.then(end);
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort!);
    }
    return end;
  }

  /** Runs `work` in the turn on `key`. */
  async run<T>(key: K, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    const end = await this.take(key, signal);
    try {
      return await work();
    } finally {
      end();
    }
  }
}
