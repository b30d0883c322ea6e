/**
 * The seam between the relay and the ways to Coze. The relay knows a backend
 * only as this: a `BackendKind` (one per way in, named in the registry of
 * kinds) makes a `Backend` for the pool, which makes a `Link` for each
 * `bot.json` entry of its kind; a request is attempted on a link, its text
 * streamed to a sink, and a failure reported as an `UpstreamFailure`
 * (failure.ts), whose kind the pool understands.
 */
import type { BotEntry } from "../config/bots.ts";
import type { Metrics } from "../metrics.ts";
import type { ChatMessage } from "../openai/chat-request.ts";
import type { FinishReason } from "../openai/chat-response.ts";
import type { Usage } from "../openai/usage.ts";

/** A file a request sends with its last user turn (an image input). */
export interface InputFile {
  name: string;
  data: Uint8Array;
  contentType: string;
  /** The content part it came from (`messages[1].content[2]`), for an error that names it. */
  param?: string;
}

/** Where a conversation lives: the entry that serves it and that backend's own id for it (a Discord thread, a Coze conversation). */
export interface ConversationPlace {
  entryKey: string;
  conversationId: string;
}

/** A chat request as every backend takes it: what to say, on whose behalf, and where the conversation is. */
export interface RelayRequest {
  model: string;
  /** The whole conversation, for a backend that starts it afresh. */
  history: ChatMessage[];
  /** Its turns after the last answer, for a backend that continues it where it lives. */
  newTurns: ChatMessage[];
  /** What the client requires of the answer (functions, JSON), closing the last user turn. */
  instruction?: string;
  /** A chatflow's input parameters for this request (the client's `coze_parameters`), over the entry's own. */
  cozeParameters?: Record<string, unknown>;
  files: InputFile[];
  /** Who asks, for Coze's per-user memory: a stable digest of the API key, never the key. */
  user: string;
  /** Where the conversation this request continues lives, if the service remembers it. */
  place?: ConversationPlace;
  /** What the conversation is about (the start of its first user message): a new Discord thread is named after it. */
  title: string;
  /** An image request: its answer is complete once its image has arrived, and is a failure without one. */
  wantImage: boolean;
  /** Told the whole answer text each time it grows; returns true once something of it reached the client. */
  onText?: (text: string) => boolean;
  /** Told the whole reasoning (a reasoning model's thinking, never part of the text) each time it grows. */
  onReasoning?: (reasoning: string) => void;
  signal: AbortSignal;
  requestId: string;
  /** Date.now() when the request arrived: its start deadline is REPLY_START_TIMEOUT after. */
  receivedAt: number;
}

/** An answer as every backend gives it. */
export interface Answer {
  text: string;
  /** Images of the answer (links in its text, attachments, embeds), to be kept by the service. */
  images: string[];
  /** "length" when REPLY_TIMEOUT cut the answer short. */
  finishReason: FinishReason;
  /** Where the conversation now lives; undefined where no conversation has a place of its own. */
  place: ConversationPlace | undefined;
  /** The prompt as Coze read it (for the usage estimate). */
  promptText: string;
  /** Coze's own token counts, when the backend reports them. */
  usage?: Usage;
  /** The model's reasoning, apart from the text, when the backend reports it. */
  reasoning?: string;
}

/** The timing settings every backend follows. */
export interface ReplyTimings {
  replyStartTimeoutMs: number;
  replyQuietMs: number;
  replyTimeoutMs: number;
  autoContinue: number;
}

/**
 * Threads (or any other place a backend keeps conversations in) the service
 * started, kept in the store so that idle ones can be archived and the
 * oldest freed when a guild is full. Asynchronous: the store may be remote.
 */
export interface PlaceBook {
  touch(place: ConversationPlace): Promise<void>;
  /** The entry's least recently used active places. */
  oldest(entryKey: string, limit: number): Promise<string[]>;
  archived(conversationId: string): Promise<void>;
  /**
   * Runs `work` holding the lock `name` across every instance sharing the
   * store (one instance alone: within the process): what must not overlap
   * anywhere, such as two chats in one Coze conversation.
   */
  serialize<T>(name: string, work: () => Promise<T>): Promise<T>;
}

/** One attempt of a request on one link. */
export interface Attempt {
  request: RelayRequest;
  /** The conversation's place on this very entry, when it continues there; undefined to start afresh. */
  home: ConversationPlace | undefined;
  /** The key the entry is remembered by: a place the attempt makes is under it. */
  entryKey: string;
  /** Told the whole answer text each time it grows, and only text that is surely the answer (never an error Coze may yet turn out to write). */
  emit(text: string): void;
  /** Told the whole reasoning each time it grows (backends that report reasoning). */
  emitReasoning(reasoning: string): void;
  timings: ReplyTimings;
  places: PlaceBook;
}

export type LinkState = "connecting" | "ready" | "reconnecting" | "down";

/** One entry's way to Coze. */
export interface Link {
  readonly state: LinkState;
  /** Why the link is down, in words the user can act on. */
  readonly problem: string | undefined;
  /** Requests can go through it now. */
  readonly usable: boolean;
  /** Conversations on it share one Coze context (a Discord channel without threads): its requests take turns. */
  readonly sharesContext: boolean;
  /** Silence says nothing about Coze right now (a gateway reconnecting): quiet timers wait. */
  readonly quietHeld: boolean;
  /** Calls of this link under way or waiting out a rate limit: how far behind it is. */
  readonly queued: number;
  /** Relays one request; its failures are UpstreamFailures. */
  attempt(attempt: Attempt): Promise<Answer>;
  /** Archives a place the link made, idle for THREAD_IDLE (a guild allows 1000 active threads). */
  archive?(conversationId: string): Promise<void>;
  /** `coze-chat-proxy check` for this entry: a verdict, without throwing. */
  check(timings: ReplyTimings): Promise<CheckVerdict>;
  /**
   * Calls that are not chats (speech, transcription), on a backend that has
   * them; a route finds an entry of the model whose link has them.
   */
  readonly audio?: AudioCalls;
  /**
   * Where a quota text can be forged by a prompt (Discord: a user may ask Coze
   * to repeat one), the probe that confirms or clears a suspect entry: a
   * fixed neutral question in a fresh place, as `check` asks it. Without one,
   * the link's quota signals are authentic and rest the entry at once.
   */
  probe?(timings: ReplyTimings): Promise<ProbeVerdict>;
}

/** What a suspect entry's probe found: Coze's quota text again, a normal answer, or no verdict (the probe itself failed). */
export type ProbeVerdict = "quota" | "answered" | "failed";

/** Voice through a backend that speaks and listens. */
export interface AudioCalls {
  /** False for a while after the backend found it has no audio (Coze Studio registers no audio routes): routes pass the entry over. */
  readonly available: boolean;
  /** Speaks `input` (any length: the backend splits it to its own limits) in `format` (OpenAI's: mp3, opus, wav, pcm). */
  speech(request: { input: string; voice: string | undefined; format: SpeechFormat; speed?: number }, signal: AbortSignal): Promise<{ audio: Uint8Array; contentType: string }>;
  /** Transcribes an audio file of up to 25 MB (the backend reads its format and cuts it to its own limits). */
  transcribe(file: InputFile, signal: AbortSignal): Promise<{ text: string; durationSeconds?: number }>;
  /** The voices a client may name: the entry's own names first, then the backend's list. */
  voices(signal: AbortSignal): Promise<{ id: string; name: string }[]>;
}

/** OpenAI's speech formats that a backend may be asked for (aac and flac are refused before). */
export type SpeechFormat = "mp3" | "opus" | "wav" | "pcm";

/** What `check` asks Coze on any backend: a short neutral question whose answer proves that the bot answers. */
export const PROBE = 'Please answer with "OK": this is a connection check from coze-chat-proxy.';

/** What `check` found for one entry: ok with the time to Coze's first answer, or the problem and its fix. */
export type CheckVerdict = { ok: true; firstReplyMs: number } | { ok: false; problem: string; fix: string };

/** What every backend is built with. */
export interface BackendOptions {
  discordApiUrl: string;
  globalRateLimit: number;
  proxyUrl?: string;
  metrics: Metrics;
  /** Discord messages a request's new turns may become at most (PROMPT_MAX_POSTS); 8 when not said. */
  promptMaxPosts?: number;
}

/** The links of one kind, as long as the pool lives: what they share (a Discord login per bot token) is kept here. */
export interface Backend {
  /** The link for `entry`; `previous` is the link that served the same key before a reload, to keep when it still fits. */
  link(entry: BotEntry, previous: Link | undefined): Link;
  /** Connects what `links` need and is not connected yet; resolves when each has connected or failed. */
  connect(links: readonly Link[]): Promise<void>;
  /** Lets go of what no link in `kept` uses any more, once the requests it serves are done. */
  retire(kept: readonly Link[]): void;
  stop(): Promise<void>;
  /** Answers being followed now and kept for later, for the gauge. */
  readonly tracking?: { following: number; waiting: number };
}

/** A way into Coze: how its entries are named for good, and how its backend is made. */
export interface BackendKind {
  readonly kind: BotEntry["kind"];
  /** The key an entry is remembered by across restarts (conversations, rests): what it is, never a secret in clear. */
  entryKey(entry: BotEntry): string;
  create(options: BackendOptions): Backend;
  /** Where this backend serves answer images from (`entries` are of its kind): they are downloaded as they are, private hosts included. */
  imageHosts(entries: BotEntry[], options: BackendOptions): { hosts: string[]; suffixes: string[] };
}
