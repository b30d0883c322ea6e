import type { Sessions } from "./sessions.ts";

/**
 * The state the service keeps across restarts, behind one interface with two
 * implementations holding the same things with the same meaning: SQLite in
 * DATA_DIR (the default) and PostgreSQL (DATABASE_URL, for several instances
 * sharing one state). The rest of the service does not know which it has.
 *
 * - conversations: a key (the fingerprint of a conversation as Coze has seen
 *   it, or a client's X-Conversation-Id, each within its key's scope) → the
 *   entry and the thread (or Coze conversation) holding it;
 * - threads: the threads the service started, for archiving idle ones;
 * - rests and suspects of entries, so that neither a restart nor another
 *   instance hits a quota that is still out;
 * - stored images, Responses transcripts, status-page sessions.
 *
 * A failing store never fails a request: writes are queued and written in the
 * background (retried with backoff while the store fails, the oldest dropped
 * beyond a bound), reads that fail answer "not found" (a conversation then
 * starts anew), and `health()` says the store is degraded until it recovers
 * by itself.
 */
export interface Store {
  readonly kind: "sqlite" | "postgres";
  /** The conversation remembered under `key`, still remembered afterwards (X-Conversation-Id). */
  find(key: string): Promise<ConversationPlace | undefined>;
  /** The conversation remembered under `key`, forgotten as it is taken: a remembered state is continued once. */
  take(key: string): Promise<ConversationPlace | undefined>;
  remember(key: string, place: ConversationPlace): void;
  /** Notes that a thread the service posts in was used now (and is active: posting unarchives). */
  touchThread(place: ConversationPlace): void;
  /** Active threads not used since `before`, oldest first. */
  idleThreads(before: number, limit?: number): Promise<ConversationPlace[]>;
  /** The entry's least recently used active threads. */
  oldestThreads(entryKey: string, limit: number): Promise<string[]>;
  markArchived(channelId: string): void;

  /** A Responses API answer's conversation, so that `previous_response_id` can continue it; scoped to the API key. */
  rememberResponse(id: string, scope: string, transcript: unknown): void;
  response(id: string, scope: string): Promise<unknown>;

  /** Quota rests and suspect marks still running, by entry key (epoch ms they end). */
  entryStates(): Promise<EntryStates>;
  rest(entryKey: string, until: number): void;
  suspect(entryKey: string, until: number): void;

  /** Status-page sessions (a session opened on one instance is known to all). */
  readonly sessions: Sessions;

  readonly images: ImageStore;

  /** How many conversations are remembered (undefined when the store cannot say). */
  conversations(): Promise<number | undefined>;
  health(): StoreHealth;
  /** Resolves once the store can be used (at once for SQLite; when its database first answers for PostgreSQL). */
  ready(): Promise<void>;
  /**
   * Runs `fn` while holding the lock `name`, across every instance sharing
   * this store: one request at a time in a channel without threads, one chat
   * at a time in a Coze conversation. Within one process the lock is held in
   * order of arrival.
   */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Forgets what is past its age or beyond its bound (one instance at a time sweeps). */
  sweep(): Promise<void>;
  /** Writes what is queued (as far as the store lets it). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Where a conversation lives: the entry that serves it and the Discord thread (or channel, or Coze conversation) holding it. */
export interface ConversationPlace {
  entryKey: string;
  channelId: string;
}

export interface EntryStates {
  rests: Map<string, number>;
  suspects: Map<string, number>;
}

export interface StoredImage {
  id: string;
  ext: string;
}

/** The images the service returns, by a random 128-bit id (the id is the secret). */
export interface ImageStore {
  /** Stores an image; rejects when the store cannot keep it (the caller then returns Coze's own link). */
  put(data: Uint8Array, contentType: string): Promise<StoredImage>;
  /** A stored image's body and media type, if the store still has it. */
  get(id: string, ext: string): Promise<{ body: Blob | Uint8Array; type: string } | undefined>;
}

export interface StoreHealth {
  state: "ok" | "degraded";
  /** What failed, in words (no secret): set while degraded. */
  problem?: string;
  /** Epoch ms the incident began. */
  since?: number;
  /** Writes waiting to be written. */
  queued: number;
  /** Writes dropped in the current incident because too many waited. */
  dropped: number;
}
