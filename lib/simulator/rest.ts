import { CONTENT_LIMIT } from "./limits.ts";
import type { SimulatedDiscord } from "./simulated-discord.ts";
import type { AllowedMentions, SimUser, StoredFile } from "./world.ts";
import { compareSnowflakes } from "./snowflake.ts";
import { discordError, memberPayload } from "./payloads.ts";
import { handleThreadRoute } from "./threads-rest.ts";

const unauthorized = () => discordError(401, 0, "401: Unauthorized");
const notFound = () => discordError(404, 0, "404: Not Found");

/**
 * The REST routes a relay uses, under `/api/v10`, and the CDN under `/cdn`.
 * Each keeps the rule Discord keeps: the token, the channel, membership and
 * permissions, the content limit, the per-channel rate limit.
 */
export async function handleRest(sim: SimulatedDiscord, req: Request, url: URL): Promise<Response> {
  const path = url.pathname;
  if (sim.unreachable) return brokenConnection();
  if (path.startsWith("/cdn/")) return cdn(sim, url);
  const match = /^\/api\/v(\d+)(\/.*)$/.exec(path);
  if (!match) return notFound();
  if (match[1] !== "10") return discordError(400, 50041, "Invalid API version provided.");
  const route = match[2];
  const user = authenticate(sim, req);
  if (!user) return unauthorized();
  const global = sim.globalLimitFor(user)?.take();
  if (global?.retryAfterMs !== undefined) {
    // Discord's global limit answers with X-RateLimit-Global and no per-route bucket headers.
    const seconds = global.retryAfterMs / 1000;
    return discordError(429, 0, "You are being rate limited.", { retry_after: seconds, global: true }, {
      "retry-after": String(Math.ceil(seconds)),
      "x-ratelimit-global": "true",
      "x-ratelimit-scope": "global",
    });
  }

  if (route === "/gateway/bot" && req.method === "GET") {
    return Response.json({
      url: `ws://127.0.0.1:${sim.port}/gateway`,
      shards: 1,
      session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
    });
  }
  if (route === "/users/@me" && req.method === "GET") {
    return Response.json({ id: user.id, username: user.username, discriminator: "0", global_name: null, avatar: null, bot: true });
  }
  const member = /^\/guilds\/(\d+)\/members\/(\d+)$/.exec(route);
  if (member && req.method === "GET") {
    const guild = sim.guilds.get(member[1]);
    if (!guild || !guild.members.has(user.id)) return discordError(404, 10004, "Unknown Guild");
    const found = guild.members.has(member[2]) ? sim.users.get(member[2]) : undefined;
    return found ? Response.json(memberPayload(found)) : discordError(404, 10007, "Unknown Member");
  }
  const channelRoute = /^\/channels\/(\d+)/.exec(route);
  if (channelRoute && sim.channels.get(channelRoute[1])?.hidden.has(user.id)) return discordError(403, 50001, "Missing Access");
  const messages = /^\/channels\/(\d+)\/messages(?:\/(\d+))?$/.exec(route);
  if (messages) {
    const [, channelId, messageId] = messages;
    if (!messageId && req.method === "POST") return postMessage(sim, req, user, channelId);
    if (!messageId && req.method === "GET") return listMessages(sim, url, channelId);
    if (messageId && (req.method === "GET" || req.method === "DELETE" || req.method === "PATCH")) {
      const stored = sim.messages.get(messageId);
      if (!stored || stored.message.channel_id !== channelId) return discordError(404, 10008, "Unknown Message");
      if (req.method === "GET") return Response.json(stored.message);
      if (req.method === "DELETE") {
        if (stored.message.author.id !== user.id) return discordError(403, 50013, "Missing Permissions");
        sim.deleteMessage(messageId);
        return new Response(null, { status: 204 });
      }
      if (stored.message.author.id !== user.id) return discordError(403, 50005, "Cannot edit a message authored by another user");
      const body = (await req.json().catch(() => null)) as { content?: string } | null;
      if (body?.content !== undefined && [...body.content].length > CONTENT_LIMIT) return tooLong();
      return Response.json(sim.editMessage(messageId, { content: body?.content }));
    }
    return discordError(405, 0, "405: Method Not Allowed");
  }
  return (await handleThreadRoute(sim, req, user, route)) ?? notFound();
}

/** A network failure: the answer breaks off before its declared length. */
function brokenConnection(): Response {
  const partial = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('{"id":"')), c.close()) });
  return new Response(partial, { headers: { "content-type": "application/json", "content-length": "4096" } });
}

function authenticate(sim: SimulatedDiscord, req: Request): SimUser | undefined {
  const header = req.headers.get("authorization") ?? "";
  const match = /^Bot (.+)$/.exec(header);
  if (!match) return undefined;
  for (const user of sim.users.values()) if (user.token === match[1]) return user;
  return undefined;
}

function tooLong(): Response {
  return discordError(400, 50035, "Invalid Form Body", {
    errors: { content: { _errors: [{ code: "BASE_TYPE_MAX_LENGTH", message: `Must be ${CONTENT_LIMIT} or fewer in length.` }] } },
  });
}

interface MessageBody {
  content?: string;
  allowed_mentions?: AllowedMentions;
  message_reference?: { message_id?: string };
  attachments?: { id: number | string; filename?: string }[];
  embeds?: unknown[];
}

async function postMessage(sim: SimulatedDiscord, req: Request, user: SimUser, channelId: string): Promise<Response> {
  const channel = sim.channels.get(channelId);
  if (!channel) return discordError(404, 10003, "Unknown Channel");
  const guild = sim.guilds.get(channel.guildId)!;
  if (!guild.members.has(user.id)) return discordError(403, 50001, "Missing Access");
  if (channel.denied.has(user.id)) return discordError(403, 50013, "Missing Permissions");

  const fault = sim.takePostFault();
  if (fault === 429) {
    return discordError(429, 0, "You are being rate limited.", { retry_after: 0.25, global: false }, {
      "retry-after": "1",
      "x-ratelimit-scope": "shared",
      "x-ratelimit-limit": "5",
      "x-ratelimit-remaining": "0",
      "x-ratelimit-reset-after": "0.250",
    });
  }
  if (fault === 0) return brokenConnection();
  if (fault !== undefined) return discordError(fault, 0, `${fault}: Internal Server Error`);

  const limit = sim.rateLimitFor(user, channel)?.take();
  if (limit?.retryAfterMs !== undefined) {
    return discordError(429, 0, "You are being rate limited.", { retry_after: limit.retryAfterMs / 1000, global: false }, limit.headers);
  }

  let body: MessageBody;
  const files: StoredFile[] = [];
  const type = req.headers.get("content-type") ?? "";
  try {
    if (type.startsWith("multipart/form-data")) {
      // Discord (behind Cloudflare) refuses a body without a length: 411 Length Required, HTML, no JSON.
      if (req.headers.get("content-length") === null) return new Response("<html><body><h1>411 Length Required</h1></body></html>", { status: 411, headers: { "content-type": "text/html" } });
      const form = await req.formData();
      body = JSON.parse(String(form.get("payload_json") ?? "{}"));
      for (const [key, value] of form) {
        const index = /^files\[(\d+)\]$/.exec(key);
        if (!index || typeof value === "string") continue;
        const declared = body.attachments?.find((a) => String(a.id) === index[1]);
        files.push(
          sim.storeFile({
            filename: declared?.filename ?? value.name ?? `file-${index[1]}`,
            contentType: value.type || "application/octet-stream",
            data: new Uint8Array(await value.arrayBuffer()),
          }),
        );
      }
    } else body = (await req.json()) as MessageBody;
  } catch {
    return discordError(400, 50109, "The request body contains invalid JSON.");
  }
  if (body.content !== undefined && typeof body.content !== "string") return discordError(400, 50035, "Invalid Form Body");
  const content = body.content ?? "";
  if ([...content].length > CONTENT_LIMIT) return tooLong();
  if (content === "" && files.length === 0 && !body.embeds?.length) return discordError(400, 50006, "Cannot send an empty message");
  const allowed = body.allowed_mentions;
  if (allowed?.parse?.includes("users") && allowed.users?.length) {
    return discordError(400, 50035, "Invalid Form Body", {
      errors: { allowed_mentions: { _errors: [{ code: "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE", message: 'parse:["users"] and users: [ids] are mutually exclusive.' }] } },
    });
  }
  const message = sim.createMessage(channel, user, {
    content,
    files,
    allowedMentions: allowed,
    referenceId: body.message_reference?.message_id,
  });
  if (sim.postResponseDelayMs > 0) await Bun.sleep(sim.postResponseDelayMs);
  return Response.json(message, { headers: limit?.headers });
}

/** `GET /channels/{id}/messages?after=&limit=`: newest first, as Discord returns them. */
function listMessages(sim: SimulatedDiscord, url: URL, channelId: string): Response {
  if (!sim.channels.has(channelId)) return discordError(404, 10003, "Unknown Channel");
  const after = url.searchParams.get("after");
  const limit = Math.min(100, Math.max(1, Number(url.searchParams.get("limit") ?? 50) || 50));
  const list = [...sim.messages.values()]
    .map((m) => m.message)
    .filter((m) => m.channel_id === channelId && (after === null || compareSnowflakes(m.id, after) > 0))
    .sort((a, b) => compareSnowflakes(a.id, b.id));
  return Response.json((after === null ? list.slice(-limit) : list.slice(0, limit)).reverse());
}

function cdn(sim: SimulatedDiscord, url: URL): Response {
  const match = /^\/cdn\/attachments\/(\d+)\/(\d+)\/([^/]+)$/.exec(url.pathname);
  const file = match ? sim.files.get(match[2]) : undefined;
  if (!file) return new Response("Not Found", { status: 404 });
  const expires = parseInt(url.searchParams.get("ex") ?? "", 16);
  if (!(expires > Date.now() / 1000) || url.searchParams.get("hm") !== sim.sign(url.pathname, expires)) {
    return new Response("This content is no longer available.", { status: 404 });
  }
  return new Response(file.data, { headers: { "content-type": file.contentType, "content-length": String(file.data.byteLength) } });
}
