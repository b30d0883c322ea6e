import { log } from "../log.ts";
import { errorText } from "../error-text.ts";
import { LockUnavailable, type Backend, type StoreLimits, type Write } from "./backend.ts";
import { HealthTracker } from "./health.ts";
import { EXTENSIONS, TYPES, newImageId } from "./image-types.ts";
import { LocalLocks } from "./lock.ts";
import { newSessionId, sessionIdHash, type Sessions } from "./sessions.ts";
import type { ConversationPlace, EntryStates, ImageStore, Store, StoreHealth } from "./store.ts";
import { WriteBehind } from "./write-behind.ts";

/** A read that takes longer is treated as failed: a slow database behaves as a failing one, the request goes on. */
const READ_TIMEOUT_MS = 1500;
/**
 * For this long after start, reads and writes wait for a database that is
 * still opening (its schema being created) instead of failing at once, so
 * that an ordinary start is not an incident. A database still away after it
 * is a degraded start: everything fails fast until it answers.
 */
const OPENING_GRACE_MS = 1500;

/**
 * The store as the service uses it, in front of a backend (SQLite or
 * PostgreSQL): writes queued and written together a few milliseconds later
 * (reads see what is queued), a failing backend retried in the
 * background with backoff while everything else goes on, reads that fail or
 * take too long answered as "nothing stored".
 */
export class QueuedStore implements Store {
  readonly kind: Backend["kind"];
  readonly images: ImageStore;
  readonly sessions: Sessions;
  private readonly healthTracker: HealthTracker;
  private readonly writes: WriteBehind;
  private readonly locks = new LocalLocks();
  /** Resolves when the backend is ready or the opening grace is over, whichever comes first. */
  private readonly opening: Promise<void>;

  constructor(
    private readonly backend: Backend,
    private readonly limits: StoreLimits,
  ) {
    this.kind = backend.kind;
    this.healthTracker = new HealthTracker(backend.kind, backend.redact ?? ((text) => text));
    this.opening = backend.ready ? Promise.race([backend.ready, Bun.sleep(OPENING_GRACE_MS)]) : Promise.resolve();
    this.writes = new WriteBehind(backend, this.healthTracker, () => this.probe(), this.opening);
    this.images = {
      put: (data, contentType) => this.putImage(data, contentType),
      get: (id, ext) => this.image(id, ext),
    };
    this.sessions = {
      create: async (owner, expiresAt) => {
        const id = newSessionId();
        this.enqueue({ kind: "session", idHash: sessionIdHash(id), owner, expiresAt });
        return id;
      },
      lookup: (id, now) => this.sessionOwner(sessionIdHash(id), now),
      revoke: async (id) => this.enqueue({ kind: "end-session", idHash: sessionIdHash(id) }),
      // Once per start, not on a request's path: it may fail, and the caller says so.
      revokeKeysNotIn: (owners) => this.backend.revokeSessionsNotIn(owners),
    };
  }

  // ---- writes: queued, never throw ----

  private enqueue(write: Write): void {
    this.writes.add(write);
  }

  private get queue() {
    return this.writes.queue;
  }

  private retryLater(): void {
    this.writes.retryLater();
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
      // A read that works does not end an incident: it may have read another table than the one that failed.
      // The probe, which reads the table look-ups read, ends it.
      return await this.withTimeout(this.opening.then(run));
    } catch (error) {
      this.healthTracker.failed("read", error);
      this.retryLater();
      return fallback;
    }
  }

  private withTimeout<T>(promise: Promise<T>, write = false): Promise<T> {
    // A backend whose reads settle before they return (SQLite) cannot keep a request waiting: no timer for it.
    if (this.backend.readsAtOnce && !write) return promise;
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

  /** A store that cannot say refuses the session (the page shows no details), never opens it. */
  private async sessionOwner(idHash: string, now = Date.now()): Promise<string | undefined> {
    const write = this.queue.pending(`l\0${idHash}`);
    if (write?.kind === "end-session") return undefined;
    if (write?.kind === "session") return write.expiresAt > now ? write.owner : undefined;
    return this.read(undefined, () => this.backend.sessionOwner(idHash, now));
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
      await this.withTimeout(this.backend.putImage(id, ext, data, Date.now()), true);
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

  flush(): Promise<void> {
    return this.writes.flush();
  }

  async close(): Promise<void> {
    const left = await this.writes.close();
    if (left > 0) log.warn("the store is closing with writes it could not write", { store: this.kind, writes: left });
    await this.backend.close();
  }
}
