import type { ApiDialect, ApiScript, ChatRecord, Conversation, StoredMessage } from "./coze-api-types.ts";

/**
 * One chat's event stream, as each server writes it.
 *
 * - coze.com, both routes: `event:NAME` and `data:JSON` lines without a
 *   space, ending with `event:done` and the JSON string `"[DONE]"`; a failed
 *   run is `conversation.chat.failed` with `last_error`.
 * - Studio's `/v3/chat` (hertz-contrib/sse): the same lines, ids as strings,
 *   no `last_error`; it ends with `event:conversation.stream.done` and an
 *   empty `data:` line (its writer always writes one); a failed run is an
 *   `error` event `{code, msg}` and the stream ends.
 * - Studio's `/v1/workflows/chat` (Hertz's own SSE writer): `id: N`,
 *   `event: NAME`, `data: JSON`, spaces after the colons; messages carry no
 *   reasoning; it ends with `event: done` and `{"debug_url": …}`; a failed
 *   run is `event: error` with the code as a string.
 */
export interface StreamPlan {
  dialect: ApiDialect;
  route: "chat" | "workflow";
  record: ChatRecord;
  conversation: Conversation;
  /** The bot (or a chatflow's bot or app) the events name; "0" when a chatflow runs as none. */
  botId: string;
  /** The conversation before this chat: what the usage's input counts. */
  history: StoredMessage[];
  signal: AbortSignal;
  nextId: () => string;
  /** A markdown image's URL for an answer, stored by the simulator. */
  imageUrl: (prompt: string, host?: string) => string;
}

export async function writeChat(writer: WritableStreamDefaultWriter<Uint8Array>, script: ApiScript, plan: StreamPlan): Promise<void> {
  const { dialect, route, record, conversation, signal } = plan;
  const studioFlow = dialect === "studio" && route === "workflow";
  const encoder = new TextEncoder();
  let seq = 1;
  const send = async (event: string, data: unknown) => {
    if (signal.aborted || record.cancelled) throw new Error("gone");
    const body = typeof data === "string" ? data : JSON.stringify(data);
    const text = studioFlow ? `id: ${seq++}\nevent: ${event}\ndata: ${body}\n\n` : `event:${event}\ndata:${body}\n\n`;
    await writer.write(encoder.encode(text));
  };
  const end = () =>
    dialect === "coze" ? send("done", '"[DONE]"') : studioFlow ? send("done", { debug_url: `http://localhost:8888/work_flow?execute_id=${record.chatId}&workflow_id=${record.workflowId}` }) : send("conversation.stream.done", "");
  const chat = (status: string, extra: object = {}) => {
    if (studioFlow) return { id: record.chatId, conversation_id: conversation.id, ...(status === "completed" ? { bot_id: plan.botId } : {}), status, execute_id: record.chatId, section_id: conversation.id, ...extra };
    const times = dialect === "studio" ? { created_at: now(), completed_at: status === "completed" ? now() : 0, failed_at: 0 } : { created_at: now(), last_error: { code: 0, msg: "" } };
    return { id: record.chatId, conversation_id: conversation.id, bot_id: plan.botId, ...times, status, section_id: conversation.id, ...extra };
  };
  const message = (type: string, content: string, id: string, reasoning?: string) =>
    studioFlow
      ? { id, chat_id: record.chatId, conversation_id: conversation.id, bot_id: plan.botId, role: "assistant", type, content, content_type: "text", section_id: conversation.id }
      : {
          id,
          conversation_id: conversation.id,
          bot_id: plan.botId,
          chat_id: record.chatId,
          role: "assistant",
          type,
          content,
          content_type: "text",
          section_id: conversation.id,
          created_at: now(),
          ...(dialect === "coze" ? { updated_at: now() } : {}),
          ...(reasoning !== undefined ? { reasoning_content: reasoning } : {}),
        };
  const failed = async (error: { code: number; msg: string }) => {
    if (dialect === "coze") {
      await send("conversation.chat.failed", chat("failed", { last_error: error }));
      await end();
    } else if (studioFlow) await send("error", { code: String(error.code), msg: error.msg, debug_url: "" });
    else await send("error", error);
  };
  const pause = (ms: number) => Bun.sleep(ms);
  try {
    await send("conversation.chat.created", chat("created"));
    await send("conversation.chat.in_progress", chat("in_progress"));
    if (script.silent) {
      while (!signal.aborted && !record.cancelled) await pause(20);
      return;
    }
    await pause(script.firstDelayMs ?? 10);
    if (script.fail) return await failed(script.fail);
    if (script.streamError) {
      await send("error", studioFlow ? { code: String(script.streamError.code), msg: script.streamError.msg } : script.streamError);
      return;
    }
    if (script.requiresAction) {
      await send("conversation.chat.requires_action", chat("requires_action", { required_action: { type: "submit_tool_outputs", submit_tool_outputs: { tool_calls: [] } } }));
      await end();
      return;
    }
    const answers = Array.isArray(script.text) ? [...script.text] : [script.text ?? "OK"];
    if (script.image) answers[answers.length - 1] += `\n![image](${plan.imageUrl(answers.join(" "), typeof script.image === "object" ? script.image.host : undefined)})`;
    let delta = 0;
    let reasoning = studioFlow ? undefined : script.reasoning;
    for (const [index, answer] of answers.entries()) {
      const id = plan.nextId();
      if (reasoning !== undefined) {
        for (const piece of split(reasoning, script.deltas ?? 3)) {
          await send("conversation.message.delta", message("answer", "", id, piece));
          await pause(script.intervalMs ?? 5);
        }
      }
      const pieces = split(answer, script.deltas ?? 3);
      for (const [i, piece] of pieces.entries()) {
        script.onDelta?.(delta++);
        await send("conversation.message.delta", message("answer", piece, id, reasoning === undefined ? undefined : ""));
        await pause(script.intervalMs ?? 5);
        // A connection that breaks in the middle of the answer: no `completed`, no end event.
        if (script.cut === "before-completed" && index === answers.length - 1 && i === Math.floor(pieces.length / 2)) return;
      }
      await send("conversation.message.completed", message("answer", answer, id, reasoning));
      reasoning = undefined;
      conversation.messages.push({ role: "assistant", type: "answer", content: answer, content_type: "text" });
    }
    record.answer = answers.join("\n");
    if (!studioFlow) {
      await send("conversation.message.completed", message("verbose", JSON.stringify({ msg_type: "generate_answer_finish", data: "", from_module: null, from_unit: null }), plan.nextId()));
    }
    for (const suggestion of script.followUps ?? (studioFlow ? [] : ["Tell me more", "Give an example"])) {
      await send("conversation.message.completed", message("follow_up", suggestion, plan.nextId()));
    }
    const input = count([...plan.history, ...record.additional].map((m) => m.content).join(""));
    const output = count(record.answer);
    // Studio's chatflow route reports token_count as output + output (its chatflow.go adds OutputTokens twice).
    record.usage = { token_count: studioFlow ? output + output : input + output, output_count: output, input_count: input };
    await send("conversation.chat.completed", chat("completed", dialect === "coze" ? { completed_at: now(), usage: record.usage } : { usage: record.usage }));
    if (script.cut === "after-completed") return;
    await end();
  } catch {
    // The client left or cancelled: nothing more is written.
  } finally {
    await writer.close().catch(() => {});
  }
}

const now = () => Math.floor(Date.now() / 1000);

/** Coze's counts are its tokenizer's; the simulator's are a fixed rule, so a test can predict them: one per 3 characters. */
export const count = (text: string) => Math.ceil(text.length / 3);

function split(text: string, parts: number): string[] {
  const points = [...text];
  const size = Math.max(1, Math.ceil(points.length / parts));
  const out: string[] = [];
  for (let i = 0; i < points.length; i += size) out.push(points.slice(i, i + size).join(""));
  return out.length > 0 ? out : [""];
}
