import type { ReplyMessage } from "./reply-message.ts";
import type { FinishReason } from "../openai/chat-response.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import { ReplyClock } from "../reply-clock.ts";
import { classifyCozeText, CozeErrorText } from "./coze-errors.ts";
import { ReplyText } from "./reply-text.ts";

export interface FollowOptions {
  /** Only messages written by this user (bot-01) are part of the reply. */
  cozeBotId: string;
  startTimeoutMs: number;
  quietMs: number;
  totalTimeoutMs: number;
  /** An image reply is complete as soon as its image has arrived. */
  wantImage: boolean;
  /** Called with the whole reply text each time it changes. */
  onText?: (text: string) => void;
  signal?: AbortSignal;
  /** While true (the gateway reconnects or recovers), silence proves nothing: the quiet timer waits. */
  quietHeld?: () => boolean;
}

export interface FollowResult {
  text: string;
  images: string[];
  /** Labels of Coze's suggestion buttons ("Continue" among them when it offers to go on). */
  buttons: string[];
  /** "length" when REPLY_TIMEOUT cut the reply short. */
  finishReason: FinishReason;
}

/**
 * Nothing at all arrived within REPLY_START_TIMEOUT. Another bot would most
 * likely stay as silent (and the client has waited long enough): no failover.
 */
export const replyStartTimeout = () =>
  new UpstreamFailure(
    "start-timeout",
    "The Coze bot did not start a reply in time (REPLY_START_TIMEOUT). Check, in this order: whether your Coze bot answers " +
      "messages from other bots at all (Coze has ignored mentions from bots since February 2024: mention bot-01 from bot-02's " +
      "channel yourself to see), that the Coze bot is online and published to Discord, and that bot-02 can read the channel " +
      "(View Channel, Read Message History, Message Content intent). `coze-chat-proxy check` tests each of these.",
    { openaiCode: "reply_timeout" },
  );

/** The reply ended (buttons or quiet) without the image an image request waits for. */
export const noImageInReply = (cozeText: string) =>
  new UpstreamFailure("no-image", `The Coze bot's reply has no image${cozeText ? `; it said: ${cozeText.slice(0, 500)}` : ""}.`, { openaiCode: "no_image" });

type Subscribe = (listener: (message: ReplyMessage) => void) => () => void;

/**
 * Follows one Coze reply to its end : Coze's buttons, REPLY_QUIET
 * seconds without an edit once content is there, or REPLY_TIMEOUT. Settles
 * once; every timer and subscription is released when it does.
 */
export function followReply(subscribe: Subscribe, options: FollowOptions): Promise<FollowResult> {
  const { promise, resolve, reject } = Promise.withResolvers<FollowResult>();
  const reply = new ReplyText();
  let lastText = "";
  /** The text changed after it first appeared: an answer being written, never an error. */
  let grew = false;
  let settled = false;
  let quiet: Timer | undefined;
  let unsubscribe: (() => void) | undefined;

  const finish = (outcome: FollowResult | Error) => {
    if (settled) return;
    settled = true;
    clock.clear();
    clearTimeout(quiet);
    unsubscribe?.();
    options.signal?.removeEventListener("abort", onAbort);
    if (outcome instanceof Error) reject(outcome);
    else resolve(outcome);
  };
  const complete = (finishReason: FollowResult["finishReason"]) => {
    // An error is judged on the complete reply, and only when its text came whole in Coze's first message:
    // Coze writes an error at once, while an answer grows by edits (and may quote an error text).
    const cozeError = grew ? null : classifyCozeText(lastText);
    if (cozeError) return finish(new CozeErrorText(cozeError, lastText));
    const images = reply.images();
    if (options.wantImage && images.length === 0) return finish(noImageInReply(lastText));
    finish({ text: lastText, images, buttons: reply.buttonLabels(), finishReason });
  };

  const onMessage = (message: ReplyMessage) => {
    // An edit that does not name its author belongs here only if it edits a message of this reply.
    const ours = message.authorId === options.cozeBotId || (message.authorId === "" && reply.has(message.id));
    if (settled || !ours) return;
    reply.apply(message);
    if (reply.started) clock.started();
    const text = reply.text();
    if (text !== lastText) {
      if (lastText !== "") grew = true;
      lastText = text;
      // A first text that could still be one of Coze's errors is held back until it grows or the reply ends.
      if (grew || classifyCozeText(text) === null) options.onText?.(text);
    }
    if (reply.finished || (options.wantImage && reply.images().length > 0)) return complete("stop");
    if (text !== "" || (message.imageUrls?.length ?? 0) > 0) {
      if (quiet) quiet.refresh();
      else quiet = setTimeout(onQuiet, options.quietMs);
    }
  };
  const onQuiet = () => {
    if (options.quietHeld?.()) quiet = setTimeout(onQuiet, options.quietMs);
    else complete("stop");
  };
  const onAbort = () => finish(options.signal!.reason instanceof Error ? options.signal!.reason : new DOMException("aborted", "AbortError"));

  const clock = new ReplyClock(options.startTimeoutMs, options.totalTimeoutMs, {
    noStart: () => reply.started || finish(replyStartTimeout()),
    overtime: () => (reply.started ? complete("length") : finish(replyStartTimeout())),
  });
  // Replies that arrived before the post returned are delivered inside subscribe().
  const stop = subscribe(onMessage);
  if (settled) {
    // The whole reply was already there: nothing may stay registered, or it keeps this reply alive.
    stop();
    return promise;
  }
  unsubscribe = stop;
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener("abort", onAbort); // removed in finish(): `once` would only add cost
  return promise;
}
