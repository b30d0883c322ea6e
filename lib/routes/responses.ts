import { DeferredSse } from "../http/deferred-sse.ts";
import { ApiError, toApiError } from "../openai/api-error.ts";
import { nameToolResults, type ChatMessage } from "../openai/chat-request.ts";
import { parseResponsesRequest, type ResponsesRequest } from "../openai/responses-request.ts";
import { ResponseEvents, responseIdentity, responseObject, type ResponseAnswer, type ResponseIdentity } from "../openai/responses-response.ts";
import { sseEvent } from "../openai/sse.ts";
import { renderToolCalls } from "../openai/tools.ts";
import { usage } from "../openai/usage.ts";
import type { AnswerLimits } from "../relay/answer-limits.ts";
import { keyScope } from "../relay/conversation.ts";
import { DeltaTracker } from "../relay/delta.ts";
import { MAX_SSE_BACKLOG, prepareChat, runChoice, type Choice, type PreparedChat } from "./chat-relay.ts";
import type { AppContext, RequestInfo, RouteHandler } from "./context.ts";

/**
 * `POST /v1/responses`: the Responses API (the AI SDK's default provider,
 * LangChain's useResponsesApi) on the same relay as chat completions.
 * `previous_response_id` continues that response's conversation: the service
 * keeps each response's messages, so the request's history is that plus its
 * new input, and the conversation goes on in its thread (README,
 * "Conversations and threads").
 */
export const createResponse: RouteHandler = async (req, ctx, info) => {
  const request = parseResponsesRequest(info.body);
  const scope = keyScope(req.headers.get("authorization"));
  const messages = await withPrevious(ctx, scope, request);
  nameToolResults(messages);
  const prepared = await prepareChat(req, ctx, info, { model: request.model, messages, n: 1, rules: request.rules, cozeParameters: request.cozeParameters }, undefined);
  const limits: AnswerLimits = { stop: [], maxTokens: request.maxOutputTokens };
  const who = responseIdentity(request.model, request.instructions, request.previousResponseId);
  const done = async (choice: Choice): Promise<Finished> => {
    const text = choice.toolCalls ? renderToolCalls(choice.toolCalls) : choice.content;
    await ctx.conversations.rememberResponse(who.id, scope, [...messages, { role: "assistant", text, images: [], ...(choice.toolCalls ? { toolCalls: choice.toolCalls } : {}) }]);
    return {
      status: choice.finishReason === "length" ? "incomplete" : "completed",
      answer: choice.toolCalls ? { calls: choice.toolCalls } : { text: choice.content },
      spent: choice.usage ?? usage(choice.promptText, text),
    };
  };
  if (request.stream) return streamResponse(ctx, info, prepared, limits, who, done);
  const choice = await runChoice(ctx, prepared, limits, info.signal);
  info.end();
  const { status, answer, spent } = await done(choice);
  return Response.json(responseObject(who, status, answer, spent));
};

interface Finished {
  status: "completed" | "incomplete";
  answer: ResponseAnswer;
  spent: ReturnType<typeof usage>;
}

/** The request's messages: the previous response's conversation (without its instructions), then this request's. */
async function withPrevious(ctx: AppContext, scope: string, request: ResponsesRequest): Promise<ChatMessage[]> {
  if (!request.previousResponseId) return request.input;
  const previous = await ctx.conversations.response(request.previousResponseId, scope);
  if (!previous) {
    throw new ApiError(404, `Previous response with id '${request.previousResponseId}' not found.`, "invalid_request_error", "previous_response_not_found", "previous_response_id");
  }
  const instructions = request.input.filter((m) => m.role === "system");
  const input = request.input.filter((m) => m.role !== "system");
  return [...instructions, ...previous.filter((m) => m.role !== "system"), ...input];
}

function streamResponse(
  ctx: AppContext,
  info: RequestInfo,
  prepared: PreparedChat,
  limits: AnswerLimits,
  who: ResponseIdentity,
  done: (choice: Choice) => Promise<Finished>,
): Promise<Response> {
  const events = new ResponseEvents(who);
  const sse = new DeferredSse({
    keepaliveMs: ctx.settings.keepaliveMs,
    firstKeepaliveMs: ctx.settings.replyQuietMs + 5000,
    maxBacklogBytes: MAX_SSE_BACKLOG,
    signal: info.signal,
    opening: () => events.created().map(sseEvent),
    onClose: info.end,
  });
  // The message item opens with its first text: until then the answer may still be function calls.
  let opened = false;
  const sendText = (piece: string) => {
    if (!opened) for (const event of events.opened()) sse.send(sseEvent(event));
    opened = true;
    if (piece !== "") sse.send(sseEvent(events.delta(piece)));
  };
  const delta = new DeltaTracker();
  runChoice(ctx, prepared, limits, sse.signal, (visible) => {
    const piece = delta.next(visible);
    if (piece !== "") sendText(piece);
    return delta.sent !== "";
  })
    .then(async (choice) => {
      const { status, answer, spent } = await done(choice);
      if ("calls" in answer) {
        for (const event of events.called(answer.calls, spent)) sse.send(sseEvent(event));
      } else {
        sendText(delta.next(choice.content));
        for (const event of events.finished(delta.sent, status, spent)) sse.send(sseEvent(event));
      }
      sse.close();
    })
    .catch((error) => {
      const apiError = toApiError(error);
      sse.fail(apiError, () => [
        ...events.failed(apiError).map(sseEvent),
        sseEvent({ type: "error", code: apiError.code, message: apiError.message, param: apiError.param, sequence_number: 0 } as { type: string }),
      ]);
    });
  return sse.response;
}
