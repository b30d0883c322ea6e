import { errorText } from "../error-text.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import { PROBE, type CheckVerdict, type ReplyTimings } from "../pool/seam.ts";
import { CallLimits } from "./call-limits.ts";
import type { DiscordChannel } from "./channel.ts";
import { CozeErrorText } from "./coze-errors.ts";
import { followReply } from "./reply-follower.ts";

const fail = (problem: string, fix: string): CheckVerdict => ({ ok: false, problem, fix });

/**
 * `check` for a Discord entry: bot-02 logged in, sees the server and the
 * channel and holds each permission the relay needs, bot-01 is in the
 * server; then a probe mentioning bot-01 in a fresh thread, whose first
 * answer is timed.
 */
export async function checkDiscordEntry(channel: DiscordChannel, timings: ReplyTimings): Promise<CheckVerdict> {
  const { connection, entry } = channel;
  if (!connection.usable) {
    if (connection.fatalCode === 4004) return fail("Discord refused bot-02's token (close 4004)", "copy bot-02's token again from the Discord developer portal (Bot → Reset Token) into bot_token");
    if (connection.fatalCode === 4014) return fail("Discord refused the Message Content intent (close 4014)", "enable 'Message Content Intent' for bot-02 in the developer portal (Bot → Privileged Gateway Intents)");
    return fail(connection.problem ?? "bot-02 could not log in to Discord", "check DISCORD_API_URL, PROXY_URL and the network; Discord may be down");
  }
  try {
    const look = await connection.inspect(entry.guild_id, entry.channel_id, entry.coze_bot_id);
    if (!look.inGuild) return fail(`bot-02 is not a member of server ${entry.guild_id}`, "invite bot-02 to the server (developer portal → OAuth2 → URL Generator, scope bot), or correct guild_id");
    if (look.channel === "unknown") return fail(`channel ${entry.channel_id} does not exist (Discord 10003)`, "copy the channel id again (Developer Mode, right-click the channel → Copy Channel ID) into channel_id");
    if (look.missing.length > 0) {
      const threadsOnly = look.missing.every((p) => p === "Create Public Threads" || p === "Send Messages in Threads");
      return fail(
        `bot-02 lacks ${look.missing.join(", ")} in channel ${entry.channel_id}`,
        `grant bot-02 ${look.missing.join(", ")} in the channel's permissions${threadsOnly ? ', or set "threads": false for this entry (its requests then share one Coze context)' : ""}`,
      );
    }
    if (look.cozeInGuild === false) {
      return fail(`bot-01 (coze_bot_id ${entry.coze_bot_id}) is not a member of the server`, "publish the Coze bot to Discord with bot-01's token and invite bot-01 to the server; check that coze_bot_id is bot-01's user id");
    }
    return await probe(channel, timings);
  } catch (error) {
    return fail(`Discord answered unexpectedly: ${errorText(error)}`, "run check again; if it persists, see the README's troubleshooting");
  }
}

/**
 * Posts the fixed neutral probe in a fresh thread (the channel itself for a
 * threadless entry) and follows Coze's answer; resolves with the time to its
 * first text, and fails as the reply would (a CozeErrorText for an error text).
 * `check` asks it, and so does the pool of a suspect entry.
 */
export async function askProbe(channel: DiscordChannel, timings: ReplyTimings): Promise<number> {
  const { entry } = channel;
  const signal = new AbortController().signal;
  const limits = new CallLimits(Date.now() + timings.replyStartTimeoutMs, signal);
  const channelId = entry.threads ? await channel.createThread("coze-chat-proxy check", limits).finally(() => limits.close()) : entry.channel_id;
  const posted = performance.now();
  let firstReplyMs: number | undefined;
  try {
    const promptId = await channel.post(channelId, [`${channel.mention} ${PROBE}`], [], limits);
    await followReply((listener) => channel.follow(promptId, channelId, listener), {
      cozeBotId: entry.coze_bot_id,
      startTimeoutMs: timings.replyStartTimeoutMs,
      quietMs: Math.min(timings.replyQuietMs, 5_000),
      totalTimeoutMs: timings.replyTimeoutMs,
      wantImage: false,
      // The first sign of a reply is what counts here: a held-back error text is judged when the reply ends.
      onText: () => (firstReplyMs ??= performance.now() - posted),
    });
    return firstReplyMs ?? performance.now() - posted;
  } finally {
    limits.close();
    if (entry.threads) await channel.connection.setArchived(channelId, true).catch(() => {});
  }
}

/** `check`'s probe: the time to Coze's first answer, or the problem and its fix. */
async function probe(channel: DiscordChannel, timings: ReplyTimings): Promise<CheckVerdict> {
  try {
    return { ok: true, firstReplyMs: await askProbe(channel, timings) };
  } catch (error) {
    if (error instanceof CozeErrorText) {
      return error.errorKind === "quota"
        ? fail(`Coze answered with a quota error: "${error.cozeText}"`, "wait for the quota to reset, or upgrade the Coze plan; add more bots to the model to share the load")
        : fail(`Coze answered with an error: "${error.cozeText}"`, "try again later; if it persists, check the bot in Coze");
    }
    if (error instanceof UpstreamFailure && error.kind === "start-timeout") {
      return fail(
        `no answer from bot-01 within REPLY_START_TIMEOUT (${timings.replyStartTimeoutMs / 1000} s)`,
        "in this order: (1) your Coze bot may ignore messages from bots, as Coze has since February 2024: mention bot-01 yourself in the channel; " +
          "if only your mention is answered, this is the cause, and Coze's API is the way in instead; (2) the Coze bot is offline or not published to Discord; " +
          "(3) bot-01 cannot see the channel or its threads",
      );
    }
    if (error instanceof UpstreamFailure) return fail(error.message, "see the README's troubleshooting");
    throw error;
  }
}
