import type { DiscordEntry } from "../config/bots.ts";
import type { CallLimits, OutgoingFile } from "../discord/connection.ts";
import type { Lease, PoolEntry } from "../discord/entry.ts";
import type { DiscordPool, PickFailure } from "../discord/pool.ts";
import { PostError } from "../discord/post-error.ts";
import { ApiError, internalError, overloaded, quotaExhausted, unavailable } from "../openai/api-error.ts";
import { log } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { RelayError } from "../relay-error.ts";
import type { ConversationPlace, Store } from "../store/store.ts";
import { continuation, shouldContinue, withoutTrailingDots } from "./continue.ts";
import { CozeError } from "./coze-errors.ts";
import type { PromptPlan } from "./prompt.ts";
import { followReply, type FollowResult } from "./reply-follower.ts";
import { errorStack } from "../error-text.ts";
import type { ChatMessage } from "../openai/chat-request.ts";
import type { Usage } from "../openai/usage.ts";
import { CozeApiFailure } from "../coze-api/failure.ts";
import { attemptApi } from "./api-attempt.ts";

/** What a relay needs from the running service. */
export interface RelayContext {
  pool: DiscordPool;
  store: Store;
  settings: { replyStartTimeoutMs: number; replyQuietMs: number; replyTimeoutMs: number; autoContinue: number };
  metrics: Metrics;
}

export interface RelayRequest {
  model: string;
  /** The Discord messages that start a conversation (its fitted history); the last mentions `mention`. */
  contents: (mention: string) => PromptPlan;
  /** The Discord messages that continue the remembered conversation in `place` (only its new turns). */
  newTurns?: (mention: string) => PromptPlan;
  /** Where the conversation this request continues lives, if the service remembers it. */
  place?: ConversationPlace;
  /** The name of a new thread. */
  threadName: string;
  /** For entries on Coze's API, which take role-tagged messages: the whole conversation, */
  history: ChatMessage[];
  /** its turns after the last answer (when Coze keeps the conversation), */
  newHistory: ChatMessage[];
  /** and what the client requires of the answer (functions, JSON), closing the last user turn. */
  instruction?: string;
  /** Who asks, for Coze's per-user memory: a stable digest of the API key, never the key. */
  user: string;
  files: OutgoingFile[];
  wantImage: boolean;
  /** The whole reply text each time it changes; returns false while nothing reached the client. Once something did, the request can no longer move to another bot. */
  onText?: (text: string) => boolean;
  signal: AbortSignal;
  requestId: string;
  /** Date.now() when the request arrived: its start deadline is REPLY_START_TIMEOUT after. */
  receivedAt: number;
}

export interface RelayResult extends FollowResult {
  lease: Lease;
  /** The prompt as Coze read it: what was posted (for `usage`). */
  promptText: string;
  /** Where the conversation now lives; undefined on a threadless entry, whose channel holds no conversation of its own. */
  place: ConversationPlace | undefined;
  /** Coze's own token counts, when the backend reports them (the API does; Discord does not). */
  usage?: Usage;
}

/** Active threads archived to make room when Discord says the guild has too many (160006). */
const THREADS_FREED_ON_LIMIT = 20;

/**
 * One request through Discord: lease an entry, find or start the
 * conversation's thread, post, follow the reply, and continue it while Coze
 * cut it at its 2000-character limit. A failure that another entry may fix
 * (a failed call, a rate limit past the start deadline, a Coze error text)
 * moves the request to the model's next entry, in a new thread with the whole
 * history, as long as nothing of the reply has reached the client; when no
 * entry is left, the last failure decides the answer.
 */
export async function relay(ctx: RelayContext, request: RelayRequest): Promise<RelayResult> {
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
  let lastFailure: RelayError | undefined;
  let soonestBack = Infinity; // ms until an entry that failed this request may take requests again
  for (;;) {
    const home = request.place && pool.acquireEntry(request.model, request.place.entryKey, tried);
    const lease = home || pool.acquire(request.model, tried);
    if (!("entry" in lease)) throw noEntryLeft(request.model, lease, lastFailure, soonestBack);
    const { entry } = lease;
    tried.add(entry);
    let endTurn: (() => void) | undefined;
    try {
      if (!entry.threads) endTurn = await entry.takeTurn(request.signal);
      const result = await (entry.api ? attemptApi : attempt)(ctx, request, lease, home ? request.place : undefined, emit);
      lease.release("ok");
      metrics.reply.observe((performance.now() - started) / 1000);
      return result;
    } catch (error) {
      if (request.signal.aborted || !(error instanceof RelayError)) {
        lease.release("neutral");
        if (request.signal.aborted) throw request.signal.reason ?? error;
        log.error("relay failed unexpectedly", { request: request.requestId, error: errorStack(error) });
        throw internalError();
      }
      lease.release(error.outcome);
      noteFailure(metrics, request.requestId, entry.config.index, error);
      if (error.outcome === "quota" || error.retryAfterMs !== undefined) soonestBack = Math.min(soonestBack, entry.restingFor() || (error.retryAfterMs ?? Infinity));
      lastFailure = error;
      if (!error.movesOn || delivered) throw error.toApiError(finite(soonestBack));
    } finally {
      endTurn?.();
    }
  }
}

/** One try on one entry: the thread, the post, the reply and its continuations. */
async function attempt(
  { store, settings }: RelayContext,
  request: RelayRequest,
  lease: Lease,
  home: ConversationPlace | undefined,
  emit: (text: string) => void,
): Promise<RelayResult> {
  const { entry } = lease;
  const mention = `<@${entry.cozeBotId}>`;
  const limits = (): CallLimits => ({ deadline: Date.now() + settings.replyStartTimeoutMs, signal: request.signal });
  const first: CallLimits = { deadline: request.receivedAt + settings.replyStartTimeoutMs, signal: request.signal };
  let place: ConversationPlace | undefined;
  let plan: PromptPlan;
  if (home) {
    place = home;
    plan = request.newTurns!(mention);
  } else {
    place = entry.threads ? { entryKey: entry.key, channelId: await startThread(store, entry, request.threadName, first) } : undefined;
    plan = request.contents(mention);
  }
  const channelId = place?.channelId ?? (entry.config as DiscordEntry).channel_id;
  if (place) store.touchThread(place);

  const follow = async (promptContents: string[], files: OutgoingFile[], callLimits: CallLimits, prefix: string, last: boolean) => {
    const promptId = await entry.post(channelId, promptContents, files, callLimits);
    request.signal.throwIfAborted();
    return followReply((listener) => entry.follow(promptId, channelId, listener), {
      cozeBotId: entry.cozeBotId,
      startTimeoutMs: settings.replyStartTimeoutMs,
      quietMs: settings.replyQuietMs,
      totalTimeoutMs: settings.replyTimeoutMs,
      wantImage: request.wantImage,
      quietHeld: () => lease.quietHeld,
      // While Coze may still be asked to go on, a trailing ellipsis is held back: it is not part of the answer.
      onText: (text) => emit(prefix + (last ? text : withoutTrailingDots(text))),
      signal: request.signal,
    });
  };

  let result = await follow(plan.contents, request.files, first, "", settings.autoContinue === 0);
  let text = result.text;
  const images = [...result.images];
  for (let round = 1; round <= settings.autoContinue && shouldContinue(result); round++) {
    const prefix = continuation(text);
    log.debug("coze cut its answer at 2000 characters; asking it to continue", { request: request.requestId, round });
    result = await follow([`${mention} continue`], [], limits(), prefix, round === settings.autoContinue);
    text = prefix + result.text;
    for (const url of result.images) if (!images.includes(url)) images.push(url);
  }
  return { ...result, text, images, lease, place, promptText: plan.text };
}

/**
 * Starts the conversation's thread. When the guild has too many active
 * threads (160006), the entry's least recently used threads are archived to
 * make room, once.
 */
async function startThread(store: Store, entry: PoolEntry, name: string, limits: CallLimits): Promise<string> {
  try {
    return await entry.createThread(name, limits);
  } catch (error) {
    if (!(error instanceof PostError) || error.code !== 160006) throw error;
    const oldest = store.oldestThreads(entry.key, THREADS_FREED_ON_LIMIT);
    log.warn("discord has too many active threads in the guild; archiving the oldest", { entry: entry.config.index, threads: oldest.length });
    for (const threadId of oldest) {
      await entry.connection.setArchived(threadId, true).catch(() => {});
      store.markArchived(threadId);
    }
    return entry.createThread(name, limits);
  }
}

function noteFailure(metrics: Metrics, requestId: string, entry: number, error: RelayError): void {
  if (error instanceof CozeError) {
    metrics.cozeErrors.inc({ kind: error.kind });
    log.warn("coze answered with an error", { request: requestId, entry, kind: error.kind });
  } else if (error instanceof CozeApiFailure) {
    metrics.cozeErrors.inc({ kind: error.kind === "quota" ? "quota" : "failure" });
    log.warn("coze's api answered with an error", { request: requestId, entry, kind: error.kind, code: error.code });
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
