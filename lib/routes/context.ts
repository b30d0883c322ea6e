import type { Server } from "bun";
import type { Settings } from "../config/settings.ts";
import type { DiscordPool } from "../discord/pool.ts";
import type { Metrics } from "../metrics.ts";
import type { InFlight } from "./in-flight.ts";

/** What every route handler may use; built once at start. */
export interface AppContext {
  settings: Settings;
  pool: DiscordPool;
  metrics: Metrics;
  inFlight: InFlight;
  version: string;
  /** Unix seconds when the service started; the `created` of every model. */
  startedAt: number;
}

/** Per-request facts the server wrapper resolved before calling the handler. */
export interface RequestInfo {
  requestId: string;
  server: Server<unknown>;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

export type RouteHandler = (req: Request, ctx: AppContext, info: RequestInfo) => Response | Promise<Response>;
