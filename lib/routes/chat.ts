import { DeferredSse } from "../http/deferred-sse.ts";
import { log } from "../log.ts";
import { invalidRequest, modelNotFound, toApiError } from "../openai/api-error.ts";
import { parseChatRequest, type ChatRequest } from "../openai/chat-request.ts";
import { chatChunk, chatCompletion, completionIdentity, usageChunk, type FinishReason } from "../openai/chat-response.ts";
import { SSE_DONE, sseData } from "../openai/sse.ts";
import { usage } from "../openai/usage.ts";
import { shapeAnswer, type AnswerLimits } from "../relay/answer-limits.ts";
import { keyScope, planConversation, type ConversationPlan } from "../relay/conversation.ts";
import { DeltaTracker } from "../relay/delta.ts";
import { loadImageInputs } from "../relay/image-input.ts";
import { beforeLinks, keepImages, rewriteLinks } from "../relay/images.ts";
import { planPrompt } from "../relay/prompt.ts";
import { relay, type RelayRequest, type RelayResult } from "../relay/relay.ts";
import { withImages } from "../relay/reply-text.ts";
import type { ConversationPlace } from "../store/store.ts";
import { publicBase, type AppContext, type RequestInfo, type RouteHandler } from "./context.ts";

/** Bytes a streaming client may leave unread before it is dropped. */
const MAX_SSE_BACKLOG = 1024 * 1024;

/** One choice of the answer as the client gets it. */
interface Choice {
  content: string;
  finishReason: FinishReason;
  place: ConversationPlace | undefined;
}

/** `POST /v1/chat/completions`, whole or streamed, with `n` choices. */
export const chatCompletions: RouteHandler = async (req, ctx, info) => {
  const chat = parseChatRequest(info.body);
  if (!ctx.pool.hasModel(chat.model)) throw modelNotFound(chat.model);
  const conversation = planConversation(keyScope(req.headers.get("authorization")), chat.messages, conversationId(req));
  const files = await loadImageInputs(chat.messages, ctx.images, info.signal);
  // A remembered state is continued once (a regenerate or a retry of the same history branches into a new
  // thread); a conversation the client named stays its own. Several choices are branches each.
  const place =
    conversation.key === undefined || chat.n > 1 ? undefined : conversation.named ? ctx.store.find(conversation.key) : ctx.store.take(conversation.key);
  let promptText = "";
  const requestFor = (): RelayRequest => ({
    model: chat.model,
    contents: (mention) => {
      const plan = planPrompt(chat.messages, mention);
      if (plan.dropped > 0) log.debug("prompt fitted to discord", { request: info.requestId, dropped_turns: plan.dropped });
      promptText = plan.text;
      return plan.contents;
    },
    newTurns: (mention) => {
      const plan = planPrompt(conversation.newTurns, mention);
      promptText = plan.text;
      return plan.contents;
    },
    place,
    threadName: conversation.threadName,
    files,
    wantImage: false,
    signal: info.signal,
    requestId: info.requestId,
    receivedAt: info.receivedAt,
  });
  const limits: AnswerLimits = { stop: chat.stop, maxTokens: chat.maxTokens };
  const base = publicBase(ctx, req);
  if (chat.stream) return streamChat(chat, requestFor, limits, ctx, info, () => promptText, conversation, base);

  const choices = await Promise.all(
    Array.from({ length: chat.n }, async (): Promise<Choice> => {
      const result = await relay(ctx, requestFor());
      const shaped = shapeAnswer(await finalContent(ctx, result, base, info.signal), limits, true);
      return { content: shaped.text, finishReason: shaped.finish ?? result.finishReason, place: result.place };
    }),
  );
  info.end();
  for (const choice of choices) remember(ctx, conversation, choice.place, choice.content);
  const who = completionIdentity(chat.model);
  return Response.json(chatCompletion(who, choices, usage(promptText, choices.map((c) => c.content).join(""))));
};

/**
 * The SSE answer: one chunk per change of a reply, carrying only the new
 * text, with its choice's index; each choice ends with its finish_reason,
 * the stream with `[DONE]` once every choice has.
 */
function streamChat(
  chat: ChatRequest,
  requestFor: () => RelayRequest,
  limits: AnswerLimits,
  ctx: AppContext,
  info: RequestInfo,
  promptText: () => string,
  conversation: ConversationPlan,
  base: string,
): Promise<Response> {
  const who = completionIdentity(chat.model);
  const sse = new DeferredSse({
    keepaliveMs: ctx.settings.keepaliveMs,
    maxBacklogBytes: MAX_SSE_BACKLOG,
    signal: info.signal,
    opening: () => Array.from({ length: chat.n }, (_, index) => sseData(chatChunk(who, { role: "assistant", content: "" }, null, index))),
    onClose: info.end,
  });
  // One choice failing ends the others: the stream ends with the error.
  const failed = new AbortController();
  const signal = AbortSignal.any([sse.signal, failed.signal]);
  const sent: string[] = [];
  const streams = Array.from({ length: chat.n }, async (_, index) => {
    const delta = new DeltaTracker();
    const request = { ...requestFor(), signal };
    request.onText = (text) => {
      // Image links wait for the end of the reply, when their images are kept and the links rewritten;
      // a tail that may yet become a stop sequence waits for more text.
      const piece = delta.next(shapeAnswer(beforeLinks(text), limits, false).text);
      if (piece !== "") sse.data(chatChunk(who, { content: piece }, null, index));
    };
    const result: RelayResult = await relay(ctx, request);
    const shaped = shapeAnswer(await finalContent(ctx, result, base, signal), limits, true);
    const piece = delta.next(shaped.text);
    if (delta.rewrites > 0) log.debug("coze rewrote its reply; only text that extended what was sent went out", { request: info.requestId, rewrites: delta.rewrites });
    sse.data(chatChunk(who, piece === "" ? {} : { content: piece }, shaped.finish ?? result.finishReason, index));
    sent[index] = delta.sent;
    remember(ctx, conversation, result.place, delta.sent);
  });
  Promise.all(streams).then(
    () => {
      if (chat.includeUsage) sse.data(usageChunk(who, usage(promptText(), sent.join(""))));
      sse.send(SSE_DONE);
      sse.close();
    },
    (error) => {
      failed.abort(error);
      sse.fail(toApiError(error));
    },
  );
  return sse.response;
}

/**
 * The answer as the client gets it: Coze's text with the reply's images, each
 * stored by the service and linked from its own URL (Discord's links expire
 * in about a day); a link the download rules refuse stays as it was.
 */
async function finalContent(ctx: AppContext, result: RelayResult, base: string, signal: AbortSignal): Promise<string> {
  const content = withImages(result.text, result.images);
  if (result.images.length === 0) return content;
  return rewriteLinks(content, await keepImages(result.images, ctx.images, ctx.store.images, base, signal));
}

/** `X-Conversation-Id`: a client's own name for its conversation (any string up to 200 characters). */
function conversationId(req: Request): string | undefined {
  const id = req.headers.get("x-conversation-id")?.trim();
  if (!id) return undefined;
  if (id.length > 200) throw invalidRequest("'X-Conversation-Id' must be at most 200 characters.", "X-Conversation-Id");
  return id;
}

/** Remembers where the conversation now lives, under the state Coze has seen: the client's history and this answer. */
function remember(ctx: AppContext, conversation: ConversationPlan, place: ConversationPlace | undefined, answer: string): void {
  if (!place) return;
  for (const key of conversation.rememberKeys(answer)) ctx.store.remember(key, place);
}
