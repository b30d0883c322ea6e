import type { BotEntry, DiscordEntry } from "../config/bots.ts";
import type { Settings } from "../config/settings.ts";
import type { PoolEntry } from "../discord/entry.ts";
import { DiscordPool, entryKey } from "../discord/pool.ts";
import { errorText } from "../error-text.ts";
import { Metrics } from "../metrics.ts";
import { RelayError } from "../relay-error.ts";
import { CozeError } from "../relay/coze-errors.ts";
import { followReply, ReplyStartTimeout } from "../relay/reply-follower.ts";
import { checkApiEntry, PROBE } from "./check-api.ts";

/** One `bot.json` entry's verdict: ok with the time to Coze's first reply, or the problem and its fix. */
export interface CheckRow {
  index: number;
  model: string;
  ok: boolean;
  /** Milliseconds from the probe's post to the first sign of Coze's reply. */
  firstReplyMs?: number;
  problem?: string;
  fix?: string;
}


/**
 * `coze-chat-proxy check`: for every entry, logs in as bot-02, checks the
 * server, the channel and each permission the relay needs, that bot-01 is in
 * the server, then posts a probe mentioning bot-01 in a fresh thread and
 * waits up to REPLY_START_TIMEOUT for an answer. Uses the configuration the
 * service would use; prints no token.
 */
export async function runCheck(settings: Settings, entries: BotEntry[]): Promise<CheckRow[]> {
  const pool = new DiscordPool(entries, {
    discordApiUrl: settings.discordApiUrl,
    globalRateLimit: settings.discordGlobalRateLimit,
    proxyUrl: settings.proxyUrl,
    metrics: new Metrics(),
    maxInFlightPerEntry: settings.maxInFlightPerBot,
    quotaCooldownMs: settings.quotaCooldownMs,
    failureCooldownMs: settings.failureCooldownMs,
  });
  try {
    await pool.start();
    return await Promise.all(entries.map((config) => checkEntry(settings, pool.entry(entryKey(config))!)));
  } finally {
    await pool.stop();
  }
}

async function checkEntry(settings: Settings, entry: PoolEntry): Promise<CheckRow> {
  const row = { index: entry.config.index, model: entry.config.model };
  const fail = (problem: string, fix: string): CheckRow => ({ ...row, ok: false, problem, fix });
  if (entry.api) return checkApiEntry(settings, entry, row, fail);
  const config = entry.config as DiscordEntry;
  if (!entry.connection.usable) {
    const problem = entry.connection.problem ?? "bot-02 could not log in to Discord";
    if (/4004/.test(problem)) return fail("Discord refused bot-02's token (close 4004)", "copy bot-02's token again from the Discord developer portal (Bot → Reset Token) into bot_token");
    if (/4014/.test(problem)) return fail("Discord refused the Message Content intent (close 4014)", "enable 'Message Content Intent' for bot-02 in the developer portal (Bot → Privileged Gateway Intents)");
    return fail(problem, "check DISCORD_API_URL, PROXY_URL and the network; Discord may be down");
  }
  try {
    const look = await entry.connection.inspect(config.guild_id, config.channel_id, config.coze_bot_id);
    if (!look.inGuild) return fail(`bot-02 is not a member of server ${config.guild_id}`, "invite bot-02 to the server (developer portal → OAuth2 → URL Generator, scope bot), or correct guild_id");
    if (look.channel === "unknown") return fail(`channel ${config.channel_id} does not exist (Discord 10003)`, "copy the channel id again (Developer Mode, right-click the channel → Copy Channel ID) into channel_id");
    if (look.missing.length > 0) {
      const threadsOnly = look.missing.every((p) => p === "Create Public Threads" || p === "Send Messages in Threads");
      return fail(
        `bot-02 lacks ${look.missing.join(", ")} in channel ${config.channel_id}`,
        `grant bot-02 ${look.missing.join(", ")} in the channel's permissions${threadsOnly ? ', or set "threads": false for this entry (its requests then share one Coze context)' : ""}`,
      );
    }
    if (look.cozeInGuild === false) {
      return fail(`bot-01 (coze_bot_id ${config.coze_bot_id}) is not a member of the server`, "publish the Coze bot to Discord with bot-01's token and invite bot-01 to the server; check that coze_bot_id is bot-01's user id");
    }
    return await probe(settings, entry, row, fail);
  } catch (error) {
    return fail(`Discord answered unexpectedly: ${errorText(error)}`, "run check again; if it persists, see the README's troubleshooting");
  }
}

/** Posts the probe in a fresh thread (the channel itself for a threadless entry) and waits for Coze. */
async function probe(settings: Settings, entry: PoolEntry, row: { index: number; model: string }, fail: (problem: string, fix: string) => CheckRow): Promise<CheckRow> {
  const config = entry.config as DiscordEntry;
  const signal = new AbortController().signal;
  const limits = { deadline: Date.now() + settings.replyStartTimeoutMs, signal };
  const channelId = config.threads ? await entry.createThread("coze-chat-proxy check", limits) : config.channel_id;
  const posted = performance.now();
  let firstReplyMs: number | undefined;
  try {
    const promptId = await entry.post(channelId, [`<@${config.coze_bot_id}> ${PROBE}`], [], limits);
    await followReply((listener) => entry.follow(promptId, channelId, listener), {
      cozeBotId: config.coze_bot_id,
      startTimeoutMs: settings.replyStartTimeoutMs,
      quietMs: Math.min(settings.replyQuietMs, 5_000),
      totalTimeoutMs: settings.replyTimeoutMs,
      wantImage: false,
      // The first sign of a reply is what counts here: a held-back error text is judged when the reply ends.
      onText: () => (firstReplyMs ??= performance.now() - posted),
    });
    return { ...row, ok: true, firstReplyMs: firstReplyMs ?? performance.now() - posted };
  } catch (error) {
    if (error instanceof CozeError) {
      return error.kind === "quota"
        ? fail(`Coze answered with a quota error: "${error.cozeText}"`, "wait for the quota to reset, or upgrade the Coze plan; add more bots to the model to share the load")
        : fail(`Coze answered with an error: "${error.cozeText}"`, "try again later; if it persists, check the bot in Coze");
    }
    if (error instanceof ReplyStartTimeout) {
      return fail(
        `no answer from bot-01 within REPLY_START_TIMEOUT (${settings.replyStartTimeoutMs / 1000} s)`,
        "in this order: (1) your Coze bot may ignore messages from bots, as Coze has since February 2024: mention bot-01 yourself in the channel; " +
          "if only your mention is answered, this is the cause, and Coze's API is the way in instead; (2) the Coze bot is offline or not published to Discord; " +
          "(3) bot-01 cannot see the channel or its threads",
      );
    }
    if (error instanceof RelayError) return fail(error.message, "see the README's troubleshooting");
    throw error;
  } finally {
    if (config.threads) await entry.connection.setArchived(channelId, true).catch(() => {});
  }
}

/** The rows as a table a person reads. */
export function formatRows(rows: CheckRow[]): string {
  const lines = rows.map((r) => {
    const name = `entry ${r.index} (${r.model})`;
    if (r.ok) return `${name}  ok  first reply after ${((r.firstReplyMs ?? 0) / 1000).toFixed(1)} s`;
    return `${name}  FAIL  ${r.problem}\n    fix: ${r.fix}`;
  });
  const failed = rows.filter((r) => !r.ok).length;
  lines.push("", failed === 0 ? `all ${rows.length} entries work` : `${failed} of ${rows.length} entries need attention`);
  return lines.join("\n");
}
