import type { Client } from "discord.js";

/**
 * The relay reads messages and threads from raw gateway payloads (the `raw`
 * event comes first), so discord.js turning each of those dispatches into
 * Message, User, Member and ThreadChannel objects is pure cost: about a third
 * of the service's CPU under load (bun run bench), and a cache that grows
 * with every thread. Those events skip discord.js's handlers; every other
 * event (READY, GUILD_CREATE, RESUMED…) goes through as usual.
 *
 * `handlePacket` is internal to discord.js (14.28.1 is pinned). If it goes
 * away this returns false, discord.js keeps its slower path, and
 * test/discord-patches.test.ts fails so that an upgrade cannot lose it quietly.
 */
export const SKIPPED_PACKETS = new Set([
  "MESSAGE_CREATE",
  "MESSAGE_UPDATE",
  "MESSAGE_DELETE",
  "MESSAGE_DELETE_BULK",
  "TYPING_START",
  "THREAD_CREATE",
  "THREAD_UPDATE",
  "THREAD_DELETE",
  "THREAD_LIST_SYNC",
  "THREAD_MEMBER_UPDATE",
  "THREAD_MEMBERS_UPDATE",
]);

export function skipPacketObjects(client: Client): boolean {
  const manager = client.ws as unknown as { handlePacket?: (packet?: { t?: string }, shard?: unknown) => boolean };
  const handle = manager.handlePacket;
  if (typeof handle !== "function") return false;
  manager.handlePacket = (packet, shard) => (packet?.t && SKIPPED_PACKETS.has(packet.t) ? true : handle.call(manager, packet, shard));
  return true;
}
