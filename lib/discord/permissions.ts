import type { Client as DiscordClient } from "discord.js";
import { PermissionFlagsBits } from "./discord-js.ts";

/** The permissions bot-02 needs in an entry's channel, by the names Discord's settings show. */
const NEEDED_PERMISSIONS = [
  ["View Channel", PermissionFlagsBits.ViewChannel],
  ["Send Messages", PermissionFlagsBits.SendMessages],
  ["Send Messages in Threads", PermissionFlagsBits.SendMessagesInThreads],
  ["Create Public Threads", PermissionFlagsBits.CreatePublicThreads],
  ["Read Message History", PermissionFlagsBits.ReadMessageHistory],
  ["Attach Files", PermissionFlagsBits.AttachFiles],
] as const;

/**
 * The permissions of NEEDED_PERMISSIONS bot-02 lacks in a channel, by name,
 * from its permissions there as computed from the server's roles and the
 * channel's overwrites (kept current by the gateway); undefined when the
 * server or channel is not known. Discord's own error only says "Missing
 * Permissions".
 */
export function missingIn(client: DiscordClient, guildId: string, channelId: string): string[] | undefined {
  const me = client.user;
  const permissions = me ? client.guilds.cache.get(guildId)?.channels.cache.get(channelId)?.permissionsFor(me) : undefined;
  return permissions ? NEEDED_PERMISSIONS.filter(([, bit]) => !permissions.has(bit)).map(([name]) => name) : undefined;
}
