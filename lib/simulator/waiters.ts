/**
 * Callers waiting for the simulated world to reach a state: each check runs
 * on every change the simulator makes and every few milliseconds, since what
 * a client received arrives after the simulator's change.
 */
export class Waiters {
  private readonly waiters = new Set<() => void>();

  /** Resolves when `check` returns a value other than undefined/false. */
  waitFor<T>(check: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        const value = check();
        if (value === undefined || value === false) return;
        this.waiters.delete(attempt);
        clearInterval(poll);
        clearTimeout(timer);
        resolve(value);
      };
      const poll = setInterval(attempt, 5);
      const timer = setTimeout(() => {
        this.waiters.delete(attempt);
        clearInterval(poll);
        reject(new Error("simulator: condition not met in time"));
      }, timeoutMs);
      this.waiters.add(attempt);
      attempt();
    });
  }

  /** Wakes `waitFor` callers: something in the simulated world changed. */
  changed(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
