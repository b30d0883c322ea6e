import { abortWhen } from "../abort-link.ts";
import { DeferredSse } from "../http/deferred-sse.ts";
import { log } from "../log.ts";
import { toApiError } from "../openai/api-error.ts";
import { parseChatRequest, type ChatRequest } from "../openai/chat-request.ts";
import { chatChunk, chatCompletion, completionIdentity, toolCallDeltas, usageChunk } from "../openai/chat-response.ts";
import { renderToolCalls } from "../openai/tools.ts";
import { SSE_DONE, sseData } from "../openai/sse.ts";
import { usage } from "../openai/usage.ts";
import type { AnswerLimits } from "../relay/answer-limits.ts";
import { DeltaTracker } from "../relay/delta.ts";
import { MAX_SSE_BACKLOG, prepareChat, runChoice, spentOn, type Choice, type PreparedChat } from "./chat-relay.ts";
import type { AppContext, RequestInfo, RouteHandler } from "./context.ts";

/** `POST /v1/chat/completions`, whole or streamed, with `n` choices. */
export const chatCompletions: RouteHandler = async (req, ctx, info) => {
  const chat = parseChatRequest(info.body);
  const prepared = await prepareChat(req, ctx, info, chat);
  const limits: AnswerLimits = { stop: chat.stop, maxTokens: chat.maxTokens };
  if (chat.stream) return streamChat(chat, prepared, limits, ctx, info);

  // One choice, as nearly every request asks: awaited alone, without an array of promises to gather.
  const choices = chat.n === 1 ? [await runChoice(ctx, prepared, limits, info.signal)] : await Promise.all(Array.from({ length: chat.n }, () => runChoice(ctx, prepared, limits, info.signal)));
  info.end();
  const who = completionIdentity(chat.model);
  return Response.json(chatCompletion(who, choices, spentOn(choices, () => usage(choices[0].promptText, choices.map(answerText).join("")))));
};

/**
 * The SSE answer: one chunk per change of a reply, carrying only the new
 * text, with its choice's index; each choice ends with its finish_reason,
 * the stream with `[DONE]` once every choice has.
 */
function streamChat(chat: ChatRequest, prepared: PreparedChat, limits: AnswerLimits, ctx: AppContext, info: RequestInfo): Promise<Response> {
  const who = completionIdentity(chat.model);
  const sse = new DeferredSse({
    keepaliveMs: ctx.settings.keepaliveMs,
    // Nothing goes out before the first text is known to be an answer, or REPLY_QUIET + 5 s: an early failure keeps its status.
    firstKeepaliveMs: ctx.settings.replyQuietMs + 5000,
    maxBacklogBytes: MAX_SSE_BACKLOG,
    signal: info.signal,
    opening: () => Array.from({ length: chat.n }, (_, index) => sseData(chatChunk(who, { role: "assistant", content: "" }, null, index))),
    onClose: info.end,
  });
  // One choice failing ends the others: the stream ends with the error.
  const failed = new AbortController();
  abortWhen(sse.signal, failed);
  const signal = failed.signal;
  const sent: string[] = [];
  const done: Choice[] = [];
  let promptText = "";
  const streams = Array.from({ length: chat.n }, async (_, index) => {
    const delta = new DeltaTracker();
    const thinking = new DeltaTracker();
    const choice = await runChoice(
      ctx,
      prepared,
      limits,
      signal,
      (visible) => {
        const piece = delta.next(visible);
        if (piece !== "") sse.data(chatChunk(who, { content: piece }, null, index));
        return delta.sent !== "";
      },
      (reasoning) => {
        const piece = thinking.next(reasoning);
        if (piece !== "") sse.data(chatChunk(who, { reasoning_content: piece }, null, index));
      },
    );
    const thought = thinking.next(choice.reasoning ?? "");
    if (thought !== "") sse.data(chatChunk(who, { reasoning_content: thought }, null, index));
    if (choice.toolCalls) {
      sse.data(chatChunk(who, toolCallDeltas(choice.toolCalls), null, index));
      sse.data(chatChunk(who, {}, choice.finishReason, index));
      sent[index] = answerText(choice);
      promptText = choice.promptText;
      done[index] = choice;
      return;
    }
    const piece = delta.next(choice.content);
    if (delta.rewrites > 0) log.debug("coze rewrote its reply; only text that extended what was sent went out", { request: info.requestId, rewrites: delta.rewrites });
    sse.data(chatChunk(who, piece === "" ? {} : { content: piece }, choice.finishReason, index));
    sent[index] = delta.sent;
    promptText = choice.promptText;
    done[index] = choice;
  });
  Promise.all(streams).then(
    () => {
      if (chat.includeUsage) sse.data(usageChunk(who, spentOn(done, () => usage(promptText, sent.join("")))));
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

/** What a choice spent in completion tokens: its text, or its calls as Coze wrote them. */
const answerText = (choice: Choice) => (choice.toolCalls ? renderToolCalls(choice.toolCalls) : choice.content);
