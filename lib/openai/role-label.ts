import type { ChatMessage, Role } from "./chat-request.ts";

const LABELS: Record<Role, string> = {
  system: "System",
  developer: "System",
  user: "User",
  assistant: "Assistant",
  tool: "Tool",
  function: "Tool",
};

/**
 * Who speaks a turn, as a prompt that Coze reads as text says it: `User`,
 * `Assistant`, `System`, `Tool`, with the participant's name (or the call a
 * tool result answers) in brackets: `User (alice)`, `Tool (fn, call)`.
 */
export function roleLabel(message: Pick<ChatMessage, "role" | "name">): string {
  return `${LABELS[message.role]}${message.name ? ` (${message.name})` : ""}`;
}
