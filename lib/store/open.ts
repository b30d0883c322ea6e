import type { StoreLimits } from "./backend.ts";
import { PostgresBackend } from "./postgres.ts";
import { QueuedStore } from "./queued-store.ts";
import { SqliteBackend } from "./sqlite.ts";
import type { Store } from "./store.ts";

export interface StoreSettings {
  dataDir: string;
  /** postgres://… : all state in that database (several instances share it); else SQLite in DATA_DIR. */
  databaseUrl?: string;
  conversationTtlMs: number;
  imageTtlMs: number;
  imageStoreMax: number;
  /** Conversations (and Responses transcripts) kept at most. */
  maxConversations?: number;
}

/** The store the settings ask for: PostgreSQL when DATABASE_URL is set, else SQLite in DATA_DIR. */
export function openStore(settings: StoreSettings): Store {
  const limits: StoreLimits = {
    conversationTtlMs: settings.conversationTtlMs,
    maxConversations: settings.maxConversations ?? 100_000,
    imageTtlMs: settings.imageTtlMs,
    imageStoreMax: settings.imageStoreMax,
  };
  const backend = settings.databaseUrl ? new PostgresBackend(settings.databaseUrl, limits) : new SqliteBackend(settings.dataDir, limits);
  return new QueuedStore(backend, limits);
}
