import type { ChatMessage } from "../openai/chat-request.ts";

/**
 * How a request relates to the conversations Coze has seen (README,
 * "Conversations and threads"). Coze reads the recent messages of the thread
 * it is mentioned in as context, so a request that continues a remembered
 * conversation posts only its new turns there; anything else starts a thread
 * with the whole (fitted) history.
 *
 * A conversation is remembered by a fingerprint of its messages as Coze has
 * seen them, up to and including Coze's answer: a later request whose
 * messages up to its last assistant message have the same fingerprint
 * continues it. Fingerprints are SHA-256 over role, name, trimmed text and
 * image URLs, scoped to the API key, so two keys never share a thread.
 */
export interface ConversationPlan {
  /** The API key's digest the conversation is scoped to. */
  scope: string;
  /** The remembered state this request would continue: the fingerprint of its messages up to the last assistant message, or the client's id. */
  key: string | undefined;
  /** The client named the conversation (X-Conversation-Id): its key is kept, not used up. */
  named: boolean;
  /** What to post when the conversation continues: the messages after the last assistant message. */
  newTurns: ChatMessage[];
  /** What the conversation is about: its first user message, white space collapsed (a new Discord thread is named after its start). */
  title: string;
  /** The keys to remember the conversation under once Coze has answered `answer`. */
  rememberKeys(answer: string): string[];
}

export function planConversation(scope: string, messages: ChatMessage[], conversationId?: string): ConversationPlan {
  const lastAssistant = messages.findLastIndex((m) => m.role === "assistant");
  const history = messages.slice(0, lastAssistant + 1);
  let newTurns = messages.slice(lastAssistant + 1);
  if (newTurns.length === 0) newTurns = messages.slice(-1);
  const firstUser = messages.find((m) => m.role === "user" && m.text.trim() !== "");
  const title = firstUser?.text.trim().replace(/\s+/g, " ") || "conversation";
  if (conversationId !== undefined) {
    const key = `id:${scope}:${conversationId}`;
    return { scope, key, named: true, newTurns, title, rememberKeys: () => [key] };
  }
  // The history's text is a prefix of what is remembered after the answer: built once, hashed twice.
  // Strings and Bun.SHA256.hash, not a CryptoHasher and its copies: those are native objects the
  // collector must finalize, about 5 µs a request; the digests are the same bytes either way.
  const seen = scope + messageText(history);
  const key = lastAssistant === -1 ? undefined : digestOf(seen);
  const asked = seen + messageText(messages.slice(lastAssistant + 1));
  return {
    scope,
    key,
    named: false,
    newTurns,
    title,
    rememberKeys: (answer) => [digestOf(asked + messageText([{ role: "assistant", text: answer, images: [] }]))],
  };
}

/** The fingerprint of a conversation: what Coze has seen of it, in order. */
export function fingerprint(scope: string, messages: ChatMessage[]): string {
  return digestOf(scope + messageText(messages));
}

const digestOf = (text: string) => `fp:${Bun.SHA256.hash(text, "hex")}`;

/** What a fingerprint covers of each message: role, name, trimmed text and image URLs, with separators no text holds. */
function messageText(messages: ChatMessage[]): string {
  let text = "";
  for (const m of messages) {
    const role = m.role === "developer" ? "system" : m.role === "function" ? "tool" : m.role;
    text += `\u0000${role}\u0001${m.name ?? ""}\u0001${m.text.trim()}`;
    for (const image of m.images) text += `\u0002${image.url}`;
  }
  return text;
}

/**
 * Scopes of the API keys seen, by Authorization header, so that each request
 * spares a digest: behind the key check only configured keys reach here (a
 * few spellings of the scheme each); without one, it stops growing at 256.
 */
const scopes = new Map<string, string>();
const MAX_SCOPES = 256;

/** A stable, non-reversible name for an API key, so that conversations are scoped per key without storing it. */
export function keyScope(authorization: string | null): string {
  const header = authorization ?? "";
  let scope = scopes.get(header);
  if (scope === undefined) {
    scope = (Bun.SHA256.hash(header, "hex") as string).slice(0, 16);
    if (scopes.size < MAX_SCOPES) scopes.set(header, scope);
  }
  return scope;
}
