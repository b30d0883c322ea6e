/**
 * Named locks within one process, held in order of arrival. A name is
 * forgotten when nobody holds or waits for it, so the map stays as small as
 * the locks in use.
 */
export class LocalLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(name);
    const { promise: mine, resolve: release } = Promise.withResolvers<void>();
    const tail = before ? before.then(() => mine) : mine;
    this.tails.set(name, tail);
    try {
      if (before) await before;
      return await fn();
    } finally {
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}
