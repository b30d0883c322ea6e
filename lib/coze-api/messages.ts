import type { ChatMessage } from "../openai/chat-request.ts";
import { roleLabel } from "../openai/role-label.ts";

/** A message of `/v3/chat`'s `additional_messages`, as Coze's API takes it. */
export interface CozeMessage {
  role: "user" | "assistant";
  type: "question" | "answer";
  content: string;
  content_type: "text" | "object_string";
}

/** Coze takes at most this many additional messages in one chat. */
export const MAX_ADDITIONAL_MESSAGES = 100;

/**
 * A conversation as Coze's API takes it: role-tagged messages, not the
 * 2000-character rendering Discord needs. Coze's roles are user
 * and assistant only, so system turns and tool results go as user messages
 * that say what they are (`System: …`, `Tool (fn, call): …`). The client's
 * instruction (functions, JSON) closes the last user message; the images go
 * with it as an `object_string` message (one text item, then `image` items
 * with the uploaded files' ids). The oldest turns give way past 100.
 */
export function toCozeMessages(messages: ChatMessage[], instruction: string | undefined, fileIds: string[]): CozeMessage[] {
  const out: CozeMessage[] = [];
  for (const m of messages) {
    const text = m.text.trim();
    if (text === "") continue;
    if (m.role === "assistant") {
      out.push({ role: "assistant", type: "answer", content: text, content_type: "text" });
      continue;
    }
    const who = m.role === "user" && !m.name ? "" : `${roleLabel(m)}: `;
    out.push({ role: "user", type: "question", content: who + text, content_type: "text" });
  }
  let last = out.findLastIndex((m) => m.role === "user");
  if (last === -1 && (instruction || fileIds.length > 0)) {
    out.push({ role: "user", type: "question", content: "", content_type: "text" });
    last = out.length - 1;
  }
  if (last !== -1) {
    const message = out[last];
    if (instruction) message.content = message.content === "" ? instruction : `${message.content}\n\n${instruction}`;
    if (fileIds.length > 0) {
      const items: object[] = message.content === "" ? [] : [{ type: "text", text: message.content }];
      for (const id of fileIds) items.push({ type: "image", file_id: id });
      out[last] = { ...message, content: JSON.stringify(items), content_type: "object_string" };
    }
  }
  return out.slice(-MAX_ADDITIONAL_MESSAGES);
}

/** The prompt as Coze reads it, for logs and the usage estimate when Coze gives no counts. */
export function promptTextOf(messages: CozeMessage[]): string {
  return messages.map((m) => m.content).join("\n\n");
}
