import type { Server } from "bun";
import { SimWorkspaces } from "./coze-api-bots.ts";
import { CozeAudioSimulator } from "./coze-api-audio.ts";
import { defaultApiScript } from "./coze-api-behaviour.ts";
import { writeChat } from "./coze-api-stream.ts";
import { COZE_CODES, lastUserText, nextId, parseItems, STUDIO, studioErrorText, type ApiBot, type ApiDialect, type ApiServer, type ApiScript, type ApiWorkflow, type ChatRecord, type Conversation, type StoredMessage } from "./coze-api-types.ts";
import { workflowChat } from "./coze-api-workflow.ts";
import { promptPng } from "./png.ts";

export type { ApiBot, ApiDialect, ApiScript, ApiWorkflow, ChatRecord, StoredMessage } from "./coze-api-types.ts";

/**
 * A simulator of Coze's official chat API (what a bot published to the API
 * channel answers, at api.coze.com or api.coze.cn), speaking what the
 * official `@coze/api` SDK expects (a test drives it with the SDK): the JSON
 * envelope `{code, msg, data}`, `POST /v3/chat` and `POST /v1/workflows/chat`
 * streamed, conversations that keep their messages, files, chat cancel, and
 * the error codes Coze answers with. With `dialect: "studio"` it is a
 * self-hosted Coze Studio instead, as its server's sources write the same
 * API: its end event, its errors (HTTP 400 `{code: 400}`, `error` events,
 * 700012006 for a bad token), its chatflow route. It imports nothing of the
 * product.
 */
export class CozeApiSimulator implements ApiServer {
  readonly dialect: ApiDialect;
  /** Tokens Coze accepts, each an account (conversations belong to one). */
  readonly tokens = new Map<string, string>();
  readonly bots = new Map<string, ApiBot>();
  readonly workflows = new Map<string, ApiWorkflow>();
  readonly conversations = new Map<string, Conversation>();
  /** Studio's chatflow conversations by name: `account/app or bot/name` → conversation id. */
  readonly namedConversations = new Map<string, string>();
  readonly files = new Map<string, { account: string; name: string; type: string; bytes: Uint8Array }>();
  readonly chats: ChatRecord[] = [];
  /** Calls to `/v1/bot/get_online_info`, for tests of the entry check. */
  onlineInfoCalls = 0;
  /** Chats refused because their conversation had a chat in progress (4016). */
  busyRefusals = 0;
  /** Workspaces, their bots list and the token's user (coze-api-bots.ts). */
  readonly workspaces = new SimWorkspaces(this);
  /** Speech, transcriptions and voices (`/v1/audio/…`): coze.com has them, Coze Studio (the studio dialect, or `audio.routes = false`) none. */
  readonly audio = new CozeAudioSimulator();
  private server: Server<unknown> | undefined;
  private readonly pending = new Set<Promise<void>>();
  private readonly images = new Map<string, Uint8Array>();

  constructor(options: { dialect?: ApiDialect } = {}) {
    this.dialect = options.dialect ?? "coze";
    this.audio.routes = this.dialect === "coze";
  }

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
    const bot: ApiBot = { id: nextId(), published, queue: [], behaviour: (prompt, history) => defaultApiScript("API", prompt, history) };
    this.bots.set(bot.id, bot);
    return bot;
  }

  addWorkflow(options: { published?: boolean; appId?: string } = {}): ApiWorkflow {
    const workflow: ApiWorkflow = { id: nextId(), published: options.published ?? true, appId: options.appId, queue: [], behaviour: (prompt, history) => defaultApiScript("Chatflow", prompt, history) };
    this.workflows.set(workflow.id, workflow);
    return workflow;
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (req.method === "GET" && (url.pathname.startsWith("/cdn/") || url.pathname.startsWith("/opencoze/"))) {
      const image = this.images.get(url.pathname.split("/")[2]);
      return image ? new Response(image, { headers: { "content-type": "image/png" } }) : new Response("not found", { status: 404 });
    }
    const token = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "")?.[1]?.trim();
    const account = token ? this.tokens.get(token) : undefined;
    if (!account) {
      // Coze answers a bad token with HTTP 401 and its envelope; Studio's auth middleware with HTTP 200 and its code.
      if (this.dialect === "coze") return this.error(COZE_CODES.auth, 401);
      return Response.json({ code: STUDIO.authFailed, msg: `authentication failed: ${token ? "api key invalid" : "missing authorization in header"}` });
    }
    // Workspaces are coze.com's: the simulator's Studio serves no bots list.
    const listed = this.dialect === "coze" ? this.workspaces.handle(req, url, account) : undefined;
    if (listed) return listed;
    if (url.pathname.startsWith("/v1/audio/")) return this.audio.handle(req, url, account, (error, status = 200, data) => (data === undefined ? this.error(error, status) : this.ok(data)));
    switch (`${req.method} ${url.pathname}`) {
      case "GET /v1/bot/get_online_info":
        return this.onlineInfo(url.searchParams.get("bot_id") ?? "");
      case "POST /v1/conversation/create": {
        const conversation = this.newConversation(account);
        return this.ok({ id: conversation.id, created_at: now(), meta_data: {}, last_section_id: nextId() });
      }
      case "POST /v1/files/upload": {
        const form = await req.formData().catch(() => undefined);
        const file = form?.get("file");
        if (!(file instanceof Blob)) return this.error(COZE_CODES.badParam);
        const id = nextId();
        const name = file instanceof File ? file.name : "file";
        this.files.set(id, { account, name, type: file.type, bytes: new Uint8Array(await file.arrayBuffer()) });
        return this.ok({ id, bytes: file.size, created_at: now(), file_name: name });
      }
      case "POST /v3/chat/cancel": {
        const body = (await req.json().catch(() => ({}))) as { conversation_id?: string; chat_id?: string };
        const record = this.chats.find((c) => c.chatId === body.chat_id && c.conversationId === body.conversation_id);
        if (!record) return this.error(COZE_CODES.badParam);
        record.cancelled = true;
        const conversation = this.conversations.get(record.conversationId);
        if (conversation?.busy === record.chatId) conversation.busy = undefined;
        return this.ok({ id: record.chatId, conversation_id: record.conversationId, status: "cancelled" });
      }
      case "POST /v3/chat":
        return this.chat(req, url, token!, account);
      case "POST /v1/workflows/chat":
        return workflowChat(this, req, token!, account);
      default:
        return this.error({ code: 4000, msg: `unknown path ${url.pathname}` }, 404);
    }
  }

  private onlineInfo(botId: string): Response {
    this.onlineInfoCalls++;
    const bot = this.bots.get(botId);
    if (this.dialect === "studio") {
      // Studio looks the bot up among those published to its API connector: one never published, or none at all, reads alike.
      if (!bot?.published) return Response.json({ code: STUDIO.agentInvalidParam, msg: notPublished(botId) });
      // Its handler renders the bot's info itself, not in the `{code, msg, data}` envelope.
      return Response.json({ bot_id: bot.id, name: `bot ${bot.id}`, description: "", icon_url: "", version: "1", bot_mode: 0 });
    }
    if (!bot) return this.error(COZE_CODES.botNotFound);
    if (!bot.published) return this.error(COZE_CODES.notPublished);
    return this.ok({ bot_id: bot.id, name: `bot ${bot.id}`, description: "", version: "1", create_time: 0, update_time: 0 });
  }

  /** @internal A conversation of `account`, new. */
  newConversation(account: string): Conversation {
    const conversation: Conversation = { id: nextId(), account, messages: [], busy: undefined };
    this.conversations.set(conversation.id, conversation);
    return conversation;
  }

  private async chat(req: Request, url: URL, token: string, account: string): Promise<Response> {
    const body = (await req.json().catch(() => undefined)) as
      | { bot_id?: unknown; user_id?: unknown; stream?: boolean; additional_messages?: StoredMessage[]; parameters?: unknown }
      | undefined;
    const studio = this.dialect === "studio";
    if (studio) {
      // Studio binds the body before anything else: what it cannot bind is an HTTP 400 in its `{code: 400, msg}`.
      const problem = studioBindProblem(body);
      if (problem) return Response.json({ code: 400, msg: problem }, { status: 400 });
    } else if (!body || typeof body.bot_id !== "string" || typeof body.user_id !== "string" || body.user_id === "") return this.error(COZE_CODES.badParam);
    const botId = String(body!.bot_id);
    const bot = this.bots.get(botId);
    // Studio writes its stream's headers first: every later refusal is an `error` event in a 200 stream.
    if (studio && !bot?.published) return this.errorStream(STUDIO.agentRunError, studioErrorText(STUDIO.agentInvalidParam, notPublished(botId), "service.(*singleAgentImpl).ObtainAgentByIdentity"));
    if (!bot) return this.error(COZE_CODES.botNotFound);
    if (!bot.published) return this.error(COZE_CODES.notPublished);
    const additional = body!.additional_messages ?? [];
    if (studio) {
      const problem = this.studioMessageProblem(additional, account);
      if (problem) return this.errorStream(STUDIO.agentRunError, problem);
    } else if (this.cozeMessageProblem(additional, account)) return this.error(COZE_CODES.badParam);
    const requested = url.searchParams.get("conversation_id");
    let conversation = requested ? this.conversations.get(requested) : undefined;
    if (requested && studio && conversation && conversation.account !== account) {
      return this.errorStream(STUDIO.agentRunError, studioErrorText(STUDIO.conversationPermission, "unauthorized access : user not match"));
    }
    // Studio starts a new conversation for an id it does not know; Coze refuses it.
    if (requested && !studio && (!conversation || conversation.account !== account)) return this.error({ code: 4200, msg: "conversation not found" });
    if (conversation?.busy && !studio) {
      this.busyRefusals++;
      return this.error(COZE_CODES.busy);
    }
    const script = bot.queue.shift() ?? bot.behaviour(lastUserText(additional), conversation?.messages ?? []);
    const continued = conversation !== undefined;
    conversation ??= this.newConversation(account);
    const record: ChatRecord = { token, botId: bot.id, userId: String(body!.user_id), stream: body!.stream === true, conversationId: conversation.id, continued, additional, chatId: nextId(), cancelled: false, answer: "" };
    return this.run(script, record, conversation, { route: "chat", botId: bot.id, signal: req.signal, sync: body!.stream === false });
  }

  /**
   * @internal Answers one chat: a refusal before any event, or its stream.
   * `sync`: the client asked `"stream": false`; Coze answers the chat object
   * at once and goes on in the background, Studio answers when it is done.
   */
  run(script: ApiScript, record: ChatRecord, conversation: Conversation, how: { route: "chat" | "workflow"; botId: string; signal: AbortSignal; sync?: boolean }): Response | Promise<Response> {
    if (script.refuse) {
      const headers: Record<string, string> = script.refuse.retryAfter ? { "retry-after": String(script.refuse.retryAfter) } : {};
      return this.error({ code: script.refuse.code, msg: script.refuse.msg }, script.refuse.status, headers);
    }
    this.chats.push(record);
    conversation.busy = record.chatId;
    const history = [...conversation.messages];
    conversation.messages.push(...record.additional);
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const signal = how.sync ? new AbortController().signal : how.signal;
    const plan = { dialect: this.dialect, route: how.route, record, conversation, botId: how.botId, history, signal, nextId, imageUrl: (prompt: string, host?: string) => this.image(prompt, host) };
    const running = writeChat(writable.getWriter(), script, plan).finally(() => {
      if (conversation.busy === record.chatId) conversation.busy = undefined;
      this.pending.delete(running);
    });
    this.pending.add(running);
    const contentType = this.dialect === "studio" && how.route === "workflow" ? "text/event-stream; charset=utf-8" : "text/event-stream";
    if (!how.sync) return new Response(readable, { headers: { "content-type": contentType, "cache-control": "no-cache" } });
    const drained = new Response(readable).text();
    const chat = (status: string) => ({ id: record.chatId, conversation_id: conversation.id, bot_id: how.botId, created_at: now(), status, ...(record.usage ? { usage: record.usage } : {}) });
    if (this.dialect === "coze") return this.ok(chat("in_progress"));
    return drained.then(() => this.ok(chat(record.answer ? "completed" : "failed")));
  }

  /** A 200 event stream holding one Studio `error` event: how Studio refuses once its stream's headers are out. */
  private errorStream(code: number, msg: string): Response {
    return new Response(`event:error\ndata:${JSON.stringify({ code, msg })}\n\n`, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  }

  /** @internal Coze's `{code, msg}` refusal: its envelope with a log id; Studio's bare `{code, msg}`. */
  error(error: { code: number; msg: string }, status = 200, headers: Record<string, string> = {}): Response {
    if (this.dialect === "studio") return Response.json({ code: error.code, msg: error.msg }, { status, headers });
    return Response.json({ code: error.code, msg: error.msg, detail: { logid: nextId() } }, { status, headers: { ...headers, "x-tt-logid": "sim" } });
  }

  private ok(data: unknown): Response {
    return this.dialect === "studio" ? Response.json({ code: 0, msg: "", data }) : Response.json({ code: 0, msg: "", data, detail: { logid: nextId() } }, { headers: { "x-tt-logid": "sim" } });
  }

  /** What coze.com refuses in `additional_messages` (4000): roles, contents, object_string items and their files. */
  private cozeMessageProblem(additional: StoredMessage[], account: string): boolean {
    if (additional.length > 100 || !additional.every((m) => (m.role === "user" || m.role === "assistant") && typeof m.content === "string")) return true;
    return additional.some((m) => {
      if (m.content_type !== "object_string") return false;
      const items = parseItems(m.content);
      return !items || items.filter((i) => i.type === "text").length > 1 || items.some((i) => i.type === "image" && !(i.file_id && this.files.get(i.file_id)?.account === account));
    });
  }

  /** What Studio refuses while it builds the run (its words, from openapi_agent_run.go), or undefined. */
  private studioMessageProblem(additional: StoredMessage[], account: string): string | undefined {
    for (const m of additional) {
      if (m.role !== "user" && m.role !== "assistant") return "additional message role only support user and assistant";
      if (m.type !== undefined && m.type !== "question" && m.type !== "answer") return "additional message type only support question and answer now";
      if (m.content_type !== "object_string") continue;
      if (m.type === "answer") return " answer messages only support text content";
      const unknown = parseItems(m.content)?.find((i) => (i.type === "image" || i.type === "file") && i.file_id && this.files.get(i.file_id)?.account !== account);
      if (unknown) return studioErrorText(4200, "record not found", "service.(*uploadSVC).GetFile");
    }
    return undefined;
  }

  private image(prompt: string, host?: string): string {
    const name = `${nextId()}.png`;
    this.images.set(name, promptPng(prompt));
    // Studio's answer images are presigned links on its object store (MinIO), another host than the API's.
    if (host) return `http://${host}/opencoze/${name}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=86400`;
    return `${this.url}/cdn/${name}`;
  }
}

const now = () => Math.floor(Date.now() / 1000);

const notPublished = (botId: string) => `invalid parameter : agent not published, agentID=${botId} connectorID=${STUDIO.apiConnector}`;

/** What Studio's binding of a `/v3/chat` body says is wrong with it: `bot_id` a string of digits, `user_id` set, `parameters` an object. */
function studioBindProblem(body: { bot_id?: unknown; user_id?: unknown; parameters?: unknown } | undefined): string | undefined {
  if (body === undefined || body === null || typeof body !== "object") return "unexpected end of JSON input";
  if (typeof body.parameters === "string") return "parameters field should be an object, not a string";
  if (body.bot_id === undefined) return "required field 'bot_id' is not set";
  if (typeof body.bot_id !== "string" || !/^\d+$/.test(body.bot_id)) return `json: invalid use of ,string struct tag, trying to unmarshal ${JSON.stringify(body.bot_id)} into int64`;
  if (body.bot_id === "0") return studioErrorText(STUDIO.conversationInvalidParam, "invalid parameter : bot id is required", "coze.checkParamsV3");
  if (typeof body.user_id !== "string") return "required field 'user_id' is not set";
  return undefined;
}
