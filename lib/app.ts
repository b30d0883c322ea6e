import type { Server } from "bun";
import pkg from "../package.json" with { type: "json" };
import type { BotEntry } from "./config/bots.ts";
import type { Settings } from "./config/settings.ts";
import { DiscordPool } from "./discord/pool.ts";
import { startServer } from "./http/server.ts";
import { log } from "./log.ts";
import type { AppContext } from "./routes/context.ts";

export const VERSION: string = pkg.version;

export interface App {
  server: Server<unknown>;
  pool: DiscordPool;
  /** Settles when every Discord client has connected or failed. */
  ready: Promise<void>;
  /** Stops accepting requests, lets those in flight finish, then closes Discord. */
  stop(): Promise<void>;
}

/** Starts the HTTP API at once and the Discord clients beside it; `/readyz` tells when they are up. */
export function startApp(settings: Settings, entries: BotEntry[]): App {
  const pool = new DiscordPool(entries, { discordApiUrl: settings.discordApiUrl, proxyUrl: settings.proxyUrl });
  const ctx: AppContext = { settings, pool, version: VERSION, startedAt: Math.floor(Date.now() / 1000) };
  const server = startServer(ctx);
  log.info("listening", { url: `http://${settings.host}:${server.port}`, models: pool.models.join(",") });
  const ready = pool.start();
  return {
    server,
    pool,
    ready,
    async stop() {
      await server.stop();
      await pool.stop();
    },
  };
}
