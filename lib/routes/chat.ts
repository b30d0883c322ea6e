import { modelNotFound, toApiError } from "../openai/api-error.ts";
import { readJsonBody } from "../http/json-body.ts";
import { log } from "../log.ts";
import { chatChunk, chatCompletion, completionIdentity, usageChunk } from "../openai/chat-response.ts";
import { parseChatRequest, type ChatRequest } from "../openai/chat-request.ts";
import { SSE_DONE, SSE_HEADERS, SSE_KEEPALIVE, sseData } from "../openai/sse.ts";
import { usage } from "../openai/usage.ts";
import { DeltaTracker } from "../relay/delta.ts";
import { loadImageInputs } from "../relay/image-input.ts";
import { planPrompt } from "../relay/prompt.ts";
import { relay, type RelayRequest } from "../relay/relay.ts";
import type { OutgoingFile } from "../discord/pool.ts";
import { withImages } from "../relay/reply-text.ts";
import type { AppContext, RequestInfo, RouteHandler } from "./context.ts";

/** `POST /v1/chat/completions`, whole or streamed. */
export const chatCompletions: RouteHandler = async (req, ctx, info) => {
  const chat = parseChatRequest(await readJsonBody(req, ctx.settings.maxBodyBytes));
  if (!ctx.pool.hasModel(chat.model)) throw modelNotFound(chat.model);
  const work = ctx.inFlight.begin(info.signal);
  try {
    const files = await loadImageInputs(chat.messages, work.signal);
    return await answer(chat, files, ctx, { ...info, signal: work.signal }, work.end);
  } catch (error) {
    work.end();
    throw error;
  }
};

/** Relays the chat; `end` is called once the request is over, which for a stream is after its last event. */
async function answer(chat: ChatRequest, files: OutgoingFile[], ctx: AppContext, info: RequestInfo, end: () => void): Promise<Response> {
  let promptText = "";
  const request: RelayRequest = {
    model: chat.model,
    contents: (mention) => {
      const plan = planPrompt(chat.messages, mention);
      if (plan.dropped > 0) log.debug("prompt fitted to discord", { request: info.requestId, dropped_turns: plan.dropped });
      promptText = plan.text;
      return plan.contents;
    },
    files,
    wantImage: false,
    signal: info.signal,
    requestId: info.requestId,
  };
  if (chat.stream) return streamChat(chat, request, ctx, info, () => promptText, end);

  const result = await relay(ctx, request);
  end();
  const content = withImages(result.text, result.images);
  const who = completionIdentity(chat.model);
  return Response.json(chatCompletion(who, content, result.finishReason, usage(promptText, content)));
}

/**
 * The SSE answer. Headers wait for the first reply text (or the first
 * keepalive), so an error that comes before anything else, a 429 or a 504
 * say, is still a plain HTTP error with its status; after that, errors are
 * `data: {"error":…}` events.
 */
function streamChat(
  chat: ChatRequest,
  request: RelayRequest,
  ctx: AppContext,
  info: RequestInfo,
  promptText: () => string,
  end: () => void,
): Promise<Response> {
  const { promise, resolve } = Promise.withResolvers<Response>();
  const who = completionIdentity(chat.model);
  const delta = new DeltaTracker();
  const abort = new AbortController();
  const signal = AbortSignal.any([info.signal, abort.signal]);
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let closed = false;

  const send = (bytes: Uint8Array) => {
    if (closed) return;
    if (!controller) open();
    controller!.enqueue(bytes);
  };
  const open = () => {
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
      cancel: () => {
        closed = true;
        abort.abort();
      },
    });
    controller!.enqueue(sseData(chatChunk(who, { role: "assistant", content: "" })));
    resolve(new Response(body, { headers: SSE_HEADERS }));
  };
  const close = () => {
    clearInterval(keepalive);
    end();
    if (closed) return;
    closed = true;
    controller?.close();
  };
  const keepalive = setInterval(() => send(SSE_KEEPALIVE), ctx.settings.keepaliveMs);

  request.signal = signal;
  request.onText = (text) => {
    const piece = delta.next(text);
    if (piece !== "") send(sseData(chatChunk(who, { content: piece })));
  };
  relay(ctx, request).then(
    (result) => {
      const content = withImages(result.text, result.images);
      const piece = delta.next(content);
      if (delta.rewrites > 0) log.debug("coze rewrote its reply; only text that extended what was sent went out", { request: info.requestId, rewrites: delta.rewrites });
      send(sseData(chatChunk(who, piece === "" ? {} : { content: piece }, result.finishReason)));
      if (chat.includeUsage) send(sseData(usageChunk(who, usage(promptText(), delta.sent))));
      send(SSE_DONE);
      close();
    },
    (error) => {
      const apiError = toApiError(error);
      if (controller) send(sseData(apiError.toJSON()));
      else resolve(apiError.response());
      close();
    },
  );
  return promise;
}
