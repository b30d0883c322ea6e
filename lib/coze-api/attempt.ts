import { abortWhen } from "../abort-link.ts";
import { errorText } from "../error-text.ts";
import { log } from "../log.ts";
import { markdownImages } from "../markdown-images.ts";
import type { FinishReason } from "../openai/chat-response.ts";
import type { Usage } from "../openai/usage.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import { ReplyClock } from "../reply-clock.ts";
import type { Answer, Attempt } from "../pool/seam.ts";
import { CozeAnswer } from "./answer.ts";
import type { CozeApiClient } from "./client.ts";
import { CozeApiFailure, entryProblem, failureKind } from "./failure.ts";
import { promptTextOf, toCozeMessages } from "./messages.ts";

/**
 * Nothing of an answer came over Coze's API within REPLY_START_TIMEOUT
 * (`chat.created` comes at once even when the bot never answers, so it does
 * not count). As on Discord, another bot would most likely be as slow.
 */
const apiStartTimeout = () =>
  new UpstreamFailure(
    "start-timeout",
    "The Coze bot did not start answering on Coze's API in time (REPLY_START_TIMEOUT). Check that it is published to the API and answers in Coze's own debug chat.",
    { openaiCode: "reply_timeout" },
  );

/**
 * One try on an entry that reaches Coze through its API: images uploaded
 * with the entry's token, the conversation's messages (only its new turns
 * when Coze keeps the conversation), the answer relayed as its deltas come,
 * reasoning apart from it, Coze's token counts as usage. A chat the service
 * gives up on is cancelled, so its conversation never stays busy. A
 * conversation Coze no longer knows (4200) is started again with its whole
 * history; a new chat answered 4200 means the bot or chatflow is missing,
 * and the entry is down.
 */
export async function attemptOnApi(client: CozeApiClient, attempt: Attempt): Promise<Answer> {
  try {
    return await chatOnce(client, attempt, attempt.home);
  } catch (error) {
    if (!(error instanceof CozeApiFailure)) throw error;
    if (error.apiKind === "gone" && attempt.home) {
      log.info("coze no longer knows the conversation; starting it again with its history", { request: attempt.request.requestId, entry: client.entry.index });
      return chatOnce(client, attempt, undefined);
    }
    if (error.apiKind === "gone") client.markDown(entryProblem(error.code, error.msg));
    // Coze does not say which image it could not take: the failure names the request's image parts.
    if (error.apiKind === "file") {
      const parts = attempt.request.files.flatMap((f) => (f.param ? [f.param] : []));
      throw new CozeApiFailure("file", error.code, parts.length > 1 ? `${error.msg} (one of ${parts.join(", ")})` : error.msg, undefined, error, parts[0]);
    }
    throw error;
  }
}

async function chatOnce(client: CozeApiClient, { request, entryKey, emit, emitReasoning, timings, places }: Attempt, home: Attempt["home"]): Promise<Answer> {
  const deadline = request.receivedAt + timings.replyStartTimeoutMs;
  // Aborted by the client's leaving or by a timer.
  const stop = new AbortController();
  const signal = stop.signal;
  const unlink = abortWhen(request.signal, stop);
  let timedOut: "start" | "total" | undefined;
  const clock = new ReplyClock(deadline - Date.now(), timings.replyTimeoutMs, {
    noStart: () => ((timedOut = "start"), stop.abort()),
    overtime: () => ((timedOut = "total"), stop.abort()),
  });
  const answer = new CozeAnswer();
  let conversationId = home?.conversationId;
  let chatId: string | undefined;
  let finished = false;
  let usage: Usage | undefined;
  let promptText = "";
  try {
    // Most requests carry no image: no promise to wait for then.
    const fileIds = request.files.length === 0 ? [] : await Promise.all(request.files.map((file) => guard(client, () => client.upload(file, signal))));
    const messages = toCozeMessages(home ? request.newTurns : request.history, request.instruction, fileIds);
    promptText = promptTextOf(messages);
    const body = { user_id: request.user, additional_messages: messages, parameters: request.cozeParameters };
    const run = async () => {
      try {
        await client.chat(body, home?.conversationId, { deadline, signal }, (event) => {
          const step = answer.step(event);
          if (step.kind === "created") {
            chatId = step.chatId;
            conversationId = step.conversationId || conversationId;
          } else if (step.kind === "text" || step.kind === "message" || step.kind === "reasoning") {
            clock.started(); // the first message event is the first sign of an answer
            if (step.kind === "reasoning") emitReasoning(step.reasoning);
            if (step.kind === "text") emit(answer.text);
          } else if (step.kind === "completed") {
            // Coze's token_count is input + output; Studio's chatflow route adds the output twice, so the total is summed here.
            if (step.usage) usage = { prompt_tokens: step.usage.input_count, completion_tokens: step.usage.output_count, total_tokens: step.usage.input_count + step.usage.output_count };
            finished = true;
          } else if (step.kind === "failed") {
            finished = true;
            throw new CozeApiFailure(failureKind(step.code, undefined, step.msg), step.code, step.msg);
          } else if (step.kind === "requires_action") {
            throw new CozeApiFailure("action", undefined, "the bot requires the caller's tool output");
          }
          return step.kind === "done";
        });
      } catch (error) {
        throw callFailure(client, error);
      } finally {
        // Within the conversation's turn, so that the next chat in it never finds this one still running.
        if (!finished && conversationId && chatId) await client.cancel(conversationId, chatId);
      }
    };
    // One chat at a time in a Coze conversation (else Coze's 4016): within this process, then across instances.
    // A new conversation has nobody to wait for.
    if (home) await client.inTurn(home.conversationId, signal, () => places.serialize(`coze-conversation:${home.conversationId}`, run));
    else await run();
    // A stream that closed right after `completed` (without its end event) is complete; one that closed before is not.
    if (!finished) throw new CozeApiFailure("other", undefined, "the answer's stream ended before the chat completed");
  } catch (error) {
    if (request.signal.aborted) throw request.signal.reason ?? error;
    if (timedOut === "start") throw apiStartTimeout();
    if (timedOut !== "total") throw error;
  } finally {
    clock.clear();
    unlink();
  }
  const text = answer.text;
  const finishReason: FinishReason = timedOut === "total" ? "length" : "stop";
  const place = conversationId ? { entryKey, conversationId } : undefined;
  return { text, images: markdownImages(text), finishReason, place, promptText, usage, ...(answer.reasoning ? { reasoning: answer.reasoning } : {}) };
}

/**
 * Runs a call on the client: a refused token or bot takes the entry down
 * (with the reason `/readyz` shows), and a network failure is a failure of
 * the entry, not of the service.
 */
async function guard<T>(client: CozeApiClient, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw callFailure(client, error);
  }
}

/** What a failed call on the client throws: Coze's own failure (a refused token or bot takes the entry down), an abort as it is, else the entry's failure to reach Coze. */
function callFailure(client: CozeApiClient, error: unknown): unknown {
  if (error instanceof CozeApiFailure) {
    if (error.apiKind === "entry") client.markDown(entryProblem(error.code, error.msg));
    return error;
  }
  if (error instanceof Error && error.name === "AbortError") return error;
  return new CozeApiFailure("other", undefined, `Coze's API could not be reached (${errorText(error)})`, undefined, error);
}
