import type { CallLimits, OutgoingFile } from "../discord/connection.ts";
import type { Lease } from "../discord/entry.ts";
import type { DiscordPool, PickFailure } from "../discord/pool.ts";
import { ApiError, internalError, overloaded, quotaExhausted, unavailable } from "../openai/api-error.ts";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { RelayError } from "../relay-error.ts";
import { CozeError } from "./coze-errors.ts";
import { followReply, type FollowResult } from "./reply-follower.ts";

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
  /** Date.now() when the request arrived: its start deadline is REPLY_START_TIMEOUT after. */
  receivedAt: number;
}

export interface RelayResult extends FollowResult {
  lease: Lease;
}

/**
 * One request through Discord: lease an entry, post, follow the reply. A
 * failure that another entry may fix (a failed post, a rate limit past the
 * start deadline, a Coze error text) moves the request to the model's next
 * entry, as long as nothing of the reply has reached the client; when no
 * entry is left, the last failure decides the answer.
 */
export async function relay({ pool, settings, metrics }: RelayContext, request: RelayRequest): Promise<RelayResult> {
  const started = performance.now();
  const limits: CallLimits = { deadline: request.receivedAt + settings.replyStartTimeoutMs, signal: request.signal };
  let firstText = true;
  let delivered = false;
  const tried = new Set<Lease["entry"]>();
  let lastFailure: RelayError | undefined;
  let soonestBack = Infinity; // ms until an entry that failed this request may take requests again
  for (;;) {
    const lease = pool.acquire(request.model, tried);
    if (!("entry" in lease)) throw noEntryLeft(request.model, lease, lastFailure, soonestBack);
    const { entry } = lease;
    tried.add(entry);
    try {
      const channelId = entry.config.channel_id;
      const promptId = await entry.post(channelId, request.contents(`<@${entry.cozeBotId}>`), request.files, limits);
      request.signal.throwIfAborted();
      const result = await followReply((listener) => entry.follow(promptId, channelId, listener), {
        cozeBotId: entry.cozeBotId,
        startTimeoutMs: settings.replyStartTimeoutMs,
        quietMs: settings.replyQuietMs,
        totalTimeoutMs: settings.replyTimeoutMs,
        wantImage: request.wantImage,
        quietHeld: () => lease.quietHeld,
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
      lease.release("ok");
      metrics.reply.observe((performance.now() - started) / 1000);
      return { ...result, lease };
    } catch (error) {
      if (request.signal.aborted || !(error instanceof RelayError)) {
        lease.release("neutral");
        if (request.signal.aborted) throw request.signal.reason ?? error;
        log.error("relay failed unexpectedly", { request: request.requestId, error: (error as Error)?.stack ?? String(error) });
        throw internalError();
      }
      lease.release(error.outcome);
      noteFailure(metrics, request.requestId, entry.config.index, error);
      if (error.outcome === "quota" || error.retryAfterMs !== undefined) soonestBack = Math.min(soonestBack, entry.restingFor() || (error.retryAfterMs ?? Infinity));
      lastFailure = error;
      if (!error.movesOn || delivered) throw error.toApiError(finite(soonestBack));
    }
  }
}

function noteFailure(metrics: Metrics, requestId: string, entry: number, error: RelayError): void {
  if (error instanceof CozeError) {
    metrics.cozeErrors.inc({ kind: error.kind });
    log.warn("coze answered with an error", { request: requestId, entry, kind: error.kind });
  } else if (error.movesOn) {
    log.warn("discord call failed; trying the next entry", { request: requestId, entry, error: error.message });
  }
}

const finite = (ms: number) => (Number.isFinite(ms) ? ms : undefined);

function noEntryLeft(model: string, picked: PickFailure, lastFailure: RelayError | undefined, soonestBack: number): ApiError {
  if (picked.reason === "cooling") soonestBack = Math.min(soonestBack, picked.retryAfterMs);
  if (lastFailure !== undefined) return lastFailure.toApiError(finite(soonestBack));
  if (picked.reason === "busy") {
    return overloaded(`Every bot of model '${model}' has MAX_IN_FLIGHT_PER_BOT requests in flight; try again shortly.`, 1);
  }
  if (picked.reason === "cooling") {
    return quotaExhausted(`Every bot of model '${model}' is resting after a Coze quota error or failed Discord calls; try again later.`, picked.retryAfterMs / 1000);
  }
  return unavailable(`No Discord bot of model '${model}' is connected: ${picked.problems.join("; ")}.`);
}
