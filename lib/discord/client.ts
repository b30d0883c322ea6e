import type { Client as DiscordClient } from "discord.js";
import { waitMissesDeadline } from "./deadline.ts";
import { Client, GatewayIntentBits, Options, Partials } from "./discord-js.ts";
import { MultipartBody } from "../multipart-body.ts";

export interface ClientOptions {
  discordApiUrl: string;
  /** Requests per second discord.js allows itself per bot token (Discord's global limit). */
  globalRateLimit: number;
  proxyUrl?: string;
}

/**
 * A discord.js client set up for relaying: the three intents a relay needs,
 * partials so that edits of uncached messages still arrive, caches that keep
 * nothing the relay does not read, and REST that waits out a rate limit only
 * while the request it works for can still be answered in time.
 */
export function createClient(options: ClientOptions): DiscordClient {
  return new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
    partials: [Partials.Message, Partials.Channel],
    rest: {
      api: options.discordApiUrl,
      // One retry of a 5xx: another entry is a better second try than the same channel again.
      retries: 1,
      globalRequestsPerSecond: options.globalRateLimit,
      // Every thread is a channel of its own, so discord.js keeps a rate-limit handler per thread; by
      // default it sweeps idle ones hourly, which under load holds tens of MB of handlers for threads
      // long done with. Idle handlers carry no limit state worth keeping (a new one learns from headers).
      handlerSweepInterval: 5_000,
      // A rate limit is waited out while the request's start deadline allows; past it the call fails and the request moves on.
      rejectOnRateLimit: (limit) => waitMissesDeadline(limit.retryAfter),
      makeRequest: bunFetch(options.proxyUrl),
    },
    // A relay reads replies from raw gateway payloads and keeps nothing:
    // without these limits discord.js would cache every message and user it sees.
    makeCache: Options.cacheWithLimits({
      MessageManager: 0,
      ReactionManager: 0,
      ReactionUserManager: 0,
      PresenceManager: 0,
      ThreadManager: 0,
      ThreadMemberManager: 0,
      VoiceStateManager: 0,
      GuildEmojiManager: 0,
      GuildStickerManager: 0,
      GuildScheduledEventManager: 0,
      StageInstanceManager: 0,
      GuildInviteManager: 0,
      GuildBanManager: 0,
      AutoModerationRuleManager: 0,
      GuildMemberManager: { maxSize: 0, keepOverLimit: (member) => member.id === member.client.user.id },
      UserManager: { maxSize: 0, keepOverLimit: (user) => user.id === user.client.user.id },
    }),
    sweepers: {},
  });
}

/**
 * discord.js's REST through Bun's fetch (discord.js's own choice on Bun),
 * with PROXY_URL when set, and a file-carrying body (multipart-body.ts) streamed
 * with its length.
 */
function bunFetch(proxy: string | undefined) {
  // discord.js types `init` with undici's RequestInit; Bun's fetch takes the same fields plus `proxy`.
  return (url: string, init: { body?: unknown; headers?: unknown }) => {
    if (init.body instanceof MultipartBody) {
      // discord.js passes its headers as a plain object.
      const headers = { ...(init.headers as Record<string, string>), "Content-Length": String(init.body.size) };
      return fetch(url, { ...init, headers, body: init.body as never, proxy } as RequestInit) as Promise<never>;
    }
    return fetch(url, { ...init, proxy } as RequestInit) as Promise<never>;
  };
}
