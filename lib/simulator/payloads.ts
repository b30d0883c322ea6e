import { apiUser, type SimChannel, type SimGuild, type SimUser } from "./world.ts";

/** Discord's permission bits the relay needs (discord-api-types' PermissionFlagsBits). */
export const Permission = {
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  CreatePublicThreads: 1n << 35n,
  SendMessagesInThreads: 1n << 38n,
} as const;

/** What @everyone may do in the simulated guilds: everything the relay needs; channels take it away per member. */
const EVERYONE = Object.values(Permission).reduce((all, bit) => all | bit, 0n);

/** A channel's overwrites: the permissions it denies to members, as Discord lists them (type 1: a member). */
function overwrites(c: SimChannel) {
  const deny = new Map<string, bigint>();
  const add = (ids: Set<string>, bits: bigint) => ids.forEach((id) => deny.set(id, (deny.get(id) ?? 0n) | bits));
  add(c.denied, Permission.SendMessages | Permission.SendMessagesInThreads);
  add(c.deniedThreads, Permission.CreatePublicThreads);
  add(c.hidden, Permission.ViewChannel);
  return [...deny].map(([id, bits]) => ({ id, type: 1, allow: "0", deny: bits.toString() }));
}

/** The shapes Discord sends for guilds and channels (discord-api-types' APIGuild, APIThreadChannel, APITextChannel). */

/** A thread channel as Discord sends it (discord-api-types' APIThreadChannel). */
export function threadPayload(thread: SimChannel) {
  return {
    id: thread.id,
    type: 11,
    guild_id: thread.guildId,
    parent_id: thread.thread!.parentId,
    owner_id: thread.thread!.ownerId,
    name: thread.name,
    last_message_id: null,
    rate_limit_per_user: 0,
    flags: 0,
    message_count: 0,
    member_count: 1,
    total_message_sent: 0,
    thread_metadata: {
      archived: thread.thread!.archived,
      auto_archive_duration: 1440,
      archive_timestamp: thread.thread!.archiveTimestamp,
      locked: false,
      create_timestamp: thread.thread!.archiveTimestamp,
    },
  };
}

/** A guild text channel as Discord sends it. */
export function channelPayload(c: SimChannel) {
  return { id: c.id, type: 0, guild_id: c.guildId, name: c.name, position: 0, permission_overwrites: overwrites(c), nsfw: false, topic: null, last_message_id: null, rate_limit_per_user: 0, parent_id: null };
}

/** GUILD_CREATE: the guild, its text channels and its active threads. */
export function guildPayload(guild: SimGuild, threads: SimChannel[], me?: SimUser) {
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    owner_id: guild.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 0,
    explicit_content_filter: 0,
    roles: [
      { id: guild.id, name: "@everyone", color: 0, hoist: false, icon: null, unicode_emoji: null, position: 0, permissions: EVERYONE.toString(), managed: false, mentionable: false, flags: 0 },
    ],
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    preferred_locale: "en-US",
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    safety_alerts_channel_id: null,
    joined_at: new Date().toISOString(),
    large: false,
    unavailable: false,
    member_count: guild.members.size,
    voice_states: [],
    // The receiving bot's own member, as Discord includes it: what permissionsFor() reads.
    members: me ? [memberPayload(me)] : [],
    channels: guild.channels.filter((c) => !c.thread).map((c, position) => ({
      id: c.id,
      type: 0,
      guild_id: guild.id,
      name: c.name,
      position,
      permission_overwrites: overwrites(c),
      nsfw: false,
      topic: null,
      last_message_id: null,
      rate_limit_per_user: 0,
      parent_id: null,
    })),
    threads: threads.map(threadPayload),
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}

/** A guild member as Discord sends it. */
export function memberPayload(user: SimUser) {
  return { user: apiUser(user), roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false, flags: 0, nick: null, avatar: null, premium_since: null, pending: false };
}

/** Discord's JSON error shape: `{"message","code"}`, with `errors` for form errors and `retry_after` for rate limits. */
export const discordError = (status: number, code: number, message: string, extra: object = {}, headers: Record<string, string> = {}) =>
  Response.json({ message, code, ...extra }, { status, headers });
