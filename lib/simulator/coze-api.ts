import type { Server } from "bun";
import { promptPng } from "./png.ts";

/**
 * A simulator of Coze's official chat API (SPEC §9), speaking what the
 * official `@coze/api` SDK expects (a test drives it with the SDK): the JSON
 * envelope `{code, msg, data}`, `POST /v3/chat` streamed as `event:NAME` and
 * `data:JSON` lines without a space after the colon, `done` carrying the JSON
 * string `"[DONE]"`, conversations that keep their messages, files, chat
 * cancel, and the error codes Coze answers with. It imports nothing of the
 * product.
 */

/** How the simulated bot answers one chat. Every field is optional. */
export interface ApiScript {
  /** The answer; several strings are several `answer` messages (as a workflow writes them). */
  text?: string | string[];
  /** How many deltas each answer comes in. */
  deltas?: number;
  /** Delay before the first message event, and between events, ms. */
  firstDelayMs?: number;
  intervalMs?: number;
  /** `follow_up` suggestions after the answer (default two). */
  followUps?: string[];
  /** A markdown image on the simulator's CDN at the end of the answer. */
  image?: boolean;
  /** Before any event: an HTTP status with Coze's envelope (e.g. 429), or HTTP 200 with `{code≠0}`. */
  refuse?: { status: number; code: number; msg: string; retryAfter?: number };
  /** In the stream: `conversation.chat.failed` with this `last_error`, after `chat.created`. */
  fail?: { code: number; msg: string };
  /** In the stream: an `error` event. */
  streamError?: { code: number; msg: string };
  /** `conversation.chat.requires_action`: the bot waits for tool output. */
  requiresAction?: boolean;
  /** `chat.created` and `in_progress`, then nothing until cancelled or the client leaves. */
  silent?: boolean;
  /** Told as each delta (numbered from 0 across the chat) is written: the bench times chunks from it. */
  onDelta?: (index: number) => void;
}

export interface ApiBot {
  id: string;
  published: boolean;
  queue: ApiScript[];
  /** The default answer: it sees the user's last text and the conversation so far. */
  behaviour: (prompt: string, history: StoredMessage[]) => ApiScript;
}

export interface StoredMessage {
  role: "user" | "assistant";
  type: string;
  content: string;
  content_type: string;
}

/** One `/v3/chat` as it arrived, for tests. */
export interface ChatRecord {
  token: string;
  botId: string;
  userId: string;
  conversationId: string;
  /** Whether the conversation existed before this chat (a continued one). */
  continued: boolean;
  additional: StoredMessage[];
  chatId: string;
  usage?: { token_count: number; output_count: number; input_count: number };
  cancelled: boolean;
  answer: string;
}

interface Conversation {
  id: string;
  account: string;
  messages: StoredMessage[];
  /** The chat in progress, if any: Coze answers 4016 to a second one. */
  busy: string | undefined;
}

const CODE = {
  auth: { code: 4100, msg: "authentication is invalid" },
  notPublished: { code: 4015, msg: "The bot_id has not been published to the channel Agent As API." },
  botNotFound: { code: 4006, msg: "The bot does not exist." },
  busy: { code: 4016, msg: "Conversation occupied: another chat in this conversation is in progress." },
  badParam: { code: 4000, msg: "Request parameter error" },
};

let ids = 7_400_000_000_000_000_000n;
const nextId = () => String(ids++);

export class CozeApiSimulator {
  /** Tokens Coze accepts, each an account (conversations belong to one). */
  readonly tokens = new Map<string, string>();
  readonly bots = new Map<string, ApiBot>();
  readonly conversations = new Map<string, Conversation>();
  readonly files = new Map<string, { account: string; name: string; type: string; bytes: Uint8Array }>();
  readonly chats: ChatRecord[] = [];
  /** Calls to `/v1/bot/get_online_info`, for tests of the entry check. */
  onlineInfoCalls = 0;
  /** Chats refused because their conversation had a chat in progress (4016). */
  busyRefusals = 0;
  private server: Server<unknown> | undefined;
  private readonly pending = new Set<Promise<void>>();
  private readonly images = new Map<string, Uint8Array>();

  get url(): string {
    return `http://127.0.0.1:${this.server!.port}`;
  }

  start(): this {
    this.server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: (req) => this.handle(req) });
    return this;
  }

  async stop(): Promise<void> {
    this.server?.stop(true);
    await Promise.allSettled([...this.pending]);
  }

  addToken(token = `pat_${crypto.randomUUID().replaceAll("-", "")}`): string {
    this.tokens.set(token, `account-${this.tokens.size + 1}`);
    return token;
  }

  addBot(published = true): ApiBot {
    const bot: ApiBot = {
      id: nextId(),
      published,
      queue: [],
      behaviour: (prompt, history) => ({ text: `API says: ${prompt}${history.length > 0 ? ` (after ${history.length} messages)` : ""}`, deltas: 4 }),
    };
    this.bots.set(bot.id, bot);
    return bot;
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname.startsWith("/cdn/")) {
      const image = this.images.get(url.pathname.slice(5));
      return image ? new Response(image, { headers: { "content-type": "image/png" } }) : new Response("not found", { status: 404 });
    }
    const token = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1];
    const account = token ? this.tokens.get(token) : undefined;
    // Coze answers a bad token with HTTP 401 and its envelope.
    if (!account) return envelope(CODE.auth, 401);
    switch (`${req.method} ${url.pathname}`) {
      case "GET /v1/bot/get_online_info": {
        this.onlineInfoCalls++;
        const bot = this.bots.get(url.searchParams.get("bot_id") ?? "");
        if (!bot) return envelope(CODE.botNotFound);
        if (!bot.published) return envelope(CODE.notPublished);
        return envelope({ code: 0, msg: "" }, 200, { bot_id: bot.id, name: `bot ${bot.id}`, description: "", version: "1", create_time: 0, update_time: 0 });
      }
      case "POST /v1/conversation/create": {
        const conversation = this.newConversation(account);
        return envelope({ code: 0, msg: "" }, 200, { id: conversation.id, created_at: now(), meta_data: {}, last_section_id: nextId() });
      }
      case "POST /v1/files/upload": {
        const form = await req.formData().catch(() => undefined);
        const file = form?.get("file");
        if (!(file instanceof Blob)) return envelope(CODE.badParam);
        const id = nextId();
        const name = file instanceof File ? file.name : "file";
        this.files.set(id, { account, name, type: file.type, bytes: new Uint8Array(await file.arrayBuffer()) });
        return envelope({ code: 0, msg: "" }, 200, { id, bytes: file.size, created_at: now(), file_name: name });
      }
      case "POST /v3/chat/cancel": {
        const body = (await req.json().catch(() => ({}))) as { conversation_id?: string; chat_id?: string };
        const record = this.chats.find((c) => c.chatId === body.chat_id && c.conversationId === body.conversation_id);
        if (!record) return envelope(CODE.badParam);
        record.cancelled = true;
        const conversation = this.conversations.get(record.conversationId);
        if (conversation?.busy === record.chatId) conversation.busy = undefined;
        return envelope({ code: 0, msg: "" }, 200, { id: record.chatId, conversation_id: record.conversationId, status: "cancelled" });
      }
      case "POST /v3/chat":
        return this.chat(req, url, token!, account);
      default:
        return envelope({ code: 4000, msg: `unknown path ${url.pathname}` }, 404);
    }
  }

  private newConversation(account: string): Conversation {
    const conversation: Conversation = { id: nextId(), account, messages: [], busy: undefined };
    this.conversations.set(conversation.id, conversation);
    return conversation;
  }

  private async chat(req: Request, url: URL, token: string, account: string): Promise<Response> {
    const body = (await req.json().catch(() => undefined)) as
      | { bot_id?: string; user_id?: string; stream?: boolean; additional_messages?: StoredMessage[]; auto_save_history?: boolean }
      | undefined;
    if (!body || typeof body.bot_id !== "string" || typeof body.user_id !== "string" || body.user_id === "") return envelope(CODE.badParam);
    const bot = this.bots.get(body.bot_id);
    if (!bot) return envelope(CODE.botNotFound);
    if (!bot.published) return envelope(CODE.notPublished);
    const additional = body.additional_messages ?? [];
    if (additional.length > 100 || !additional.every((m) => (m.role === "user" || m.role === "assistant") && typeof m.content === "string")) return envelope(CODE.badParam);
    for (const m of additional) {
      if (m.content_type !== "object_string") continue;
      const items = parseItems(m.content);
      const unknownFile = items?.some((i) => i.type === "image" && !(i.file_id && this.files.get(i.file_id)?.account === account));
      if (!items || unknownFile || items.filter((i) => i.type === "text").length > 1) return envelope(CODE.badParam);
    }
    const requested = url.searchParams.get("conversation_id");
    let conversation: Conversation | undefined;
    if (requested) {
      conversation = this.conversations.get(requested);
      if (!conversation || conversation.account !== account) return envelope({ code: 4200, msg: "conversation not found" });
      if (conversation.busy) {
        this.busyRefusals++;
        return envelope(CODE.busy);
      }
    }
    const script = bot.queue.shift() ?? bot.behaviour(lastUserText(additional), conversation?.messages ?? []);
    if (script.refuse) {
      const headers: Record<string, string> = script.refuse.retryAfter ? { "retry-after": String(script.refuse.retryAfter) } : {};
      return envelope({ code: script.refuse.code, msg: script.refuse.msg }, script.refuse.status, undefined, headers);
    }
    const continued = conversation !== undefined;
    conversation ??= this.newConversation(account);
    const chatId = nextId();
    const record: ChatRecord = { token, botId: bot.id, userId: body.user_id, conversationId: conversation.id, continued, additional, chatId, cancelled: false, answer: "" };
    this.chats.push(record);
    conversation.busy = chatId;
    const history = [...conversation.messages];
    conversation.messages.push(...additional);
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const running = this.stream(writable.getWriter(), script, bot, conversation, history, record, req.signal).finally(() => {
      if (conversation!.busy === chatId) conversation!.busy = undefined;
      this.pending.delete(running);
    });
    this.pending.add(running);
    return new Response(readable, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }

  private async stream(
    writer: WritableStreamDefaultWriter<Uint8Array>,
    script: ApiScript,
    bot: ApiBot,
    conversation: Conversation,
    history: StoredMessage[],
    record: ChatRecord,
    signal: AbortSignal,
  ): Promise<void> {
    const encoder = new TextEncoder();
    const send = async (event: string, data: unknown) => {
      if (signal.aborted || record.cancelled) throw new Error("gone");
      await writer.write(encoder.encode(`event:${event}\ndata:${typeof data === "string" ? data : JSON.stringify(data)}\n\n`));
    };
    const chat = (status: string, extra: object = {}) => ({
      id: record.chatId,
      conversation_id: conversation.id,
      bot_id: bot.id,
      created_at: now(),
      last_error: { code: 0, msg: "" },
      status,
      ...extra,
    });
    const message = (type: string, content: string, id: string) => ({
      id,
      conversation_id: conversation.id,
      bot_id: bot.id,
      chat_id: record.chatId,
      role: "assistant",
      type,
      content,
      content_type: "text",
      section_id: conversation.id,
      created_at: now(),
      updated_at: now(),
    });
    const pause = (ms: number) => Bun.sleep(ms);
    try {
      await send("conversation.chat.created", chat("created"));
      await send("conversation.chat.in_progress", chat("in_progress"));
      if (script.silent) {
        while (!signal.aborted && !record.cancelled) await pause(20);
        return;
      }
      await pause(script.firstDelayMs ?? 10);
      if (script.fail) {
        await send("conversation.chat.failed", chat("failed", { last_error: script.fail }));
        await send("done", '"[DONE]"');
        return;
      }
      if (script.streamError) {
        await send("error", script.streamError);
        return;
      }
      if (script.requiresAction) {
        await send("conversation.chat.requires_action", chat("requires_action", { required_action: { type: "submit_tool_outputs", submit_tool_outputs: { tool_calls: [] } } }));
        await send("done", '"[DONE]"');
        return;
      }
      const answers = Array.isArray(script.text) ? [...script.text] : [script.text ?? "OK"];
      if (script.image) {
        const name = `${nextId()}.png`;
        this.images.set(name, promptPng(answers.join(" ")));
        answers[answers.length - 1] += `\n![image](${this.url}/cdn/${name})`;
      }
      let delta = 0;
      for (const answer of answers) {
        const id = nextId();
        for (const piece of split(answer, script.deltas ?? 3)) {
          script.onDelta?.(delta++);
          await send("conversation.message.delta", message("answer", piece, id));
          await pause(script.intervalMs ?? 5);
        }
        await send("conversation.message.completed", message("answer", answer, id));
        conversation.messages.push({ role: "assistant", type: "answer", content: answer, content_type: "text" });
      }
      record.answer = answers.join("\n");
      await send("conversation.message.completed", message("verbose", JSON.stringify({ msg_type: "generate_answer_finish", data: "", from_module: null, from_unit: null }), nextId()));
      for (const suggestion of script.followUps ?? ["Tell me more", "Give an example"]) await send("conversation.message.completed", message("follow_up", suggestion, nextId()));
      const input = count([...history, ...record.additional].map((m) => m.content).join(""));
      const output = count(record.answer);
      record.usage = { token_count: input + output, output_count: output, input_count: input };
      await send("conversation.chat.completed", chat("completed", { completed_at: now(), usage: record.usage }));
      await send("done", '"[DONE]"');
    } catch {
      // The client left or cancelled: nothing more is written.
    } finally {
      await writer.close().catch(() => {});
    }
  }
}

function envelope(error: { code: number; msg: string }, status = 200, data?: unknown, headers: Record<string, string> = {}): Response {
  return Response.json({ code: error.code, msg: error.msg, ...(data === undefined ? {} : { data }), detail: { logid: nextId() } }, { status, headers: { ...headers, "x-tt-logid": "sim" } });
}

const now = () => Math.floor(Date.now() / 1000);

/** Coze's counts are its tokenizer's; the simulator's are a fixed rule, so a test can predict them: one per 3 characters. */
const count = (text: string) => Math.ceil(text.length / 3);

function parseItems(content: string): { type: string; text?: string; file_id?: string }[] | undefined {
  try {
    const items = JSON.parse(content);
    return Array.isArray(items) ? items : undefined;
  } catch {
    return undefined;
  }
}

/** The text the user said last, as the bot reads it (an object_string's text item). */
function lastUserText(messages: StoredMessage[]): string {
  const last = messages.findLast((m) => m.role === "user");
  if (!last) return "";
  if (last.content_type !== "object_string") return last.content;
  return parseItems(last.content)?.find((i) => i.type === "text")?.text ?? "";
}

function split(text: string, parts: number): string[] {
  const points = [...text];
  const size = Math.max(1, Math.ceil(points.length / parts));
  const out: string[] = [];
  for (let i = 0; i < points.length; i += size) out.push(points.slice(i, i + size).join(""));
  return out.length > 0 ? out : [""];
}
