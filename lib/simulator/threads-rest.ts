import { channelPayload, discordError, threadPayload } from "./payloads.ts";
import type { SimulatedDiscord } from "./simulated-discord.ts";
import type { SimChannel, SimUser } from "./world.ts";

/**
 * The thread routes of Discord's API v10 (discord-api-types' Routes.threads
 * and Routes.channel): start a thread without a message or from one, read a
 * channel, archive and unarchive a thread. Each keeps Discord's rules:
 * membership, the Create Public Threads permission, 1 to 100 characters of
 * name, 1000 active threads per guild (160006), one thread per message
 * (160004), and a rate limit on thread creation per parent channel (Discord
 * publishes no figure: this one is the messages' 5 per 5 s).
 */
export async function handleThreadRoute(sim: SimulatedDiscord, req: Request, user: SimUser, route: string): Promise<Response | undefined> {
  const start = /^\/channels\/(\d+)(?:\/messages\/(\d+))?\/threads$/.exec(route);
  if (start && req.method === "POST") return startThread(sim, req, user, start[1], start[2]);
  const channel = /^\/channels\/(\d+)$/.exec(route);
  if (!channel) return undefined;
  const found = sim.channels.get(channel[1]);
  if (!found || !sim.guilds.get(found.guildId)?.members.has(user.id)) return discordError(404, 10003, "Unknown Channel");
  if (req.method === "GET") return Response.json(found.thread ? threadPayload(found) : channelPayload(found));
  if (req.method === "PATCH") {
    if (!found.thread) return discordError(400, 50024, "Cannot execute action on this channel type");
    const body = (await req.json().catch(() => null)) as { archived?: unknown } | null;
    if (typeof body?.archived === "boolean") sim.setArchived(found, body.archived);
    return Response.json(threadPayload(found));
  }
  return discordError(405, 0, "405: Method Not Allowed");
}

async function startThread(sim: SimulatedDiscord, req: Request, user: SimUser, parentId: string, messageId: string | undefined): Promise<Response> {
  const parent = sim.channels.get(parentId);
  if (!parent) return discordError(404, 10003, "Unknown Channel");
  if (!sim.guilds.get(parent.guildId)?.members.has(user.id)) return discordError(403, 50001, "Missing Access");
  if (parent.thread) return discordError(400, 50024, "Cannot execute action on this channel type");
  if (parent.deniedThreads.has(user.id)) return discordError(403, 50013, "Missing Permissions");
  const limit = sim.threadRateLimitFor(user, parent)?.take();
  if (limit?.retryAfterMs !== undefined) {
    return Response.json({ message: "You are being rate limited.", retry_after: limit.retryAfterMs / 1000, global: false }, { status: 429, headers: limit.headers });
  }
  const body = (await req.json().catch(() => null)) as { name?: unknown } | null;
  const name = typeof body?.name === "string" ? body.name : "";
  if ([...name].length < 1 || [...name].length > 100) {
    return Response.json(
      { message: "Invalid Form Body", code: 50035, errors: { name: { _errors: [{ code: "BASE_TYPE_BAD_LENGTH", message: "Must be between 1 and 100 in length." }] } } },
      { status: 400 },
    );
  }
  if (messageId !== undefined) {
    const message = sim.messages.get(messageId)?.message;
    if (!message || message.channel_id !== parent.id) return discordError(404, 10008, "Unknown Message");
    if (sim.channels.has(messageId)) return discordError(400, 160004, "A thread has already been created for this message");
  }
  if (sim.activeThreadCount(parent.guildId) >= sim.activeThreadLimit) return discordError(400, 160006, "Maximum number of active threads reached");
  const thread: SimChannel = sim.createThread(parent, user, name, messageId);
  return Response.json(threadPayload(thread), { status: 201, headers: limit?.headers });
}
