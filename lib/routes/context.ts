import type { Server } from "bun";
import type { Settings } from "../config/settings.ts";
import type { Metrics } from "../metrics.ts";
import type { Pool } from "../pool/pool.ts";
import type { AudioCatalog } from "../relay/audio-catalog.ts";
import type { ConversationBook } from "../relay/conversation-book.ts";
import type { ImagePolicy } from "../images/policy.ts";
import type { InputMemory } from "../input-memory.ts";
import type { Store } from "../store/store.ts";
import type { InFlight } from "../http/in-flight.ts";
import { requestOrigin } from "../http/origin.ts";
import type { StatusSessions } from "./status-sessions.ts";

/** What every route handler may use; built once at start. */
export interface AppContext {
  settings: Settings;
  pool: Pool;
  /** Rests and images that outlive a restart. */
  store: Store;
  /** Where conversations live, and the places (threads) backends started: the store as the relay uses it. */
  conversations: ConversationBook;
  /** Where images may be downloaded from. */
  images: ImagePolicy;
  /** IMAGE_INPUT_MEMORY: what requests' inputs (images, audio uploads) hold; the same budget as `images.memory`. */
  inputMemory: InputMemory;
  metrics: Metrics;
  /** The entries that speak and listen (Coze API entries), for the audio routes. */
  audio: AudioCatalog;
  inFlight: InFlight;
  /** The status page's logins. */
  sessions: StatusSessions;
  version: string;
  /** Unix seconds when the service started; the `created` of every model. */
  startedAt: number;
}

/** Per-request facts the server wrapper resolved before calling the handler. */
export interface RequestInfo {
  requestId: string;
  server: Server<unknown>;
  /** Aborts when the client goes away (and, for relayed routes, when shutdown ends the request). */
  signal: AbortSignal;
  /** Date.now() when the request arrived. */
  receivedAt: number;
  /** The request carries a valid API key (open routes show more to a caller that has one). */
  authorized: boolean;
  /** The parsed JSON body, for routes that take one (read before the handler runs, within BODY_TIMEOUT). */
  body?: unknown;
  /** For relayed routes: ends the request's in-flight slot; a stream calls it after its last event. Idempotent. */
  end: () => void;
  /** Runs `fn` when the request ends (`end`), or at once if it has: what the request holds until then (its images). */
  atEnd: (fn: () => void) => void;
}

export type RouteHandler = (req: Request, ctx: AppContext, info: RequestInfo) => Response | Promise<Response>;

/** The base of the URLs the service hands out: PUBLIC_URL, else the origin the request came to (per a trusted proxy). */
export function publicBase(ctx: AppContext, req: Request): string {
  return ctx.settings.publicUrl ?? requestOrigin(req, ctx.settings);
}
