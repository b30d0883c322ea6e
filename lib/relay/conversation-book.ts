import type { ChatMessage } from "../openai/chat-request.ts";
import type { ConversationPlace, PlaceBook } from "../pool/seam.ts";
import type { Store } from "../store/store.ts";

/**
 * Everything the relay and its routes keep in the store, in one place and
 * asynchronous, so that a store behind a network (PostgreSQL) changes this
 * file only: where conversations live, the places (threads) the backends
 * started, and the Responses API's transcripts.
 */
export class ConversationBook implements PlaceBook {
  constructor(private readonly store: Store) {}

  /** The conversation remembered under `key`, still remembered afterwards (a client's X-Conversation-Id). */
  async find(key: string): Promise<ConversationPlace | undefined> {
    return placeOf(await this.store.find(key));
  }

  /** The conversation remembered under `key`, forgotten as it is taken: a remembered state is continued once. */
  async take(key: string): Promise<ConversationPlace | undefined> {
    return placeOf(await this.store.take(key));
  }

  /** Queued in the store: it never waits, whatever the store (a write the store cannot take yet waits in its queue). */
  remember(keys: string[], place: ConversationPlace): void {
    for (const key of keys) this.store.remember(key, { entryKey: place.entryKey, channelId: place.conversationId });
  }

  async touch(place: ConversationPlace): Promise<void> {
    this.store.touchThread({ entryKey: place.entryKey, channelId: place.conversationId });
  }

  async oldest(entryKey: string, limit: number): Promise<string[]> {
    return this.store.oldestThreads(entryKey, limit);
  }

  async archived(conversationId: string): Promise<void> {
    this.store.markArchived(conversationId);
  }

  serialize<T>(name: string, work: () => Promise<T>): Promise<T> {
    return this.store.withLock(name, work);
  }

  /** Places not used since `before`, oldest first. */
  async idle(before: number): Promise<ConversationPlace[]> {
    return (await this.store.idleThreads(before)).map(placeOf) as ConversationPlace[];
  }

  /** A Responses API answer's conversation, so that `previous_response_id` can continue it; scoped to the API key. */
  async rememberResponse(id: string, scope: string, transcript: ChatMessage[]): Promise<void> {
    this.store.rememberResponse(id, scope, transcript);
  }

  async response(id: string, scope: string): Promise<ChatMessage[] | undefined> {
    return (await this.store.response(id, scope)) as ChatMessage[] | undefined;
  }
}

function placeOf(stored: { entryKey: string; channelId: string } | undefined): ConversationPlace | undefined {
  return stored && { entryKey: stored.entryKey, conversationId: stored.channelId };
}
