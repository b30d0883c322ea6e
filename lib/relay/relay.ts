import type { DiscordPool, OutgoingFile, PickFailure, PoolEntry } from "../discord/pool.ts";
import { ApiError, overloaded, quotaExhausted, replyTimeout, unavailable, upstreamError } from "../openai/api-error.ts";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { CozeError } from "./coze-errors.ts";
import { PostError } from "../discord/post-error.ts";
import { followReply, NoImageInReply, ReplyStartTimeout, type FollowResult } from "./reply-follower.ts";

/** What a relay needs from the running service. */
export interface RelayContext {
  pool: DiscordPool;
  settings: { replyStartTimeoutMs: number; replyQuietMs: number; replyTimeoutMs: number };
  metrics: Metrics;
}

export interface RelayRequest {
  model: string;
  /** The Discord messages to post for a given entry; the last mentions `mention`. */
  contents: (mention: string) => string[];
  files: OutgoingFile[];
  wantImage: boolean;
  /** The whole reply text each time it changes; once called, the request can no longer move to another bot. */
  onText?: (text: string) => void;
  signal: AbortSignal;
  requestId: string;
}

export interface RelayResult extends FollowResult {
  entry: PoolEntry;
}

/**
 * One request through Discord (SPEC §4): pick an entry, post, follow the
 * reply. A quota error, another Coze error or a failed post moves the request
 * to the model's next entry, as long as nothing of the reply has reached the
 * client; when no entry is left, the last failure decides the answer.
 */
export async function relay({ pool, settings, metrics }: RelayContext, request: RelayRequest): Promise<RelayResult> {
  const started = performance.now();
  let firstText = true;
  const tried = new Set<PoolEntry>();
  let lastFailure: unknown;
  let soonestBack = Infinity; // ms until the first entry that hit its quota takes requests again
  for (;;) {
    const picked = pool.pick(request.model, tried);
    if (!("config" in picked)) throw noEntryLeft(request.model, picked, lastFailure, soonestBack);
    const entry = picked;
    tried.add(entry);
    entry.inFlight++;
    let delivered = false;
    try {
      const promptId = await entry.post(request.contents(`<@${entry.cozeBotId}>`), request.files);
      request.signal.throwIfAborted();
      const result = await followReply((listener) => entry.follow(promptId, listener), {
        cozeBotId: entry.cozeBotId,
        startTimeoutMs: settings.replyStartTimeoutMs,
        quietMs: settings.replyQuietMs,
        totalTimeoutMs: settings.replyTimeoutMs,
        wantImage: request.wantImage,
        onText: (text) => {
          if (firstText) {
            firstText = false;
            metrics.firstToken.observe((performance.now() - started) / 1000);
          }
          if (!request.onText) return;
          delivered = true;
          request.onText(text);
        },
        signal: request.signal,
      });
      metrics.reply.observe((performance.now() - started) / 1000);
      return { ...result, entry };
    } catch (error) {
      if (request.signal.aborted) throw request.signal.reason ?? error;
      if (error instanceof CozeError) {
        metrics.cozeErrors.inc({ kind: error.kind });
        log.warn("coze answered with an error", { request: request.requestId, entry: entry.config.index, kind: error.kind });
        if (error.kind === "quota") {
          entry.coolDown("quota");
          soonestBack = Math.min(soonestBack, entry.coolingUntil - performance.now());
        }
      } else if (error instanceof PostError) {
        log.warn("posting to discord failed", { request: request.requestId, entry: entry.config.index, status: error.status, code: error.code, error: error.message });
        entry.coolDown("failure");
      } else throw toApiError(error, soonestBack);
      lastFailure = error;
      if (delivered) throw toApiError(error, soonestBack);
    } finally {
      entry.inFlight--;
    }
  }
}

function noEntryLeft(model: string, picked: PickFailure, lastFailure: unknown, soonestBack: number): ApiError {
  if (picked.reason === "cooling") soonestBack = Math.min(soonestBack, picked.retryAfterMs);
  if (lastFailure !== undefined) return toApiError(lastFailure, soonestBack);
  if (picked.reason === "busy") {
    return overloaded(`Every bot of model '${model}' has MAX_IN_FLIGHT_PER_BOT requests in flight; try again shortly.`, 1);
  }
  if (picked.reason === "cooling") {
    return quotaExhausted(`Every bot of model '${model}' is resting after a Coze quota error or failed posts; try again later.`, picked.retryAfterMs / 1000);
  }
  return unavailable(`No Discord bot of model '${model}' is connected: ${picked.problems.join("; ")}.`);
}

function toApiError(error: unknown, soonestBack: number): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof CozeError) {
    if (error.kind === "quota") {
      const retry = Number.isFinite(soonestBack) ? soonestBack / 1000 : 60;
      return quotaExhausted(`Coze quota exhausted on every bot of the model: ${error.cozeText}`, retry);
    }
    return upstreamError(`Coze answered with an error: ${error.cozeText}`, "coze_error");
  }
  if (error instanceof PostError) return upstreamError(error.message, "discord_error");
  if (error instanceof ReplyStartTimeout) {
    return replyTimeout(
      "The Coze bot did not start a reply in time (REPLY_START_TIMEOUT). Check that the Coze bot is online in the channel, " +
        "that bot-02 can read that channel (View Channel, Read Message History, Message Content intent), and whether your " +
        "Coze bot answers messages from other bots at all: Coze was reported in February 2024 to ignore mentions that come from bots.",
    );
  }
  if (error instanceof NoImageInReply) {
    return upstreamError(`The Coze bot's reply has no image${error.cozeText ? `; it said: ${error.cozeText.slice(0, 500)}` : ""}.`, "no_image");
  }
  log.error("relay failed unexpectedly", { error: (error as Error)?.stack ?? String(error) });
  return new ApiError(500, "The relay failed unexpectedly.", "api_error", "internal_error");
}
