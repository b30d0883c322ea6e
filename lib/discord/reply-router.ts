import type { ReplyMessage } from "./reply-message.ts";

/** Replies to prompts nobody follows yet are kept this long, at most this many prompts' worth. */
const ORPHAN_TTL_MS = 30_000;
const ORPHAN_LIMIT = 256;

type Listener = (message: ReplyMessage) => void;

/**
 * Hands each reply message to the request that posted the prompt it answers.
 *
 * Coze can answer before our post call returns (the gateway is faster than
 * the REST response), so messages that reference a prompt nobody follows yet
 * wait here, bounded in count and age, until `follow` claims them. Nothing
 * here outlives the requests that follow.
 */
export class ReplyRouter {
  private readonly listeners = new Map<string, { listener: Listener; channelId: string; replyIds: string[] }>();
  /** Reply message id → prompt id, for edits that arrive without a reference. */
  private readonly replyToPrompt = new Map<string, string>();
  private readonly orphans = new Map<string, { at: number; messages: ReplyMessage[] }>();

  /** Starts following the replies to `promptId`, posted in `channelId`; returns the function that stops it. */
  follow(promptId: string, listener: Listener, channelId = ""): () => void {
    const entry = { listener, channelId, replyIds: [] as string[] };
    this.listeners.set(promptId, entry);
    const waiting = this.orphans.get(promptId);
    if (waiting) {
      this.orphans.delete(promptId);
      for (const message of waiting.messages) this.deliver(message);
    }
    return () => {
      if (this.listeners.get(promptId) !== entry) return;
      this.listeners.delete(promptId);
      for (const replyId of entry.replyIds) this.replyToPrompt.delete(replyId);
    };
  }

  deliver(message: ReplyMessage): void {
    const promptId = message.referenceId ?? this.replyToPrompt.get(message.id);
    if (promptId === undefined) return;
    const entry = this.listeners.get(promptId);
    if (entry) {
      if (!this.replyToPrompt.has(message.id)) {
        this.replyToPrompt.set(message.id, promptId);
        entry.replyIds.push(message.id);
      }
      entry.listener(message);
    } else if (message.referenceId !== undefined) {
      this.keepOrphan(promptId, message);
    }
  }

  /** The prompts being followed, for fetching replies a lost gateway session did not deliver. */
  prompts(): { promptId: string; channelId: string }[] {
    return [...this.listeners].map(([promptId, { channelId }]) => ({ promptId, channelId }));
  }

  get following(): number {
    return this.listeners.size;
  }

  get waiting(): number {
    return this.orphans.size;
  }

  private keepOrphan(promptId: string, message: ReplyMessage): void {
    const now = performance.now();
    for (const [id, orphan] of this.orphans) {
      if (now - orphan.at < ORPHAN_TTL_MS && this.orphans.size < ORPHAN_LIMIT) break;
      this.orphans.delete(id);
    }
    const orphan = this.orphans.get(promptId);
    if (orphan) orphan.messages.push(message);
    else this.orphans.set(promptId, { at: now, messages: [message] });
  }
}
