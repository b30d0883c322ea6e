import { errorStack } from "../error-text.ts";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { ApiError, internalError, overloaded, quotaExhausted, unavailable } from "../openai/api-error.ts";
import type { PoolEntry } from "../pool/entry.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import type { Pool, PickFailure } from "../pool/pool.ts";
import type { Answer, PlaceBook, ProbeVerdict, RelayRequest, ReplyTimings } from "../pool/seam.ts";
import { logFailure } from "./failure-log.ts";

/** What a relay needs from the running service. */
export interface RelayContext {
  pool: Pool;
  /** Where backends keep the places they start (Discord's threads). */
  conversations: PlaceBook;
  settings: ReplyTimings;
  metrics: Metrics;
}

/**
 * One request through the model's entries: lease an entry (the one holding
 * the conversation first), attempt the request on its backend, and when the
 * attempt fails in a way another entry may fix, move on to the model's next
 * entry, which starts the conversation afresh, as long as nothing of the
 * answer has reached the client. When no entry is left, the last failure
 * decides the answer.
 *
 * A quota text (which a prompt can make Coze repeat) makes its entry suspect
 * for a probe to decide; one request makes at most one entry suspect, and
 * when no other entry is left it waits (within its start deadline) for that
 * probe: a confirmed quota is its 429, a normal probe answer means the text
 * was Coze's answer to this prompt. A model whose entries left are all
 * suspect keeps the request waiting for their probe the same way.
 */
export async function relay(ctx: RelayContext, request: RelayRequest): Promise<Answer> {
  const { pool, metrics } = ctx;
  const started = performance.now();
  let firstText = true;
  let delivered = false;
  const emit = (text: string) => {
    if (firstText) {
      firstText = false;
      metrics.firstToken.observe((performance.now() - started) / 1000);
    }
    if (request.onText?.(text)) delivered = true;
  };
  const tried = new Set<PoolEntry>();
  let lastFailure: UpstreamFailure | undefined;
  let soonestBack = Infinity; // ms until an entry that failed this request may take requests again
  /** The entry this request's quota text made suspect, the text (with the answer it would be), and its probe. */
  let mine: { entry: PoolEntry; failure: UpstreamFailure; probe: Promise<ProbeVerdict> } | undefined;
  const deadline = request.receivedAt + ctx.settings.replyStartTimeoutMs;
  for (;;) {
    const home = request.place && pool.acquireEntry(request.model, request.place.entryKey, tried);
    const lease = home || pool.acquire(request.model, tried);
    if (!("entry" in lease)) {
      if (mine) return await decideOwnSuspect(mine, deadline, request.signal);
      if (lease.reason === "suspect") {
        await waitForProbe(lease.probe, deadline, request.signal, request.model);
        continue;
      }
      throw noEntryLeft(request.model, lease, lastFailure, soonestBack);
    }
    const { entry } = lease;
    tried.add(entry);
    let endTurn: (() => void) | undefined;
    try {
      if (entry.link.sharesContext) endTurn = await entry.takeTurn(request.signal);
      const attempt = () =>
        entry.link.attempt({
          request,
          home: home ? request.place : undefined,
          entryKey: entry.key,
          emit,
          emitReasoning: (reasoning) => request.onReasoning?.(reasoning),
          timings: ctx.settings,
          places: ctx.conversations,
        });
      // A shared context takes turns across every instance too: another instance's request in the channel waits.
      const answer = entry.link.sharesContext ? await ctx.conversations.serialize(`shared-context:${entry.key}`, attempt) : await attempt();
      lease.release("ok");
      metrics.reply.observe((performance.now() - started) / 1000);
      return answer;
    } catch (error) {
      if (request.signal.aborted || !(error instanceof UpstreamFailure)) {
        lease.release("neutral");
        if (request.signal.aborted) throw request.signal.reason ?? error;
        log.error("relay failed unexpectedly", { request: request.requestId, error: errorStack(error) });
        throw internalError();
      }
      // One request makes at most one entry suspect: a second quota text moves it on and touches nothing.
      const outcome = error.outcome === "suspect" && mine ? "neutral" : error.outcome;
      lease.release(outcome);
      if (outcome === "suspect") mine = { entry, failure: error, probe: entry.suspect() };
      noteFailure(metrics, request.requestId, entry.config.index, error);
      if (error.outcome === "quota" || error.retryAfterMs !== undefined) soonestBack = Math.min(soonestBack, entry.restingFor() || (error.retryAfterMs ?? Infinity));
      lastFailure = error;
      // Once text reached the client, another entry's answer could only be glued to it: the failure is the answer.
      if (!error.movesOn || delivered) throw error.toApiError(finite(soonestBack));
    } finally {
      endTurn?.();
    }
  }
}

function noteFailure(metrics: Metrics, requestId: string, entry: number, error: UpstreamFailure): void {
  if (error.fromCoze) {
    metrics.cozeErrors.inc({ kind: error.kind === "quota" || error.kind === "quota-text" ? "quota" : "failure" });
    logFailure("coze answered with an error", { request: requestId, entry }, error);
  } else if (error.movesOn) {
    logFailure("a call failed; trying the next entry", { request: requestId, entry }, error);
  }
}

/** How long a client whose request waited past its start deadline for a probe is told to wait. */
const PROBE_RETRY_AFTER_MS = 5_000;

/** Waits for `probe` while the request's start deadline allows; past it, or with the client gone, the request ends. */
async function waitForProbe(probe: Promise<ProbeVerdict>, deadline: number, signal: AbortSignal, model: string): Promise<ProbeVerdict> {
  const timeUp = Promise.withResolvers<"late">();
  const timer = setTimeout(() => timeUp.resolve("late"), Math.max(0, deadline - Date.now()));
  const onAbort = () => timeUp.reject(signal.reason ?? new DOMException("aborted", "AbortError"));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    signal.throwIfAborted();
    const verdict = await Promise.race([probe, timeUp.promise]);
    if (verdict === "late") {
      throw quotaExhausted(
        `Coze answered model '${model}' with a quota text; a probe is checking whether its quota is spent, and did not finish within REPLY_START_TIMEOUT. Try again shortly.`,
        PROBE_RETRY_AFTER_MS / 1000,
      );
    }
    return verdict;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * The request's quota text, once the probe of the entry it made suspect has
 * spoken: a quota again is the 429 with the rest as retry-after; a normal
 * answer means the text was Coze's answer to this prompt, returned as such.
 */
async function decideOwnSuspect(mine: { entry: PoolEntry; failure: UpstreamFailure; probe: Promise<ProbeVerdict> }, deadline: number, signal: AbortSignal): Promise<Answer> {
  const verdict = await waitForProbe(mine.probe, deadline, signal, mine.entry.config.model);
  if (verdict === "answered" && mine.failure.heldAnswer) return mine.failure.heldAnswer;
  if (verdict === "quota") throw mine.failure.toApiError(mine.entry.quotaRestFor() || undefined);
  throw mine.failure.toApiError(PROBE_RETRY_AFTER_MS);
}

const finite = (ms: number) => (Number.isFinite(ms) ? ms : undefined);

export function noEntryLeft(model: string, picked: Exclude<PickFailure, { reason: "suspect" }>, lastFailure: UpstreamFailure | undefined, soonestBack: number): ApiError {
  if (picked.reason === "cooling") soonestBack = Math.min(soonestBack, picked.retryAfterMs);
  if (lastFailure !== undefined) return lastFailure.toApiError(finite(soonestBack));
  if (picked.reason === "busy") {
    return overloaded(`Every bot of model '${model}' has MAX_IN_FLIGHT_PER_BOT requests in flight; try again shortly.`, 1);
  }
  if (picked.reason === "cooling") {
    return quotaExhausted(`Every bot of model '${model}' is resting after a Coze quota error or failed calls; try again later.`, picked.retryAfterMs / 1000);
  }
  return unavailable(`No bot of model '${model}' is connected: ${picked.problems.join("; ")}.`);
}
