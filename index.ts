#!/usr/bin/env bun
/**
 * coze-chat-proxy: an OpenAI-compatible endpoint that talks to Coze bots
 * through Discord. This file reads the command line and the configuration,
 * starts the service and stops it on SIGINT/SIGTERM.
 */
import { ConfigError } from "./lib/config/config-error.ts";
import { loadEnvironment } from "./lib/config/dotenv.ts";
import { loadConfig, readBotFile } from "./lib/config/load.ts";
import { readSettings } from "./lib/config/settings.ts";
import { log, setLogLevel } from "./lib/log.ts";
import { VERSION } from "./lib/version.ts";
import { errorText } from "./lib/error-text.ts";

const HELP = `coze-chat-proxy ${VERSION}: an OpenAI-compatible API for Coze bots, through Discord.

Usage: coze-chat-proxy [check [--json] | migrate | --demo | --healthcheck | --version | --help]

  (no option)    serve the API; reads the environment, .env and BOT_CONFIG (bot.json)
  check          test every bot.json entry (login, channel, permissions, bot-01, a probe) and say what to fix;
                 exit 0 only when every entry works; --json for scripts
  migrate        copy DATA_DIR's store (conversations, rests, images, transcripts, sessions) into the
                 PostgreSQL database of DATABASE_URL, once, before instances share it
  --demo         serve the API against a built-in simulated Discord and Coze: no account needed
  --healthcheck  exit 0 when the service on SERVER_PORT answers /healthz (for Docker's HEALTHCHECK)
  --version      print the version
  --help         print this help

Configuration (environment or .env): SERVER_PORT, BOT_CONFIG, AUTH_TOKEN, LOG_LEVEL,
DISCORD_API_URL, PROXY_URL, REPLY_START_TIMEOUT, REPLY_QUIET, REPLY_TIMEOUT. See README.md.`;

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) return print(HELP);
  if (args.includes("--version") || args.includes("-v")) return print(VERSION);
  const checking = args[0] === "check";
  const migrating = args[0] === "migrate";
  const unknown = args.find((a, i) => !(checking ? i === 0 || a === "--json" : migrating ? i === 0 : ["--demo", "--healthcheck"].includes(a)));
  if (unknown) throw new ConfigError(`unknown option ${unknown}; see --help`);
  const env = loadEnvironment();
  if (args.includes("--healthcheck")) return healthcheck(readSettings(env).port);
  if (checking) return check(env, args.includes("--json"));
  if (migrating) return migrate(env);

  // Loaded only to serve: --version, --help and --healthcheck (every 30 s in Docker) need no discord.js,
  // and only --demo needs the simulator.
  const { startApp } = await import("./lib/app.ts");
  const demo = args.includes("--demo") ? await import("./lib/demo.ts") : undefined;
  const simulated = demo?.startDemoDiscord();
  const config = simulated
    ? {
        // The demo keeps its conversations in a temporary DATA_DIR unless one is set: trying it leaves nothing behind.
        settings: { ...readSettings({ DATA_DIR: demo!.demoDataDir(), ...env }), discordApiUrl: simulated.simulator.apiUrl, proxyUrl: undefined },
        entries: simulated.entries,
        workspaces: simulated.workspaces,
        warnings: [],
      }
    : loadConfig(env);
  const { settings, entries, workspaces, warnings } = config;
  setLogLevel(settings.logLevel);
  for (const warning of warnings) log.warn(warning);
  if (settings.authGenerated) {
    log.warn("AUTH_TOKEN is not set; this run accepts one generated key, shown once here", { key: settings.authTokens[0] });
  }

  const app = startApp(settings, entries, workspaces);
  if (demo) {
    await app.ready;
    const key = settings.authGenerated ? settings.authTokens[0] : "$AUTH_TOKEN";
    process.stdout.write(demo.demoInstructions(`http://127.0.0.1:${app.server.port}`, key) + "\n");
  }

  const { promise: stopped, resolve } = Promise.withResolvers<number>();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    await app.stop();
    await simulated?.simulator.stop();
    await simulated?.api.stop();
    resolve(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGHUP", () => {
    if (simulated) return log.info("SIGHUP: the demo has no bot.json to reload");
    try {
      const next = readBotFile(settings.botConfig);
      for (const warning of next.warnings) log.warn(warning);
      app.reload(next.entries, next.workspaces).then(
        () => log.info("bot.json reloaded", { entries: next.entries.length + next.workspaces.length, models: app.pool.models.join(",") }),
        (error) => log.error(`SIGHUP: applying bot.json failed; the running configuration stays: ${errorText(error)}`),
      );
    } catch (error) {
      log.error(`SIGHUP: bot.json not reloaded, the running configuration stays: ${errorText(error)}`);
    }
  });
  return stopped;
}

/** `check`: one row per bot.json entry; exit 0 only when every entry works. */
async function check(env: Record<string, string | undefined>, asJson: boolean): Promise<number> {
  const { settings, entries, workspaces, warnings } = loadConfig(env);
  setLogLevel(asJson ? "error" : "warn");
  if (!asJson) for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  const { runCheck, formatRows } = await import("./lib/check/check.ts");
  const rows = await runCheck(settings, entries, workspaces);
  process.stdout.write((asJson ? JSON.stringify(rows, null, 2) : formatRows(rows)) + "\n");
  return rows.every((r) => r.ok) ? 0 : 1;
}

/** `migrate`: DATA_DIR's SQLite store into DATABASE_URL's database. */
async function migrate(env: Record<string, string | undefined>): Promise<number> {
  const settings = readSettings(env);
  if (!settings.databaseUrl) throw new ConfigError("migrate copies DATA_DIR into PostgreSQL: set DATABASE_URL (postgres://…)");
  const { migrateDataDir } = await import("./lib/store/migrate.ts");
  const copied = await migrateDataDir(settings.dataDir, settings.databaseUrl);
  return print(`copied from ${settings.dataDir}: ${Object.entries(copied).map(([table, n]) => `${table} ${n}`).join(", ")}`);
}

function print(text: string): number {
  process.stdout.write(text + "\n");
  return 0;
}

async function healthcheck(port: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    return response.ok ? 0 : 1;
  } catch {
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    if (error instanceof ConfigError) process.stderr.write(`coze-chat-proxy: ${error.message}\n`);
    else process.stderr.write(`coze-chat-proxy: could not start: ${error?.message ?? error}\n`);
    process.exit(2);
  },
);
