import { log } from "../log.ts";
import { invalidRequest, modelNotFound } from "../openai/api-error.ts";
import type { ChatRequest } from "../openai/chat-request.ts";
import type { FinishReason } from "../openai/chat-response.ts";
import { shapeAnswer, type AnswerLimits } from "../relay/answer-limits.ts";
import { keyScope, planConversation, type ConversationPlan } from "../relay/conversation.ts";
import { loadImageInputs } from "../relay/image-input.ts";
import { beforeLinks, keepImages, rewriteLinks } from "../relay/images.ts";
import { planPrompt } from "../relay/prompt.ts";
import { relay, type RelayRequest, type RelayResult } from "../relay/relay.ts";
import { withImages } from "../relay/reply-text.ts";
import type { ConversationPlace } from "../store/store.ts";
import { publicBase, type AppContext, type RequestInfo } from "./context.ts";

/** Bytes a streaming client may leave unread before it is dropped. */
export const MAX_SSE_BACKLOG = 1024 * 1024;

/** One choice of the answer as the client gets it. */
export interface Choice {
  /** The prompt as Coze read it (for `usage`). */
  promptText: string;
  content: string;
  finishReason: FinishReason;
  place: ConversationPlace | undefined;
}

/**
 * What a chat-shaped request (chat completions, or the Responses API) needs
 * before it is relayed: where its conversation lives, the images it carries,
 * and how to build each choice's relay request. Shared, so that the two APIs
 * are two encodings of one path.
 */
export interface PreparedChat {
  conversation: ConversationPlan;
  requestFor: () => RelayRequest;
  base: string;
}

export async function prepareChat(
  req: Request,
  ctx: AppContext,
  info: RequestInfo,
  chat: Pick<ChatRequest, "model" | "messages" | "n">,
  named = conversationId(req),
): Promise<PreparedChat> {
  if (!ctx.pool.hasModel(chat.model)) throw modelNotFound(chat.model);
  const conversation = planConversation(keyScope(req.headers.get("authorization")), chat.messages, named);
  const files = await loadImageInputs(chat.messages, ctx.images, info.signal);
  // A remembered state is continued once (a regenerate or a retry of the same history branches into a new
  // thread); a conversation the client named stays its own. Several choices are branches each.
  const place =
    conversation.key === undefined || chat.n > 1 ? undefined : conversation.named ? ctx.store.find(conversation.key) : ctx.store.take(conversation.key);
  const requestFor = (): RelayRequest => ({
    model: chat.model,
    contents: (mention) => {
      const plan = planPrompt(chat.messages, mention);
      if (plan.dropped > 0) log.debug("prompt fitted to discord", { request: info.requestId, dropped_turns: plan.dropped });
      return plan;
    },
    newTurns: (mention) => planPrompt(conversation.newTurns, mention),
    place,
    threadName: conversation.threadName,
    files,
    wantImage: false,
    signal: info.signal,
    requestId: info.requestId,
    receivedAt: info.receivedAt,
  });
  return { conversation, requestFor, base: publicBase(ctx, req) };
}

/**
 * One choice through the relay: the reply, its images kept, the client's
 * limits applied, the conversation remembered. `onText` gets the text the
 * client may see so far, each time it grows.
 */
export async function runChoice(
  ctx: AppContext,
  prepared: PreparedChat,
  limits: AnswerLimits,
  signal: AbortSignal,
  onText?: (visible: string) => void,
): Promise<Choice> {
  const request = { ...prepared.requestFor(), signal };
  if (onText) {
    // Image links wait for the end of the reply, when their images are kept and the links rewritten;
    // a tail that may yet become a stop sequence waits for more text.
    request.onText = (text) => onText(shapeAnswer(beforeLinks(text), limits, false).text);
  }
  const result = await relay(ctx, request);
  const shaped = shapeAnswer(await finalContent(ctx, result, prepared.base, signal), limits, true);
  remember(ctx, prepared.conversation, result.place, shaped.text);
  return { content: shaped.text, finishReason: shaped.finish ?? result.finishReason, place: result.place, promptText: result.promptText };
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
