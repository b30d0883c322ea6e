import { classifyCozeText, CozeError } from "./coze-errors.ts";
import type { ReplyMessage } from "../discord/reply-message.ts";
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
}

export interface FollowResult {
  text: string;
  images: string[];
  /** "length" when REPLY_TIMEOUT cut the reply short. */
  finishReason: "stop" | "length";
}

/** Nothing at all arrived within REPLY_START_TIMEOUT. */
export class ReplyStartTimeout extends Error {
  override name = "ReplyStartTimeout";
}

/** The reply ended (buttons or quiet) without the image an image request waits for. */
export class NoImageInReply extends Error {
  override name = "NoImageInReply";
  constructor(readonly cozeText: string) {
    super("the reply has no image");
  }
}

type Subscribe = (listener: (message: ReplyMessage) => void) => () => void;

/**
 * Follows one Coze reply to its end (SPEC §4.5): Coze's buttons, REPLY_QUIET
 * seconds without an edit once content is there, or REPLY_TIMEOUT. Settles
 * once; every timer and subscription is released when it does.
 */
export function followReply(subscribe: Subscribe, options: FollowOptions): Promise<FollowResult> {
  const { promise, resolve, reject } = Promise.withResolvers<FollowResult>();
  const reply = new ReplyText();
  let lastText = "";
  let settled = false;
  let quiet: Timer | undefined;
  let unsubscribe: (() => void) | undefined;

  const finish = (outcome: FollowResult | Error) => {
    if (settled) return;
    settled = true;
    clearTimeout(start);
    clearTimeout(total);
    clearTimeout(quiet);
    unsubscribe?.();
    options.signal?.removeEventListener("abort", onAbort);
    if (outcome instanceof Error) reject(outcome);
    else resolve(outcome);
  };
  const complete = (finishReason: FollowResult["finishReason"]) => {
    const images = reply.images();
    if (options.wantImage && images.length === 0) return finish(new NoImageInReply(lastText));
    finish({ text: lastText, images, finishReason });
  };

  const onMessage = (message: ReplyMessage) => {
    // An edit that does not name its author belongs here only if it edits a message of this reply.
    const ours = message.authorId === options.cozeBotId || (message.authorId === "" && reply.has(message.id));
    if (settled || !ours) return;
    reply.apply(message);
    const text = reply.text();
    const cozeError = classifyCozeText(text);
    if (cozeError) return finish(new CozeError(cozeError, text));
    if (text !== lastText) {
      lastText = text;
      options.onText?.(text);
    }
    if (reply.finished || (options.wantImage && reply.images().length > 0)) return complete("stop");
    if (text !== "" || (message.imageUrls?.length ?? 0) > 0) {
      if (quiet) quiet.refresh();
      else quiet = setTimeout(() => complete("stop"), options.quietMs);
    }
  };
  const onAbort = () => finish(options.signal!.reason instanceof Error ? options.signal!.reason : new DOMException("aborted", "AbortError"));

  const start = setTimeout(() => {
    if (!reply.started) finish(new ReplyStartTimeout("no reply started in time"));
  }, options.startTimeoutMs);
  const total = setTimeout(() => (reply.started ? complete("length") : finish(new ReplyStartTimeout("no reply"))), options.totalTimeoutMs);
  // Replies that arrived before the post returned are delivered inside subscribe().
  const stop = subscribe(onMessage);
  if (settled) {
    // The whole reply was already there: nothing may stay registered, or it keeps this reply alive.
    stop();
    return promise;
  }
  unsubscribe = stop;
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  return promise;
}
