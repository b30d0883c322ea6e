import type { StoreLimits } from "./backend.ts";
import { QueuedStore } from "./queued-store.ts";
import { SqliteBackend } from "./sqlite.ts";
import type { Store } from "./store.ts";

export interface StoreSettings {
  dataDir: string;
  conversationTtlMs: number;
  imageTtlMs: number;
  imageStoreMax: number;
  /** Conversations (and Responses transcripts) kept at most. */
  maxConversations?: number;
}

/** The store the settings ask for: SQLite in DATA_DIR. */
export function openStore(settings: StoreSettings): Store {
  const limits: StoreLimits = {
    conversationTtlMs: settings.conversationTtlMs,
    maxConversations: settings.maxConversations ?? 100_000,
    imageTtlMs: settings.imageTtlMs,
    imageStoreMax: settings.imageStoreMax,
  };
  return new QueuedStore(new SqliteBackend(settings.dataDir, limits), limits);
}
