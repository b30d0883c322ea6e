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
  const bots = readBotFile(settings.botConfig);
  checkAudioModel(settings.audioModel, bots.entries, bots.workspaces);
  return { settings, ...bots };
}

/**
 * AUDIO_MODEL must name a model that has a Coze API entry: only those can
 * speak and listen. With workspace entries the models they hold are known
 * only once listed: then an AUDIO_MODEL that names none is a 404 per request.
 */
export function checkAudioModel(audioModel: string | undefined, entries: BotEntry[], workspaces: WorkspaceEntry[] = []): void {
  if (audioModel === undefined || workspaces.length > 0 || entries.some((e) => e.kind === "api" && e.model === audioModel)) return;
  const known = [...new Set(entries.filter((e) => e.kind === "api").map((e) => e.model))];
  throw new ConfigError(`AUDIO_MODEL is "${audioModel}", which no Coze API entry of bot.json serves${known.length ? ` (models with one: ${known.join(", ")})` : " (bot.json has no Coze API entry)"}`);
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
