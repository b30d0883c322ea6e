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
  | { kind: "reasoning"; reasoning: string }
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
 * is the final word on it); `follow_up` suggestions, `verbose` packets
 * and cards are never text. Reasoning content (`reasoning_content` of
 * answer messages, from reasoning models) is gathered apart, never in the
 * text. Ids stay strings (Coze's are 19 digits: no number holds them).
 */
export class CozeAnswer {
  private readonly order: string[] = [];
  private readonly texts = new Map<string, string>();
  private readonly thoughts = new Map<string, string>();
  private joined = "";
  private thought = "";

  get text(): string {
    return this.joined;
  }

  /** The reasoning so far, "" when the model gave none. */
  get reasoning(): string {
    return this.thought;
  }

  step(event: CozeStreamEvent): CozeStep {
    const name = event.event ?? "message";
    if (name === "done") return { kind: "done" };
    if (name === "conversation.chat.in_progress") return { kind: "other" };
    // Most messages of a chat are not its answer (verbose packets, follow-ups): one whose data never says
    // "answer" cannot be of that type, and is not parsed. A JSON encoder escapes no ASCII letter, so this never misses one.
    if (name.startsWith("conversation.message.") && !event.data.includes('"answer"')) return { kind: "message" };
    let data: any;
    try {
      data = JSON.parse(event.data);
    } catch {
      return name === "error" ? { kind: "failed", code: undefined, msg: event.data.slice(0, 200) } : { kind: "other" };
    }
    switch (name) {
      case "conversation.chat.created":
        return { kind: "created", chatId: String(data.id ?? ""), conversationId: String(data.conversation_id ?? "") };
      case "conversation.message.delta":
      case "conversation.message.completed": {
        if (data.type !== "answer" || data.content_type !== "text" || typeof data.content !== "string") return { kind: "message" };
        const id = String(data.id ?? "");
        const delta = name === "conversation.message.delta";
        const thinking = this.reason(id, delta, data.reasoning_content);
        if (thinking && data.content === "") return { kind: "reasoning", reasoning: this.thought };
        if (!this.texts.has(id)) this.order.push(id);
        const before = this.texts.get(id) ?? "";
        this.texts.set(id, delta ? before + data.content : data.content);
        const joined = this.order.length === 1 ? this.texts.get(id)! : this.order.map((k) => this.texts.get(k)!).filter((t) => t !== "").join("\n");
        if (joined === this.joined) return thinking ? { kind: "reasoning", reasoning: this.thought } : { kind: "message" };
        this.joined = joined;
        return { kind: "text", text: joined };
      }
      case "conversation.chat.completed":
        return { kind: "completed", usage: data.usage };
      case "conversation.chat.failed":
        return { kind: "failed", code: codeOf(data.last_error?.code), msg: String(data.last_error?.msg ?? "the chat failed") };
      case "conversation.chat.requires_action":
        return { kind: "requires_action" };
      case "error":
        return { kind: "failed", code: codeOf(data.code), msg: String(data.msg ?? "error") };
      default:
        return { kind: "other" };
    }
  }

  /** Takes a message's reasoning (a delta's piece, or a completed message's whole); whether it changed what was gathered. */
  private reason(id: string, delta: boolean, piece: unknown): boolean {
    if (typeof piece !== "string" || (delta && piece === "")) return false;
    const before = this.thoughts.get(id) ?? "";
    const next = delta ? before + piece : piece;
    if (next === before) return false;
    this.thoughts.set(id, next);
    const all = [...this.thoughts.values()].filter((t) => t !== "").join("\n");
    if (all === this.thought) return false;
    this.thought = all;
    return true;
  }
}

/** An error code as a number: Coze Studio's chatflow route writes its codes as strings. */
function codeOf(code: unknown): number | undefined {
  if (typeof code === "number") return code;
  if (typeof code === "string" && /^-?\d+$/.test(code)) return Number(code);
  return undefined;
}
