import { ConfigError } from "./config-error.ts";
import { LOG_LEVELS, type LogLevel } from "../log.ts";

/** Everything the service reads from its environment, resolved and checked once at start. */
export interface Settings {
  host: string;
  port: number;
  botConfig: string;
  /** Accepted API keys. */
  authTokens: string[];
  /** True when no AUTH_TOKEN was set and `authTokens` holds one random key made at start. */
  authGenerated: boolean;
  logLevel: LogLevel;
  discordApiUrl: string;
  /** Discord's global limit on requests per second for one bot token (50 unless Discord raised it). */
  discordGlobalRateLimit: number;
  proxyUrl: string | undefined;
  replyStartTimeoutMs: number;
  replyQuietMs: number;
  replyTimeoutMs: number;
  maxBodyBytes: number;
  /** How long a client may take to send its whole request body (408 after). */
  bodyTimeoutMs: number;
  /** Most images one `/v1/images/generations` request may ask for. */
  maxImages: number;
  /** Requests in flight at most, over all bots; beyond it a fast 429. */
  maxInFlight: number;
  /** Requests in flight at most on one bot.json entry; a full entry is skipped. */
  maxInFlightPerBot: number;
  /** Discord messages a request's new turns may become at most (PROMPT_MAX_POSTS); a longer prompt is a 400 on Discord entries. */
  promptMaxPosts: number;
  /** How long an entry rests after Coze reports a quota error. */
  quotaCooldownMs: number;
  /** First rest of an entry whose post failed; doubles with each failure in a row, up to 5 minutes. */
  failureCooldownMs: number;
  /** Where the SQLite store (conversations, rests) lives. */
  dataDir: string;
  /** postgres://… : the state lives in this PostgreSQL database instead (several instances share it). */
  databaseUrl: string | undefined;
  /** How many times a long answer that Coze cut at 2000 characters is continued; 0 off. */
  autoContinue: number;
  /** A conversation's thread idle this long is archived. */
  threadIdleMs: number;
  /** How long a conversation is remembered. */
  conversationTtlMs: number;
  /** Base of the image URLs the service returns; undefined: the URL each request came to. */
  publicUrl: string | undefined;
  /** How long stored images are kept, and how many bytes of them at most. */
  imageTtlMs: number;
  imageStoreMax: number;
  /** Decoded image-input bytes all requests together may hold at once. */
  imageInputMemory: number;
  /** Honour X-Forwarded-Proto/-Host from a reverse proxy in front (cookies, login origin, image URLs). */
  trustProxy: boolean;
  /** Let image URLs reach loopback and private addresses (a homelab's own image server). */
  allowPrivateImageUrls: boolean;
  /** How long one image download may take. */
  imageFetchTimeoutMs: number;
  /** `/metrics` needs the API key too (for a port exposed beyond the monitoring network). */
  metricsAuth: boolean;
  /** How long SIGTERM lets replies in flight finish. */
  shutdownGraceMs: number;
  /**
   * Seconds an idle connection stays open (relay requests are exempt while they wait), derived from
   * BODY_TIMEOUT so that it is always longer.
   */
  idleTimeoutSeconds: number;
  /** How often the bots of `workspace_id` entries are listed again. */
  workspaceRefreshMs: number;
  /** How often a waiting stream sends `: keepalive` (15 s, as OpenAI-style streams expect). */
  keepaliveMs: number;
  /** The model that serves OpenAI's own audio model names (`tts-1`, `whisper-1`, …) and an empty one; else the first with an API entry. */
  audioModel: string | undefined;
}

type Env = Record<string, string | undefined>;

export function readSettings(env: Env): Settings {
  const tokens = (env.AUTH_TOKEN ?? "").split(",").map((t) => t.trim()).filter(Boolean);
  const authGenerated = tokens.length === 0;
  if (authGenerated) tokens.push(`sk-${randomKey()}`);
  const startMs = seconds(env, "REPLY_START_TIMEOUT", 60);
  const replyMs = seconds(env, "REPLY_TIMEOUT", 300);
  const bodyMs = seconds(env, "BODY_TIMEOUT", 30, MAX_IDLE_SECONDS - IDLE_MARGIN_SECONDS);
  return {
    host: env.SERVER_HOST?.trim() || "0.0.0.0",
    port: integer(env, "SERVER_PORT", 8080, 0, 65535),
    botConfig: env.BOT_CONFIG?.trim() || "bot.json",
    authTokens: tokens,
    authGenerated,
    logLevel: logLevel(env.LOG_LEVEL),
    discordApiUrl: url(env, "DISCORD_API_URL", "https://discord.com/api")!.replace(/\/+$/, ""),
    discordGlobalRateLimit: integer(env, "DISCORD_GLOBAL_RATE_LIMIT", 50, 1, 100_000),
    proxyUrl: url(env, "PROXY_URL", undefined),
    replyStartTimeoutMs: startMs,
    replyQuietMs: seconds(env, "REPLY_QUIET", 15),
    replyTimeoutMs: replyMs,
    maxBodyBytes: size(env, "MAX_BODY_SIZE", 20 * MIB, 1024, 1 << 30),
    bodyTimeoutMs: bodyMs,
    maxImages: integer(env, "MAX_IMAGES", 4, 1, 10),
    maxInFlight: integer(env, "MAX_IN_FLIGHT", 1000, 1, 100_000),
    maxInFlightPerBot: integer(env, "MAX_IN_FLIGHT_PER_BOT", 200, 1, 100_000),
    quotaCooldownMs: seconds(env, "QUOTA_COOLDOWN", 600),
    failureCooldownMs: seconds(env, "FAILURE_COOLDOWN", 5),
    shutdownGraceMs: seconds(env, "SHUTDOWN_GRACE", 30),
    dataDir: env.DATA_DIR?.trim() || "./data",
    databaseUrl: databaseUrl(env),
    autoContinue: integer(env, "AUTO_CONTINUE", 3, 0, 20),
    promptMaxPosts: integer(env, "PROMPT_MAX_POSTS", 8, 1, 100),
    threadIdleMs: seconds(env, "THREAD_IDLE", 600),
    conversationTtlMs: seconds(env, "CONVERSATION_TTL", 604_800, 90 * 86_400),
    publicUrl: url(env, "PUBLIC_URL", undefined)?.replace(/\/+$/, ""),
    imageTtlMs: seconds(env, "IMAGE_TTL", 30 * 86_400, 3650 * 86_400),
    imageStoreMax: size(env, "IMAGE_STORE_MAX", 1 << 30, 1 << 20, 2 ** 50),
    allowPrivateImageUrls: boolean(env, "ALLOW_PRIVATE_IMAGE_URLS", false),
    imageInputMemory: size(env, "IMAGE_INPUT_MEMORY", 256 * MIB, 16 * MIB, 2 ** 40),
    trustProxy: boolean(env, "TRUST_PROXY", false),
    imageFetchTimeoutMs: seconds(env, "IMAGE_FETCH_TIMEOUT", 15, 60),
    metricsAuth: boolean(env, "METRICS_AUTH", false),
    workspaceRefreshMs: seconds(env, "WORKSPACE_REFRESH", 600),
    idleTimeoutSeconds: idleTimeoutFor(bodyMs),
    keepaliveMs: 15_000,
    audioModel: present(env, "AUDIO_MODEL"),
  };
}

/** Bun's longest idle timeout, in seconds. */
const MAX_IDLE_SECONDS = 255;
/**
 * How much longer the server's idle timeout is than BODY_TIMEOUT. Bun's idle
 * timer is not reset by the bytes of a request body and is coarse (it fires up
 * to a second early or late), so a timeout equal to BODY_TIMEOUT closed a slow
 * client's connection before its 408 went out.
 */
const IDLE_MARGIN_SECONDS = 5;

/** The server's idle timeout for a BODY_TIMEOUT: always past it, so that a slow body gets its 408. */
export function idleTimeoutFor(bodyTimeoutMs: number): number {
  return Math.min(MAX_IDLE_SECONDS, Math.ceil(bodyTimeoutMs / 1000) + IDLE_MARGIN_SECONDS);
}

/** DATABASE_URL: a postgres:// URL; the error never repeats it (it carries a password). */
function databaseUrl(env: Env): string | undefined {
  const raw = present(env, "DATABASE_URL");
  if (raw === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    // reported below
  }
  if (!url || !["postgres:", "postgresql:"].includes(url.protocol) || !url.hostname) {
    throw new ConfigError("DATABASE_URL must be a PostgreSQL URL (postgres://user:password@host:5432/database)");
  }
  return raw;
}

function randomKey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url");
}

function present(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === "" ? undefined : value;
}

function seconds(env: Env, name: string, fallback: number, max = 86_400): number {
  const raw = present(env, name);
  if (raw === undefined) return fallback * 1000;
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || !(value > 0)) {
    throw new ConfigError(`${name} must be a number of seconds above 0 (decimals allowed), got "${raw}"`);
  }
  if (value > max) throw new ConfigError(`${name} must be at most ${max} seconds, got "${raw}"`);
  return Math.round(value * 1000);
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

const MIB = 1024 * 1024;
const UNITS: Record<string, number> = { "": 1, kib: 1024, mib: MIB, gib: 1024 * MIB };

/** Bytes, or a number with KiB, MiB or GiB (`256 MiB`, `1.5GiB`). */
function size(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  const match = /^(\d*\.?\d+)\s*(kib|mib|gib)?$/i.exec(raw);
  const value = match ? Math.floor(Number(match[1]) * UNITS[(match[2] ?? "").toLowerCase()]) : NaN;
  if (!(value >= min && value <= max)) {
    throw new ConfigError(`${name} must be a size from ${sizeText(min)} to ${sizeText(max)} (bytes, or a number with KiB, MiB or GiB), got "${raw}"`);
  }
  return value;
}

function sizeText(bytes: number): string {
  const [unit, factor] = Object.entries(UNITS).filter(([, f]) => bytes % f === 0).sort((a, b) => b[1] - a[1])[0];
  return unit === "" ? `${bytes} bytes` : `${bytes / factor} ${unit.replace("ib", "iB").replace(/^./, (c) => c.toUpperCase())}`;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = present(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["true", "1", "yes", "on"].includes(raw)) return true;
  if (["false", "0", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function logLevel(raw: string | undefined): LogLevel {
  const value = (raw?.trim() || "info").toLowerCase();
  if (value === "warning") return "warn";
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${raw}"`);
  }
  return value as LogLevel;
}

function url(env: Env, name: string, fallback: string | undefined): string | undefined {
  const raw = present(env, name);
  if (raw === undefined) return fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError(`${name} must be an http:// or https:// URL`);
  }
  return raw;
}
