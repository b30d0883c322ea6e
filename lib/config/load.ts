import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseBots, type BotEntry, type ParsedBots, type WorkspaceEntry } from "./bots.ts";
import { ConfigError } from "./config-error.ts";
import { loadEnvironment } from "./dotenv.ts";
import { readSettings, type Settings } from "./settings.ts";
import { errorText } from "../error-text.ts";

export interface Config {
  settings: Settings;
  entries: BotEntry[];
  workspaces: WorkspaceEntry[];
  warnings: string[];
}

/** Reads the environment (and `.env`) and `bot.json`; throws ConfigError naming any mistake. */
export function loadConfig(env: Record<string, string | undefined> = loadEnvironment()): Config {
  const settings = readSettings(env);
  return { settings, ...readBotFile(settings.botConfig) };
}

export function readBotFile(path: string): ParsedBots {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new ConfigError(`BOT_CONFIG file ${file} does not exist; copy bot.json.example there and fill it in (or run with --demo)`);
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`BOT_CONFIG file ${file} cannot be read: ${errorText(error)}`);
  }
  return parseBots(text, path);
}
