/**
 * The latency baseline: a relay with no logic of its own, discord.js and
 * Bun.serve and nothing else. For each POST it starts a thread, posts the
 * prompt mentioning Coze, and streams each edit's new text as an SSE event
 * until Coze adds its buttons. What the proxy adds is its latency over this.
 *
 * bun bench/bare-relay.ts API_URL TOKEN CHANNEL COZE_ID GLOBAL_LIMIT  (prints its port)
 */
import { Client, Events, GatewayIntentBits, Options, Partials, Routes, type GatewayDispatchPayload } from "discord.js";

const [apiUrl, token, channel, cozeId, globalLimit] = process.argv.slice(2);
const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
  partials: [Partials.Message, Partials.Channel],
  rest: { api: apiUrl, globalRequestsPerSecond: Number(globalLimit) },
  makeCache: Options.cacheWithLimits({ MessageManager: 0 }),
});
const encoder = new TextEncoder();
const streams = new Map<string, { sent: number; controller: ReadableStreamDefaultController<Uint8Array> }>();
const early = new Map<string, GatewayDispatchPayload["d"][]>();
function deliver(ref: string, d: { content?: string; components?: unknown[] }): void {
  const stream = streams.get(ref)!;
  const content = d.content ?? "";
  if (content.length > stream.sent) {
    stream.controller.enqueue(encoder.encode(`data: ${JSON.stringify(content.slice(stream.sent))}\n\n`));
    stream.sent = content.length;
  }
  if (d.components?.length) {
    streams.delete(ref);
    stream.controller.close();
  }
}
client.on(Events.Raw, (packet: GatewayDispatchPayload) => {
  if (packet.t !== "MESSAGE_UPDATE" && packet.t !== "MESSAGE_CREATE") return;
  const d = packet.d;
  const ref = "message_reference" in d ? d.message_reference?.message_id : undefined;
  if (!ref) return;
  if (streams.has(ref)) deliver(ref, d);
  else early.set(ref, [...(early.get(ref) ?? []), d]);
});
await new Promise((resolve) => {
  client.once(Events.ClientReady, resolve);
  void client.login(token);
});
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const { messages } = (await req.json()) as { messages: { content: string }[] };
    const thread = (await client.rest.post(Routes.threads(channel), { body: { name: "bare", type: 11, auto_archive_duration: 1440 } })) as { id: string };
    const message = (await client.rest.post(Routes.channelMessages(thread.id), {
      body: { content: `<@${cozeId}> ${messages.at(-1)!.content}`, allowed_mentions: { parse: [], users: [cozeId], replied_user: false } },
    })) as { id: string };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        streams.set(message.id, { sent: `<@x> `.length, controller });
        for (const d of early.get(message.id) ?? []) if (streams.has(message.id)) deliver(message.id, d as never);
        early.delete(message.id);
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
});
process.stdout.write(`${server.port}\n`);
