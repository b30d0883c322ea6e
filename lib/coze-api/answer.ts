import type { CozeStreamEvent } from "./stream.ts";

/** Token counts of the chat that answered, as Coze reports them in `conversation.chat.completed`. */
export interface CozeUsage {
  input_count: number;
  output_count: number;
  token_count: number;
}

/** What one event of the chat stream means for the answer. */
export type CozeStep =
  | { kind: "created"; chatId: string; conversationId: string }
  | { kind: "text"; text: string }
  | { kind: "message" }
  | { kind: "completed"; usage: CozeUsage | undefined }
  | { kind: "failed"; code: number | undefined; msg: string }
  | { kind: "requires_action" }
  | { kind: "done" }
  | { kind: "other" };

/**
 * The answer of one chat, assembled from its stream events: the
 * text of `answer` messages as their deltas come (several answers, as
 * workflows write them, joined with a newline; a message's `completed` text
 * is the final word on it); `follow_up` suggestions, `verbose` packets,
 * cards and reasoning are never text.
 */
export class CozeAnswer {
  private readonly order: string[] = [];
  private readonly texts = new Map<string, string>();
  private joined = "";

  get text(): string {
    return this.joined;
  }

  step(event: CozeStreamEvent): CozeStep {
    if (event.event === "done") return { kind: "done" };
    if (event.event === "conversation.chat.in_progress") return { kind: "other" };
    // Most messages of a chat are not its answer (verbose packets, follow-ups): one whose data never says
    // "answer" cannot be of that type, and is not parsed. A JSON encoder escapes no ASCII letter, so this never misses one.
    if (event.event.startsWith("conversation.message.") && !event.data.includes('"answer"')) return { kind: "message" };
    let data: any;
    try {
      data = JSON.parse(event.data);
    } catch {
      return event.event === "error" ? { kind: "failed", code: undefined, msg: event.data.slice(0, 200) } : { kind: "other" };
    }
    switch (event.event) {
      case "conversation.chat.created":
        return { kind: "created", chatId: String(data.id ?? ""), conversationId: String(data.conversation_id ?? "") };
      case "conversation.message.delta":
      case "conversation.message.completed": {
        if (data.type !== "answer" || data.content_type !== "text" || typeof data.content !== "string") return { kind: "message" };
        const id = String(data.id ?? "");
        if (!this.texts.has(id)) this.order.push(id);
        const before = this.texts.get(id) ?? "";
        this.texts.set(id, event.event === "conversation.message.delta" ? before + data.content : data.content);
        const joined = this.order.length === 1 ? this.texts.get(id)! : this.order.map((k) => this.texts.get(k)!).filter((t) => t !== "").join("\n");
        if (joined === this.joined) return { kind: "message" };
        this.joined = joined;
        return { kind: "text", text: joined };
      }
      case "conversation.chat.completed":
        return { kind: "completed", usage: data.usage };
      case "conversation.chat.failed":
        return { kind: "failed", code: data.last_error?.code, msg: String(data.last_error?.msg ?? "the chat failed") };
      case "conversation.chat.requires_action":
        return { kind: "requires_action" };
      case "error":
        return { kind: "failed", code: data.code, msg: String(data.msg ?? "error") };
      default:
        return { kind: "other" };
    }
  }
}
