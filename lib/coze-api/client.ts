import { isChatflow, type ApiEntry } from "../config/bots.ts";
import { errorText } from "../error-text.ts";
import { log } from "../log.ts";
import { MultipartBody } from "../multipart-body.ts";
import type { InputFile } from "../pool/seam.ts";
import { readLimited } from "../read-limited.ts";
import { Turns } from "../turns.ts";
import { CozeApiFailure, entryProblem, failureKind, firstLine } from "./failure.ts";
import type { CozeMessage } from "./messages.ts";
import { CozeStreamParser, type CozeStreamEvent } from "./stream.ts";

export type ApiLinkState = "connecting" | "ready" | "down";

export interface ApiClientOptions {
  proxyUrl?: string;
}

/** How long a down entry waits before it checks its token and bot again (a user may fix them in Coze meanwhile). */
const RECHECK_MS = 60_000;
/** Longest JSON answer read from Coze (an error envelope, an upload's result). */
const MAX_JSON_BYTES = 1024 * 1024;
/** Wait after a busy answer without `retry-after`. */
const BUSY_WAIT_MS = 1_000;

/**
 * One `bot.json` entry's way into Coze's official chat API, with
 * `fetch`: its token and bot checked at start (and again while down), chats
 * streamed, files uploaded, chats cancelled. States mirror a Discord
 * connection's so the pool treats both alike.
 */
export class CozeApiClient {
  state: ApiLinkState = "connecting";
  problem: string | undefined;
  private recheck: Timer | undefined;
  private closed = false;
  /** Chats in one conversation take turns: Coze refuses a second one while the first runs (4016). */
  private readonly turns = new Turns<string>();

  constructor(
    readonly entry: ApiEntry,
    private readonly options: ApiClientOptions = {},
  ) {}

  get usable(): boolean {
    return this.state === "ready";
  }

  /**
   * Checks the token and that the bot is published to the API (`GET
   * /v1/bot/get_online_info`). A chatflow has no such look-up: its first
   * chat (or `check`) tells.
   */
  async connect(): Promise<void> {
    if (isChatflow(this.entry)) {
      this.state = "ready";
      return;
    }
    try {
      const response = await this.request(`/v1/bot/get_online_info?bot_id=${encodeURIComponent(this.entry.bot_id!)}`, { method: "GET" });
      const body = await this.envelope(response);
      // Coze Studio renders a published bot's info bare, without the `{code, msg, data}` envelope.
      if (response.ok && (body.code === 0 || (body.code === undefined && body.raw?.bot_id !== undefined))) {
        if (this.state !== "ready") log.info("coze api entry ready", { entry: this.entry.index, model: this.entry.model });
        this.state = "ready";
        this.problem = undefined;
        return;
      }
      const kind = failureKind(body.code, response.status, body.msg);
      if (kind === "entry" || kind === "gone") return this.markDown(entryProblem(body.code, body.msg));
      this.problem = `Coze's API answered ${body.code ?? response.status}: ${body.msg}`;
    } catch (error) {
      this.problem = `Coze's API could not be reached: ${errorText(error)}`;
    }
    // Coze could not say yes or no (busy, unreachable): the entry is tried anyway, and checked again later.
    this.state = "ready";
    log.warn("coze api entry could not be checked; serving anyway", { entry: this.entry.index, problem: this.problem });
  }

  /** The token or bot was refused: the entry is down, with words the user can act on, until a later check passes. */
  markDown(problem: string): void {
    if (this.state !== "down") log.error("coze api entry is down", { entry: this.entry.index, model: this.entry.model, problem });
    this.state = "down";
    this.problem = problem;
    clearTimeout(this.recheck);
    if (!this.closed) this.recheck = setTimeout(() => void this.connect(), RECHECK_MS);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.recheck);
  }

  /**
   * Starts a chat (a bot's `/v3/chat`, a chatflow's `/v1/workflows/chat`)
   * and hands each event of its stream to `onEvent`, which
   * returns true when it has heard enough (the stream is let go then). A busy
   * or rate-limited answer before the stream is waited out (its
   * `retry-after`, else a second) while `deadline` allows; any other refusal
   * throws a CozeApiFailure, and so does whatever `onEvent` throws.
   *
   * A callback, not an async generator: every event would otherwise cost a
   * few promise round trips, and at ten events a chat that was a tenth of the
   * service's time per request.
   */
  async chat(
    body: { user_id: string; additional_messages: CozeMessage[]; parameters?: Record<string, unknown> },
    conversationId: string | undefined,
    limits: { deadline: number; signal: AbortSignal },
    onEvent: (event: CozeStreamEvent) => boolean,
  ): Promise<void> {
    const { path, payload } = this.chatCall(body, conversationId);
    let response: Response;
    for (;;) {
      response = await this.request(path, { method: "POST", body: payload, headers: { "content-type": "application/json" }, signal: limits.signal });
      if (response.ok && !(response.headers.get("content-type") ?? "").includes("application/json")) break;
      const envelope = await this.envelope(response);
      if (response.ok && envelope.code === 0) throw new CozeApiFailure("other", undefined, "Coze answered a streamed chat with JSON and no error");
      if (response.ok && envelope.empty) {
        // Coze Studio writes its stream's headers before it runs a chatflow: what it refuses then is lost, and the body stays empty.
        throw new CozeApiFailure("other", undefined, "Coze answered the chat with an empty body, as Coze Studio does when it refuses to run a chatflow: check workflow_id, that the chatflow is published, and its app_id or bot_id");
      }
      const kind = failureKind(envelope.code, response.status, envelope.msg);
      const wait = retryAfterMs(response) ?? BUSY_WAIT_MS;
      if (kind === "busy" && Date.now() + wait < limits.deadline) {
        await Bun.sleep(wait);
        limits.signal.throwIfAborted();
        continue;
      }
      throw new CozeApiFailure(kind, envelope.code, envelope.msg, kind === "busy" ? wait : undefined);
    }
    const parser = new CozeStreamParser();
    const decoder = new TextDecoder();
    const reader = response.body!.getReader();
    let ended = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if ((ended = done)) break;
        for (const event of parser.push(decoder.decode(value, { stream: true }))) if (onEvent(event)) return;
      }
      for (const event of parser.end()) if (onEvent(event)) return;
    } finally {
      // A reader that stops early (the answer is done, or given up on) lets go of the connection.
      if (!ended) reader.cancel().catch(() => {});
    }
  }

  /**
   * The call that starts a chat. A bot: `/v3/chat`, the conversation in the
   * query. A chatflow: `/v1/workflows/chat` with its parameters (the entry's,
   * the request's over them, but never the request's CONVERSATION_NAME); a
   * new conversation gets a name of its own in `CONVERSATION_NAME`, which Coze Studio needs to start one (it keeps
   * chatflow conversations by name) and coze.com takes as any parameter.
   * `"stream": true` always: a Studio answers a request without it as a
   * stream, and older Studio builds stream even when told not to.
   */
  private chatCall(body: { user_id: string; additional_messages: CozeMessage[]; parameters?: Record<string, unknown> }, conversationId: string | undefined): { path: string; payload: string } {
    const entry = this.entry;
    if (!isChatflow(entry)) {
      const query = conversationId ? `?conversation_id=${encodeURIComponent(conversationId)}` : "";
      const { parameters: _, ...rest } = body;
      return { path: `/v3/chat${query}`, payload: JSON.stringify({ bot_id: entry.bot_id, stream: true, auto_save_history: true, ...rest }) };
    }
    // A client's CONVERSATION_NAME is dropped: on Studio the name picks the conversation a chatflow runs in,
    // and a name of another key's conversation would join it. The service alone names conversations.
    const { CONVERSATION_NAME: _name, ...asked } = body.parameters ?? {};
    const parameters = { ...entry.parameters, ...asked, ...(conversationId ? {} : { CONVERSATION_NAME: `coze-chat-proxy-${crypto.randomUUID()}` }) };
    const payload = {
      workflow_id: entry.workflow_id,
      stream: true,
      additional_messages: body.additional_messages,
      parameters,
      ...(conversationId ? { conversation_id: conversationId } : {}),
      ...(entry.bot_id ? { bot_id: entry.bot_id } : {}),
      ...(entry.app_id ? { app_id: entry.app_id } : {}),
      ext: { user_id: body.user_id },
    };
    return { path: "/v1/workflows/chat", payload: JSON.stringify(payload) };
  }

  /**
   * Runs `chat` once the conversation's previous chat has ended: two requests
   * continuing one conversation (a client's own X-Conversation-Id) take
   * turns instead of meeting Coze's 4016.
   */
  inTurn<T>(conversationId: string | undefined, signal: AbortSignal, chat: () => Promise<T>): Promise<T> {
    // Not async: its caller awaits it, and a new conversation's chat needs no promise of its own around it.
    return conversationId === undefined ? chat() : this.turns.run(conversationId, signal, chat);
  }

  /** Uploads a file with the entry's token (`POST /v1/files/upload`, field `file`); its id. */
  async upload(file: InputFile, signal: AbortSignal): Promise<string> {
    // Streamed from the image's own bytes with its length, like Discord's uploads (multipart-body.ts).
    const form = new MultipartBody([], [{ field: "file", ...file }]);
    const headers = { "content-type": form.contentType, "content-length": String(form.size) };
    const response = await this.request("/v1/files/upload", { method: "POST", body: form as never, headers, signal });
    const body = await this.envelope(response);
    if (!response.ok || body.code !== 0 || typeof body.data?.id !== "string") throw new CozeApiFailure(failureKind(body.code, response.status, body.msg), body.code, body.msg);
    return body.data.id;
  }

  /** Cancels a chat the service gave up on, so that its conversation never stays busy (Coze's 4016). Best effort: never throws. */
  cancel(conversationId: string, chatId: string): Promise<void> {
    return this.request("/v3/chat/cancel", {
      method: "POST",
      body: JSON.stringify({ conversation_id: conversationId, chat_id: chatId }),
      headers: { "content-type": "application/json" },
      signal: AbortSignal.timeout(10_000),
    })
      .then((r) => r.body?.cancel())
      .catch((error) => log.debug("cancelling a coze chat failed", { entry: this.entry.index, error: errorText(error) }));
  }

  private request(path: string, init: RequestInit): Promise<Response> {
    return fetch(`${this.entry.api_base}${path}`, {
      ...init,
      proxy: this.options.proxyUrl,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.entry.coze_api_token}` },
    });
  }

  /** Coze's JSON envelope `{code, msg, data}` (and the whole body, `raw`); an answer that is not one reads as its HTTP status. */
  private async envelope(response: Response): Promise<{ code: number | undefined; msg: string; data?: any; raw?: any; empty?: boolean }> {
    const text = new TextDecoder().decode(await readLimited(response, MAX_JSON_BYTES, () => new Error("too large")).catch(() => new Uint8Array()));
    try {
      const body = JSON.parse(text);
      return { code: typeof body.code === "number" ? body.code : undefined, msg: firstLine(String(body.msg ?? `HTTP ${response.status}`)).slice(0, 300), data: body.data, raw: body };
    } catch {
      return { code: undefined, msg: `HTTP ${response.status}`, empty: text.trim() === "" };
    }
  }
}

function retryAfterMs(response: Response): number | undefined {
  const seconds = Number(response.headers.get("retry-after"));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}
