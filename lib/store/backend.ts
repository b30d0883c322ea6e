import type { ConversationPlace, EntryStates } from "./store.ts";

/** One write, queued until the backend has it. A later write with the same `slot` replaces it. */
export type Write =
  | { kind: "conversation"; key: string; place: ConversationPlace; at: number }
  | { kind: "forget-conversation"; key: string }
  | { kind: "thread"; place: ConversationPlace; at: number }
  | { kind: "archived"; channelId: string }
  | { kind: "response"; id: string; scope: string; transcript: string; at: number }
  | { kind: "rest"; entryKey: string; until: number }
  | { kind: "suspect"; entryKey: string; until: number }
  | { kind: "session"; idHash: string; owner: string; expiresAt: number }
  | { kind: "end-session"; idHash: string };

/** Bounds the store keeps: ages in ms, counts in rows, bytes of images. */
export interface StoreLimits {
  conversationTtlMs: number;
  maxConversations: number;
  imageTtlMs: number;
  imageStoreMax: number;
}

/**
 * What a database does for the store: plain statements, each of which may
 * fail (a full disk, a lock, a server gone). The store in front of it queues,
 * retries and degrades; a backend never retries by itself.
 */
export interface Backend {
  readonly kind: "sqlite" | "postgres";
  /** Resolves once the backend can be used (its schema ready); absent when it can at once. */
  readonly ready?: Promise<void>;
  /** Its reads have settled by the time they return (a synchronous database): no read needs a timeout. */
  readonly readsAtOnce?: boolean;
  /** Removes secrets (a database password) from an error's text before it is logged or shown. */
  readonly redact?: (text: string) => string;
  /** Applies the writes in order, all or none. */
  write(batch: Write[]): Promise<void>;
  conversation(key: string, since: number): Promise<ConversationPlace | undefined>;
  idleThreads(before: number, limit: number): Promise<ConversationPlace[]>;
  oldestThreads(entryKey: string, limit: number): Promise<string[]>;
  response(id: string, scope: string, since: number): Promise<string | undefined>;
  entryStates(now: number): Promise<EntryStates>;
  /** The owner of a live session, by the hash of its id. */
  sessionOwner(idHash: string, now: number): Promise<string | undefined>;
  /** Ends every session whose owner is not one of `owners`; returns how many. */
  revokeSessionsNotIn(owners: readonly string[]): Promise<number>;
  countConversations(): Promise<number>;
  putImage(id: string, ext: string, data: Uint8Array, now: number): Promise<void>;
  image(id: string, ext: string, since: number): Promise<Blob | Uint8Array | undefined>;
  /** A cheap read of the conversations table that succeeds only when the database answers it. */
  ping(): Promise<void>;
  /** Forgets rows past their age or beyond their bound; false when another instance is sweeping. */
  sweep(limits: StoreLimits, now: number): Promise<boolean>;
  /** Holds the cross-instance lock `name` while `fn` runs (the store serializes within the process first). */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The queue slot of a write: writes to the same row replace each other, so only the latest is written. */
export function slotOf(write: Write): string {
  switch (write.kind) {
    case "conversation":
    case "forget-conversation":
      return `c\0${write.key}`;
    case "thread":
      return `t\0${write.place.channelId}`;
    case "archived":
      return `a\0${write.channelId}`;
    case "response":
      return `r\0${write.id}`;
    case "rest":
      return `q\0${write.entryKey}`;
    case "suspect":
      return `s\0${write.entryKey}`;
    case "session":
    case "end-session":
      return `l\0${write.idHash}`;
  }
}

/** Roughly the memory a queued write holds, for the queue's bound. */
export function sizeOf(write: Write): number {
  return write.kind === "response" ? 200 + write.transcript.length * 2 : 200;
}

/** The cross-instance lock could not be taken (the database is away): the caller goes on with the in-process lock alone. */
export class LockUnavailable extends Error {
  override name = "LockUnavailable";
}
