/**
 * The Discord path's no-logic baseline: discord.js and Bun.serve and nothing
 * else. For each POST it starts a thread (in the next of its channels, in
 * turn), posts the prompt mentioning that channel's Coze, and follows the
 * reply until Coze adds its buttons. Asked to stream, it writes each edit's
 * new text as an SSE event as it comes (the latency baseline); otherwise it
 * answers a small JSON with the reply's text at the end (the throughput and
 * CPU baseline). What the proxy adds is its own logic; this is the least any
 * relay of Coze on Discord does per request.
 *
 * bun bench/bare-relay.ts API_URL TOKEN CHANNEL:COZE[,CHANNEL:COZE…] GLOBAL_LIMIT  (prints its port)
 */
import { Client, Events, GatewayIntentBits, Options, Partials, Routes, type GatewayDispatchPayload } from "discord.js";

const [apiUrl, token, pairList, globalLimit] = process.argv.slice(2);
const targets = pairList.split(",").map((pair) => pair.split(":") as [string, string]);
const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
  partials: [Partials.Message, Partials.Channel],
  rest: { api: apiUrl, globalRequestsPerSecond: Number(globalLimit) },
  makeCache: Options.cacheWithLimits({ MessageManager: 0 }),
});
const encoder = new TextEncoder();
type Reply = { content?: string; components?: unknown[] };
/** A reply being followed: `sent` characters of it already out; `take` gets each new piece, `end` the whole text. */
type Follower = { sent: number; take(piece: string): void; end(text: string): void };
const followers = new Map<string, Follower>();
/** Pieces of replies that came before their post call returned (the gateway can beat the REST response). */
const early = new Map<string, Reply[]>();
function deliver(ref: string, d: Reply): void {
  const follower = followers.get(ref)!;
  const content = d.content ?? "";
  if (content.length > follower.sent) {
    follower.take(content.slice(follower.sent));
    follower.sent = content.length;
  }
  if (d.components?.length) {
    followers.delete(ref);
    follower.end(content);
  }
}
function follow(id: string, follower: Follower): void {
  followers.set(id, follower);
  for (const d of early.get(id) ?? []) if (followers.has(id)) deliver(id, d);
  early.delete(id);
}
client.on(Events.Raw, (packet: GatewayDispatchPayload) => {
  if (packet.t !== "MESSAGE_UPDATE" && packet.t !== "MESSAGE_CREATE") return;
  const d = packet.d;
  const ref = "message_reference" in d ? d.message_reference?.message_id : undefined;
  if (!ref) return;
  if (followers.has(ref)) deliver(ref, d);
  else early.set(ref, [...(early.get(ref) ?? []), d]);
});
await new Promise((resolve) => {
  client.once(Events.ClientReady, resolve);
  void client.login(token);
});
let n = 0;
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const { stream = false, messages } = (await req.json()) as { stream?: boolean; messages: { content: string }[] };
    const [channel, cozeId] = targets[n++ % targets.length];
    const thread = (await client.rest.post(Routes.threads(channel), { body: { name: "bare", type: 11, auto_archive_duration: 1440 } })) as { id: string };
    const message = (await client.rest.post(Routes.channelMessages(thread.id), {
      body: { content: `<@${cozeId}> ${messages.at(-1)!.content}`, allowed_mentions: { parse: [], users: [cozeId], replied_user: false } },
    })) as { id: string };
    const sent = `<@${cozeId}> `.length;
    if (!stream) {
      const done = Promise.withResolvers<string>();
      follow(message.id, { sent, take() {}, end: done.resolve });
      return Response.json({ content: (await done.promise).slice(sent) });
    }
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        follow(message.id, {
          sent,
          take: (piece) => controller.enqueue(encoder.encode(`data: ${JSON.stringify(piece)}\n\n`)),
          end: () => controller.close(),
        });
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
});
process.stdout.write(`${server.port}\n`);
