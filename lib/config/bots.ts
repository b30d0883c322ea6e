import { ConfigError } from "./config-error.ts";
import { parseJsonc } from "./jsonc.ts";
import { errorText } from "../error-text.ts";

/** One line of `bot.json`: a model served by one Coze bot, through Discord or through Coze's API. */
export type BotEntry = DiscordEntry | ApiEntry;

/** A Coze bot reached through Discord: bot-02 mentions bot-01 in a channel. */
export interface DiscordEntry {
  kind: "discord";
  /** Position in `bot.json`, for messages that point the user at the right entry. */
  index: number;
  model: string;
  /** Token of bot-02, the Discord bot this service logs in as. */
  bot_token: string;
  /** User id of bot-01, the Discord bot that Coze hosts. */
  coze_bot_id: string;
  guild_id: string;
  channel_id: string;
  /**
   * Each conversation in a thread of its own (default). False for a channel
   * where bot-02 may not start threads: requests post in the channel itself,
   * one at a time, and share one Coze context.
   */
  threads: boolean;
}

/**
 * A Coze bot, or a Coze chatflow (a workflow made for chat), reached through
 * Coze's official chat API, on coze.com or on a self-hosted Coze Studio.
 * `workflow_id` makes it a chatflow entry; without it, `bot_id` names the bot.
 */
export interface ApiEntry {
  kind: "api";
  index: number;
  model: string;
  /** A Coze personal access token (`pat_…`). */
  coze_api_token: string;
  /** A bot entry: the bot's id, as Coze shows it (published to the API). A chatflow entry: the bot it runs as, if any. */
  bot_id?: string;
  /** A chatflow entry: the chatflow that answers, through `/v1/workflows/chat`. */
  workflow_id?: string;
  /** A chatflow entry: the app it belongs to, if any (never with `bot_id`). */
  app_id?: string;
  /** A chatflow entry: its input parameters, sent with every chat; a request's `coze_parameters` go over them. */
  parameters?: Record<string, unknown>;
  /** Hosts whose answer images are the backend's own (Coze Studio's object store, e.g. "minio:9000"): downloaded, private addresses allowed. */
  image_hosts?: string[];
  /** `https://api.coze.com`, `https://api.coze.cn` for 扣子, or a Coze Studio's address (`http://localhost:8888`). */
  api_base: string;
  /** Voice names a client may send (OpenAI's `alloy`, say) and the Coze voice_id each stands for. */
  voices?: Record<string, string>;
  /** The Coze voice for a name that matches nothing; else Coze's first voice. */
  default_voice?: string;
  /** Set on a bot found in a workspace: the workspace, and the Coze account (user id) the token belongs to. */
  workspace?: { id: string; account: string };
}

/**
 * An API entry that names a Coze workspace instead of a bot: each bot
 * published to the API there is served as a model of its own, found at start,
 * on reload and every WORKSPACE_REFRESH.
 */
export interface WorkspaceEntry {
  kind: "workspace";
  index: number;
  coze_api_token: string;
  workspace_id: string;
  api_base: string;
  /** Put before every model id found in the workspace ("" for none). */
  model_prefix: string;
}

/** Whether an API entry is a chatflow (`workflow_id`), not a bot. */
export const isChatflow = (entry: ApiEntry): boolean => entry.workflow_id !== undefined;

export const DEFAULT_API_BASE = "https://api.coze.com";

export interface ParsedBots {
  entries: BotEntry[];
  /** Entries naming a workspace: they stand for the bots found there. */
  workspaces: WorkspaceEntry[];
  warnings: string[];
}

const SNOWFLAKE = /^\d{17,20}$/;
const FIELDS = ["model", "bot_token", "coze_bot_id", "guild_id", "channel_id"] as const;
const DISCORD_ONLY = ["bot_token", "coze_bot_id", "guild_id", "guid_id", "channel_id", "threads"];
const API_ONLY = ["coze_api_token", "bot_id", "workflow_id", "app_id", "parameters", "image_hosts", "api_base", "workspace_id", "model_prefix", "voices", "default_voice"];
const COZE_ID = /^\d{6,25}$/;
/** A host as a URL names it: a name or an address, and an optional port. */
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;
const ID_FIELDS = new Set(["coze_bot_id", "guild_id", "channel_id"]);

/** Parses and validates the text of `bot.json`; `source` names the file in messages. */
export function parseBots(text: string, source: string): ParsedBots {
  let data: unknown;
  try {
    data = parseJsonc(text);
  } catch (error) {
    throw new ConfigError(`${source} is not valid JSON: ${errorText(error)}`);
  }
  if (!Array.isArray(data)) throw new ConfigError(`${source} must be a JSON array of bot entries`);
  if (data.length === 0) throw new ConfigError(`${source} has no bot entries`);

  const warnings: string[] = [];
  const seen = new Map<string, number>();
  const workspaces: WorkspaceEntry[] = [];
  const entries = data.flatMap((raw, index): BotEntry[] => {
    const where = `${source} entry ${index}`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      throw new ConfigError(`${where} must be an object`);
    }
    const record = { ...(raw as Record<string, unknown>) };
    const api = API_ONLY.find((f) => record[f] !== undefined);
    const discord = DISCORD_ONLY.find((f) => record[f] !== undefined);
    if (api && discord) {
      throw new ConfigError(`${where} mixes a Discord field ("${discord}") with a Coze API field ("${api}"): an entry reaches Coze one way; make it two entries`);
    }
    if (!api && !discord) {
      throw new ConfigError(`${where} is missing "bot_token" (to reach Coze through Discord) or "coze_api_token" (through Coze's API)`);
    }
    if (api && record.workspace_id !== undefined) {
      workspaces.push(parseWorkspaceEntry(record, index, where));
      return [];
    }
    if (api) return [parseApiEntry(record, index, where)];
    if (record.guild_id === undefined && record.guid_id !== undefined) {
      record.guild_id = record.guid_id;
      warnings.push(`${where}: "guid_id" is read as "guild_id"; rename it to silence this warning`);
    }
    for (const field of FIELDS) {
      const value = requireString(record, field, where);
      if (ID_FIELDS.has(field) && !SNOWFLAKE.test(value)) {
        throw new ConfigError(`${where} field "${field}" is not a Discord id (17 to 20 digits)`);
      }
    }
    if (record.threads !== undefined && typeof record.threads !== "boolean") {
      throw new ConfigError(`${where} field "threads" must be true or false, got ${describe(record.threads)}`);
    }
    const entry: DiscordEntry = {
      kind: "discord",
      index,
      model: (record.model as string).trim(),
      bot_token: (record.bot_token as string).trim(),
      coze_bot_id: record.coze_bot_id as string,
      guild_id: record.guild_id as string,
      channel_id: record.channel_id as string,
      threads: record.threads !== false,
    };
    const key = FIELDS.map((f) => entry[f]).join("\u0000");
    if (!entry.threads) warnings.push(`${where} has "threads": false: its requests share one Coze context in channel ${entry.channel_id}, one at a time`);
    const first = seen.get(key);
    if (first !== undefined) {
      warnings.push(`${where} repeats entry ${first} exactly; it only makes that bot take more turns`);
    } else seen.set(key, index);
    return [entry];
  });
  return { entries, workspaces, warnings };
}

function parseApiEntry(record: Record<string, unknown>, index: number, where: string): ApiEntry {
  const model = requireString(record, "model", where).trim();
  const token = requireString(record, "coze_api_token", where).trim();
  const chatflow = record.workflow_id !== undefined;
  if (record.model_prefix !== undefined) throw new ConfigError(`${where} field "model_prefix" goes with "workspace_id" only; an entry with "bot_id" or "workflow_id" names its "model" itself`);
  const id = (field: string, what: string) => {
    const value = requireString(record, field, where).trim();
    if (!COZE_ID.test(value)) throw new ConfigError(`${where} field "${field}" is not a Coze ${what} id (the digits at the end of its URL in Coze)`);
    return value;
  };
  const entry: ApiEntry = { kind: "api", index, model, coze_api_token: token, api_base: DEFAULT_API_BASE };
  if (chatflow) {
    entry.workflow_id = id("workflow_id", "workflow");
    if (record.bot_id !== undefined && record.app_id !== undefined) {
      throw new ConfigError(`${where} has both "bot_id" and "app_id": a chatflow runs as a bot or in an app, not both; keep one`);
    }
    if (record.bot_id !== undefined) entry.bot_id = id("bot_id", "bot");
    if (record.app_id !== undefined) entry.app_id = id("app_id", "app");
    if (record.parameters !== undefined) {
      const parameters = record.parameters;
      if (parameters === null || typeof parameters !== "object" || Array.isArray(parameters)) {
        throw new ConfigError(`${where} field "parameters" must be an object of the chatflow's input parameters, got ${describe(parameters)}`);
      }
      entry.parameters = parameters as Record<string, unknown>;
    }
  } else {
    for (const field of ["app_id", "parameters"]) {
      if (record[field] !== undefined) throw new ConfigError(`${where} field "${field}" belongs to a chatflow entry: add "workflow_id", or remove "${field}"`);
    }
    if (record.bot_id === undefined) throw new ConfigError(`${where} is missing "bot_id" (a Coze bot) or "workflow_id" (a Coze chatflow)`);
    entry.bot_id = id("bot_id", "bot");
  }
  if (record.image_hosts !== undefined) {
    const hosts = record.image_hosts;
    if (!Array.isArray(hosts) || !hosts.every((h) => typeof h === "string" && HOST.test(h.trim()))) {
      throw new ConfigError(`${where} field "image_hosts" must be an array of hosts with an optional port (e.g. ["minio:9000"])`);
    }
    entry.image_hosts = hosts.map((h: string) => h.trim().toLowerCase());
  }
  entry.api_base = apiBase(record, where);
  if (record.voices !== undefined) entry.voices = parseVoices(record.voices, where);
  if (record.default_voice !== undefined) entry.default_voice = requireString(record, "default_voice", where).trim();
  return entry;
}

/** An entry with "workspace_id": no "bot_id" and no "model", since the workspace's bots name the models. */
function parseWorkspaceEntry(record: Record<string, unknown>, index: number, where: string): WorkspaceEntry {
  for (const field of ["bot_id", "model", "workflow_id", "app_id", "parameters"]) {
    if (record[field] !== undefined) throw new ConfigError(`${where} field "${field}" cannot go with "workspace_id": the workspace's published bots are the models (drop "${field}", or make this an entry of its own without "workspace_id")`);
  }
  const token = requireString(record, "coze_api_token", where).trim();
  const workspaceId = requireString(record, "workspace_id", where).trim();
  if (!COZE_ID.test(workspaceId)) throw new ConfigError(`${where} field "workspace_id" is not a Coze workspace id (the digits after /space/ in the workspace's URL in Coze)`);
  let prefix = "";
  if (record.model_prefix !== undefined) {
    if (typeof record.model_prefix !== "string") throw new ConfigError(`${where} field "model_prefix" must be a string, got ${describe(record.model_prefix)}`);
    prefix = record.model_prefix.trim();
    if (/\s/.test(prefix)) throw new ConfigError(`${where} field "model_prefix" may not hold white space`);
  }
  return { kind: "workspace", index, coze_api_token: token, workspace_id: workspaceId, api_base: apiBase(record, where), model_prefix: prefix };
}

/** The entry's "api_base" without a trailing slash, or Coze's default. */
function apiBase(record: Record<string, unknown>, where: string): string {
  let apiBase = DEFAULT_API_BASE;
  if (record.api_base !== undefined) {
    const raw = requireString(record, "api_base", where).trim();
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(`${where} field "api_base" is not a URL (e.g. "https://api.coze.com", or "https://api.coze.cn" for 扣子)`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new ConfigError(`${where} field "api_base" must be an http(s) URL`);
    apiBase = raw.replace(/\/+$/, "");
  }
  return apiBase;
}

/** `"voices": {"alloy": "7426…"}`: names to Coze voice ids, both non-empty strings. */
function parseVoices(value: unknown, where: string): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new ConfigError(`${where} field "voices" must be an object of voice names to Coze voice ids, got ${describe(value)}`);
  const voices: Record<string, string> = {};
  for (const [name, id] of Object.entries(value)) {
    if (name.trim() === "") throw new ConfigError(`${where} field "voices" has an empty voice name`);
    if (typeof id !== "string" || id.trim() === "") throw new ConfigError(`${where} field "voices" maps "${name}" to ${typeof id === "string" ? "an empty string" : describe(id)}: give a Coze voice_id`);
    voices[name.trim()] = id.trim();
  }
  return voices;
}

/** A field that must be a non-empty string; the error names the entry and the field. */
function requireString(record: Record<string, unknown>, field: string, where: string): string {
  const value = record[field];
  if (value === undefined) throw new ConfigError(`${where} is missing "${field}"`);
  if (typeof value !== "string") throw new ConfigError(`${where} field "${field}" must be a string, got ${describe(value)}`);
  if (value.trim() === "") throw new ConfigError(`${where} field "${field}" is empty`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}
