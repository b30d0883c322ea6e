import { log } from "../log.ts";
import { answerInstruction, holdsBack, judgeAnswer, type AnswerRules } from "../openai/answer-rules.ts";
import { invalidRequest, modelNotFound, upstreamError } from "../openai/api-error.ts";
import type { ChatMessage, ChatRequest } from "../openai/chat-request.ts";
import type { FinishReason } from "../openai/chat-response.ts";
import { renderToolCalls, type ToolCall } from "../openai/tools.ts";
import type { Usage } from "../openai/usage.ts";
import { shapeAnswer, type AnswerLimits } from "../relay/answer-limits.ts";
import { beforeLinks, withImages } from "../markdown-images.ts";
import type { Answer, ConversationPlace, RelayRequest } from "../pool/seam.ts";
import { keyScope, planConversation, type ConversationPlan } from "../relay/conversation.ts";
import { loadImageInputs } from "../images/input.ts";
import { keepImages, rewriteLinks } from "../images/policy.ts";
import { relay } from "../relay/relay.ts";
import { publicBase, type AppContext, type RequestInfo } from "./context.ts";

/** Bytes a streaming client may leave unread before it is dropped. */
export const MAX_SSE_BACKLOG = 1024 * 1024;

/** One choice of the answer as the client gets it. */
export interface Choice {
  /** The prompt as Coze read it (for `usage`). */
  promptText: string;
  /** The text; "" when the answer is function calls. */
  content: string;
  /** Function calls, when Coze answered with them (`finish_reason: "tool_calls"`). */
  toolCalls?: ToolCall[];
  finishReason: FinishReason;
  place: ConversationPlace | undefined;
  /** Coze's own token counts (Coze's API reports them), else undefined and estimated. */
  usage?: Usage;
  /** The model's reasoning, when Coze's API reported it: `reasoning_content`, never in `content`. */
  reasoning?: string;
}

/** What the choices spent: Coze's own counts when every choice has them, else the estimate. */
export function spentOn(choices: Choice[], estimate: () => Usage): Usage {
  if (!choices.every((c) => c.usage)) return estimate();
  const sum = (key: keyof Usage) => choices.reduce((n, c) => n + c.usage![key], 0);
  // The prompt was read once per choice, but the client sent it once: count it as the first choice read it.
  return { prompt_tokens: choices[0].usage!.prompt_tokens, completion_tokens: sum("completion_tokens"), total_tokens: choices[0].usage!.prompt_tokens + sum("completion_tokens") };
}

/**
 * What a chat-shaped request (chat completions, or the Responses API) needs
 * before it is relayed: where its conversation lives, the images it carries,
 * and how to build each choice's relay request. Shared, so that the two APIs
 * are two encodings of one path.
 */
export interface PreparedChat {
  conversation: ConversationPlan;
  /** A choice's relay request; `asked` adds turns in the conversation it lives in (a re-ask). */
  requestFor: (asked?: { place: ConversationPlace | undefined; turns: ChatMessage[] }) => RelayRequest;
  rules: AnswerRules;
  /** The base of the service's own image links; computed only for an answer that has images. */
  base: () => string;
}

export async function prepareChat(
  req: Request,
  ctx: AppContext,
  info: RequestInfo,
  chat: Pick<ChatRequest, "model" | "messages" | "n" | "rules" | "cozeParameters">,
  named = conversationId(req),
): Promise<PreparedChat> {
  if (!ctx.pool.hasModel(chat.model)) throw modelNotFound(chat.model);
  const conversation = planConversation(keyScope(req.headers.get("authorization")), chat.messages, named);
  const files = await loadImageInputs(chat.messages, ctx.images, { signal: info.signal, deadline: info.receivedAt + ctx.settings.replyStartTimeoutMs, atEnd: info.atEnd });
  // A remembered state is continued once (a regenerate or a retry of the same history branches into a new
  // thread); a conversation the client named stays its own. Several choices are branches each.
  const place =
    conversation.key === undefined || chat.n > 1 ? undefined : conversation.named ? await ctx.conversations.find(conversation.key) : await ctx.conversations.take(conversation.key);
  const instruction = answerInstruction(chat.rules);
  const requestFor = (asked?: { place: ConversationPlace | undefined; turns: ChatMessage[] }): RelayRequest => ({
    model: chat.model,
    history: asked ? [...chat.messages, ...asked.turns] : chat.messages,
    newTurns: asked ? asked.turns.slice(-1) : conversation.newTurns,
    place: asked ? asked.place : place,
    title: conversation.title,
    instruction,
    cozeParameters: chat.cozeParameters,
    user: conversation.scope,
    files: asked ? [] : files,
    wantImage: false,
    signal: info.signal,
    requestId: info.requestId,
    receivedAt: info.receivedAt,
  });
  return { conversation, requestFor, rules: chat.rules, base: () => publicBase(ctx, req) };
}

/**
 * One choice through the relay: the reply, its images kept, judged against
 * the client's rules (function calls, JSON; asked once more in the same
 * conversation when it does not hold), the client's limits applied, the
 * conversation remembered. `onText` gets the text the client may see so far,
 * each time it grows; it returns false while nothing reached the client.
 * `onReasoning` gets the model's reasoning so far, each time it grows.
 */
export async function runChoice(
  ctx: AppContext,
  prepared: PreparedChat,
  limits: AnswerLimits,
  signal: AbortSignal,
  onText?: (visible: string) => boolean,
  onReasoning?: (reasoning: string) => void,
): Promise<Choice> {
  const { rules } = prepared;
  const ask = async (request: RelayRequest) => {
    request.signal = signal;
    request.onReasoning = onReasoning;
    if (onText) {
      // Image links wait for the end of the reply, when their images are kept and the links rewritten;
      // a tail that may yet become a stop sequence waits for more text, and so does text that may yet be a function call.
      request.onText = (text) => !holdsBack(text, rules) && onText(shapeAnswer(beforeLinks(text), limits, false).text);
    }
    const result = await relay(ctx, request);
    // Most answers have no image to keep: nothing to wait for then.
    return { result, answer: result.images.length === 0 ? result.text : await finalContent(ctx, result, prepared.base, signal) };
  };
  let { result, answer } = await ask(prepared.requestFor());
  let promptText = result.promptText;
  let spent = result.usage;
  let verdict = judgeAnswer(answer, rules);
  if (verdict.kind === "wrong") {
    // The problem may quote the answer (a schema error names its values and keys): only at debug.
    log.info("coze's answer did not hold the client's rules; asking once more");
    log.debug("what the answer broke", { problem: verdict.problem });
    ({ result, answer } = await ask(prepared.requestFor({ place: result.place, turns: [{ role: "assistant", text: answer, images: [] }, { role: "user", text: verdict.reask, images: [] }] })));
    promptText += `\n\n${result.promptText}`;
    spent = spent && result.usage && addUsage(spent, result.usage);
    verdict = judgeAnswer(answer, rules);
    if (verdict.kind === "wrong") throw upstreamError(`${verdict.problem}, also when asked again.`, "invalid_model_output");
  }
  if (verdict.kind === "calls") {
    remember(ctx, prepared.conversation, result.place, renderToolCalls(verdict.calls));
    return { content: "", toolCalls: verdict.calls, finishReason: "tool_calls", place: result.place, promptText, usage: spent, reasoning: result.reasoning };
  }
  const shaped = shapeAnswer(verdict.text, limits, true);
  remember(ctx, prepared.conversation, result.place, shaped.text);
  return { content: shaped.text, finishReason: shaped.finish ?? result.finishReason, place: result.place, promptText, usage: spent, reasoning: result.reasoning };
}

const addUsage = (a: Usage, b: Usage): Usage => ({
  prompt_tokens: a.prompt_tokens + b.prompt_tokens,
  completion_tokens: a.completion_tokens + b.completion_tokens,
  total_tokens: a.total_tokens + b.total_tokens,
});

/**
 * The answer as the client gets it: Coze's text with the reply's images, each
 * stored by the service and linked from its own URL (Discord's links expire
 * in about a day); a link the download rules refuse stays as it was.
 */
async function finalContent(ctx: AppContext, result: Answer, base: () => string, signal: AbortSignal): Promise<string> {
  const content = withImages(result.text, result.images);
  if (result.images.length === 0) return content;
  return rewriteLinks(content, await keepImages(result.images, ctx.images, ctx.store.images, base(), signal));
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
  if (place) ctx.conversations.remember(conversation.rememberKeys(answer), place);
}
