import { log } from "../log.ts";
import { errorText } from "../error-text.ts";
import { LockUnavailable, type Backend, type StoreLimits, type Write } from "./backend.ts";
import { HealthTracker } from "./health.ts";
import { EXTENSIONS, TYPES, newImageId } from "./image-types.ts";
import { LocalLocks } from "./lock.ts";
import type { ConversationPlace, EntryStates, ImageStore, Session, Store, StoreHealth } from "./store.ts";
import { WriteQueue } from "./write-queue.ts";

/** Writes waiting for a failing store, at most (the oldest dropped beyond): by count, and by the memory they hold. */
export const MAX_QUEUED_WRITES = 20_000;
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** Retries of a failing store start at the first and double up to the second: back within 2 s of the store having room. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;
/** A read that takes longer is treated as failed: a slow database behaves as a failing one, the request goes on. */
const READ_TIMEOUT_MS = 1500;

/**
 * The store as the service uses it, in front of a backend (SQLite or
 * PostgreSQL): writes queued and written together once per turn of the event
 * loop (reads see what is queued), a failing backend retried in the
 * background with backoff while everything else goes on, reads that fail or
 * take too long answered as "nothing stored".
 */
export class QueuedStore implements Store {
  readonly kind: Backend["kind"];
  readonly images: ImageStore;
  private readonly queue = new WriteQueue(MAX_QUEUED_WRITES, MAX_QUEUED_BYTES);
  private readonly healthTracker: HealthTracker;
  private readonly locks = new LocalLocks();
  /** A write pass is under way (one at a time). */
  private writing: Promise<void> | undefined;
  private flushSoon: ReturnType<typeof setImmediate> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryMs = RETRY_MIN_MS;
  private closed = false;

  constructor(
    private readonly backend: Backend,
    private readonly limits: StoreLimits,
  ) {
    this.kind = backend.kind;
    this.healthTracker = new HealthTracker(backend.kind, backend.redact ?? ((text) => text));
    this.images = {
      put: (data, contentType) => this.putImage(data, contentType),
      get: (id, ext) => this.image(id, ext),
    };
  }

  // ---- writes: queued, never throw ----

  private enqueue(write: Write): void {
    if (this.closed) return;
    this.queue.add(write);
    this.healthTracker.droppedWrites(this.queue.takeDropped(), MAX_QUEUED_WRITES);
    // While a retry is pending the store is failing: the retry takes the new write along.
    if (this.flushSoon || this.retryTimer) return;
    this.flushSoon = setImmediate(() => {
      this.flushSoon = undefined;
      void this.writePass();
    });
  }

  remember(key: string, place: ConversationPlace): void {
    this.enqueue({ kind: "conversation", key, place: { entryKey: place.entryKey, channelId: place.channelId }, at: Date.now() });
  }

  touchThread(place: ConversationPlace): void {
    this.enqueue({ kind: "thread", place: { entryKey: place.entryKey, channelId: place.channelId }, at: Date.now() });
  }

  markArchived(channelId: string): void {
    this.enqueue({ kind: "archived", channelId });
  }

  rememberResponse(id: string, scope: string, transcript: unknown): void {
    let text: string;
    try {
      text = JSON.stringify(transcript);
    } catch (error) {
      log.warn("a response's transcript cannot be stored", { error: errorText(error) });
      return;
    }
    this.enqueue({ kind: "response", id, scope, transcript: text, at: Date.now() });
  }

  rest(entryKey: string, until: number): void {
    this.enqueue({ kind: "rest", entryKey, until });
  }

  suspect(entryKey: string, until: number): void {
    this.enqueue({ kind: "suspect", entryKey, until });
  }

  startSession(id: string, session: Session): void {
    this.enqueue({ kind: "session", id, session: { ...session } });
  }

  endSession(id: string): void {
    this.enqueue({ kind: "end-session", id });
  }

  /** Writes the queue once; on failure keeps it and tries again later, each time waiting twice as long (up to 2 s). */
  private writePass(): Promise<void> {
    if (this.writing) return this.writing;
    const pass = (async () => {
      const batch = this.queue.batch();
      try {
        if (batch.length > 0) await this.backend.write(batch);
        this.queue.done(batch);
        this.retryMs = RETRY_MIN_MS;
        this.healthTracker.worked("write");
        if (this.healthTracker.failingReads) await this.probe();
      } catch (error) {
        this.healthTracker.failed("write", error);
        this.retryLater();
      }
    })();
    this.writing = pass.finally(() => {
      this.writing = undefined;
      // Writes queued while this pass ran go in the next one.
      if (this.queue.size > 0 && !this.retryTimer && !this.flushSoon && !this.closed) {
        this.flushSoon = setImmediate(() => {
          this.flushSoon = undefined;
          void this.writePass();
        });
      }
    });
    return this.writing;
  }

  private retryLater(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.writePass();
    }, delay);
    // A failing store must not keep a stopping process alive: close() writes what it can.
    this.retryTimer.unref?.();
  }

  /** A failing read ends its incident when the database answers again. */
  private async probe(): Promise<void> {
    try {
      await this.withTimeout(this.backend.ping());
      this.healthTracker.worked("read");
    } catch (error) {
      this.healthTracker.failed("read", error);
      this.retryLater();
    }
  }

  // ---- reads: what is queued first, then the backend; a failure is "nothing stored" ----

  private async read<T>(fallback: T, run: () => Promise<T>): Promise<T> {
    try {
      const value = await this.withTimeout(run());
      if (this.healthTracker.failingReads) this.healthTracker.worked("read");
      return value;
    } catch (error) {
      this.healthTracker.failed("read", error);
      this.retryLater();
      return fallback;
    }
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private queuedPlace(key: string): ConversationPlace | null | undefined {
    const write = this.queue.pending(`c\0${key}`);
    if (write?.kind === "conversation") return write.place;
    if (write?.kind === "forget-conversation") return null;
    return undefined;
  }

  async find(key: string): Promise<ConversationPlace | undefined> {
    const queued = this.queuedPlace(key);
    if (queued !== undefined) return queued ?? undefined;
    return this.read(undefined, () => this.backend.conversation(key, Date.now() - this.limits.conversationTtlMs));
  }

  async take(key: string): Promise<ConversationPlace | undefined> {
    const place = await this.find(key);
    if (place) this.enqueue({ kind: "forget-conversation", key });
    return place;
  }

  async idleThreads(before: number, limit = 100): Promise<ConversationPlace[]> {
    await this.flush();
    return this.read([], () => this.backend.idleThreads(before, limit));
  }

  async oldestThreads(entryKey: string, limit: number): Promise<string[]> {
    await this.flush();
    return this.read([], () => this.backend.oldestThreads(entryKey, limit));
  }

  async response(id: string, scope: string): Promise<unknown> {
    const write = this.queue.pending(`r\0${id}`);
    const text =
      write?.kind === "response" ? (write.scope === scope ? write.transcript : undefined) : await this.read(undefined, () => this.backend.response(id, scope, Date.now() - this.limits.conversationTtlMs));
    return text === undefined ? undefined : JSON.parse(text);
  }

  async entryStates(): Promise<EntryStates> {
    const now = Date.now();
    const states = await this.read({ rests: new Map(), suspects: new Map() }, () => this.backend.entryStates(now));
    for (const write of this.queue.batch()) {
      if (write.kind === "rest") states.rests.set(write.entryKey, write.until);
      if (write.kind === "suspect") states.suspects.set(write.entryKey, write.until);
    }
    for (const map of [states.rests, states.suspects]) for (const [key, until] of map) if (until <= now) map.delete(key);
    return states;
  }

  async session(id: string): Promise<Session | undefined> {
    const write = this.queue.pending(`l\0${id}`);
    const now = Date.now();
    if (write?.kind === "end-session") return undefined;
    const session = write?.kind === "session" ? write.session : await this.read(undefined, () => this.backend.session(id, now));
    return session && session.expiresAt > now ? session : undefined;
  }

  async conversations(): Promise<number | undefined> {
    await this.flush();
    return this.read(undefined, () => this.backend.countConversations());
  }

  // ---- images: stored at once (the answer waits for its link); a failure leaves the caller Coze's own link ----

  private async putImage(data: Uint8Array, contentType: string) {
    const ext = EXTENSIONS[contentType] ?? "png";
    const id = newImageId();
    try {
      await this.withTimeout(this.backend.putImage(id, ext, data, Date.now()));
    } catch (error) {
      this.healthTracker.failed("write", error);
      this.retryLater();
      throw new Error(`the image could not be stored: ${errorText(error)}`, { cause: error });
    }
    return { id, ext };
  }

  private async image(id: string, ext: string) {
    if (!/^[0-9a-f]{32}$/.test(id) || !(ext in TYPES)) return undefined;
    const body = await this.read(undefined, () => this.backend.image(id, ext, Date.now() - this.limits.imageTtlMs));
    return body && { body, type: TYPES[ext] };
  }

  // ---- the rest ----

  health(): StoreHealth {
    return this.healthTracker.report(this.queue.size);
  }

  ready(): Promise<void> {
    return this.backend.ready ?? Promise.resolve();
  }

  /** With the database away, the lock within this process still holds; the store shows degraded. */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(name, async () => {
      try {
        return await this.backend.withLock(name, fn);
      } catch (error) {
        if (!(error instanceof LockUnavailable)) throw error;
        this.healthTracker.failed("read", error);
        this.retryLater();
        return fn();
      }
    });
  }

  async sweep(): Promise<void> {
    try {
      await this.backend.sweep(this.limits, Date.now());
    } catch (error) {
      this.healthTracker.failed("write", error);
      this.retryLater();
    }
  }

  async flush(): Promise<void> {
    if (this.flushSoon) {
      clearImmediate(this.flushSoon);
      this.flushSoon = undefined;
    }
    if (this.retryTimer) return; // failing: the retry writes it; nobody waits for a failing store
    await this.writePass();
    // A pass that was already under way did not take the latest writes.
    if (this.queue.size > 0 && !this.retryTimer) await this.writePass();
  }

  async close(): Promise<void> {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    await this.flush();
    this.closed = true;
    if (this.flushSoon) clearImmediate(this.flushSoon);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.queue.size > 0) log.warn("the store is closing with writes it could not write", { store: this.kind, writes: this.queue.size });
    await this.backend.close();
  }
}
