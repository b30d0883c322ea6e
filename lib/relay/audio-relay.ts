import { errorStack } from "../error-text.ts";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { ApiError, internalError, replyTimeout } from "../openai/api-error.ts";
import type { PoolEntry } from "../pool/entry.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import type { Pool } from "../pool/pool.ts";
import type { AudioCalls } from "../pool/seam.ts";
import { logFailure } from "./failure-log.ts";
import { noEntryLeft } from "./relay.ts";

export interface AudioRelayContext {
  pool: Pool;
  metrics: Metrics;
  settings: { replyStartTimeoutMs: number; replyTimeoutMs: number };
}

/** Wait after a busy answer that named no `retry-after`, as for chat. */
const BUSY_WAIT_MS = 1_000;

/**
 * Runs one audio call (speech, a transcription) on the model's entries whose
 * backend speaks and listens, as a chat takes its turn: the pool picks the
 * entry (round-robin, in-flight limits, rests), the outcome settles it, and
 * a failure another entry may fix (a quota code, a refused token, a Coze
 * without audio routes) moves the call on. Entries without audio (Discord,
 * Coze Studio for a while) are passed over and stay up for chat. A busy
 * answer is waited out on the same entry while REPLY_START_TIMEOUT allows;
 * REPLY_TIMEOUT bounds each try. An ApiError (the client's own mistake)
 * ends the call at once and rests nothing.
 */
export async function relayAudio<T>(ctx: AudioRelayContext, model: string, requestId: string, signal: AbortSignal, call: (audio: AudioCalls, signal: AbortSignal) => Promise<T>): Promise<T> {
  const tried = new Set<PoolEntry>();
  let lastFailure: UpstreamFailure | undefined;
  let soonestBack = Infinity;
  const deadline = Date.now() + ctx.settings.replyStartTimeoutMs;
  let passedOver: UpstreamFailure | undefined;
  for (;;) {
    const lease = ctx.pool.acquire(model, tried);
    if (!("entry" in lease)) {
      // Only a quota text on Discord makes an entry suspect, and Discord carries no audio: nothing to wait for.
      const picked = lease.reason === "suspect" ? { reason: "disconnected" as const, problems: [] } : lease;
      throw noEntryLeft(model, picked, lastFailure ?? passedOver, soonestBack);
    }
    const { entry } = lease;
    tried.add(entry);
    const audio = entry.link.audio;
    if (!audio?.available) {
      if (audio) passedOver = new UpstreamFailure("unsupported", `No entry of model '${model}' can take audio now: their Coze has no audio routes (Coze Studio has none; coze.com and coze.cn do).`, { openaiCode: "audio_unsupported" });
      lease.release("neutral");
      continue;
    }
    const timeout = AbortSignal.timeout(ctx.settings.replyTimeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    try {
      const result = await waitingOutBusy(() => call(audio, both), deadline, both);
      lease.release("ok");
      return result;
    } catch (error) {
      if (signal.aborted) {
        lease.release("neutral");
        throw signal.reason ?? error;
      }
      if (timeout.aborted) {
        lease.release("failure");
        throw replyTimeout("Coze's audio API did not answer within REPLY_TIMEOUT.");
      }
      if (error instanceof ApiError) {
        lease.release("neutral");
        throw error;
      }
      if (!(error instanceof UpstreamFailure)) {
        lease.release("neutral");
        log.error("audio relay failed unexpectedly", { request: requestId, error: errorStack(error) });
        throw internalError();
      }
      lease.release(error.outcome);
      if (error.fromCoze) ctx.metrics.cozeErrors.inc({ kind: error.kind === "quota" ? "quota" : "failure" });
      logFailure(error.kind === "unsupported" ? "entry has no audio; passed over for audio, still serving chat" : "audio call failed; trying the next entry", { request: requestId, entry: entry.config.index }, error);
      if (error.outcome === "quota" || error.retryAfterMs !== undefined) soonestBack = Math.min(soonestBack, entry.restingFor() || (error.retryAfterMs ?? Infinity));
      lastFailure = error;
      if (!error.movesOn) throw error.toApiError(Number.isFinite(soonestBack) ? soonestBack : undefined);
    }
  }
}

/** Runs `call` again after a busy answer (its `retry-after`, else a second) while the deadline allows. */
async function waitingOutBusy<T>(call: () => Promise<T>, deadline: number, signal: AbortSignal): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const wait = error instanceof UpstreamFailure && error.kind === "rate-limited" ? (error.retryAfterMs ?? BUSY_WAIT_MS) : undefined;
      if (wait === undefined || Date.now() + wait >= deadline) throw error;
      await Bun.sleep(wait);
      signal.throwIfAborted();
    }
  }
}
