/**
 * The throughput baseline: a bare discord.js client doing the Discord work
 * the proxy does per new conversation (start a thread, post a mention in it,
 * wait for the reply with its buttons) in a closed loop, with no HTTP in front. Run as its own process, like the
 * service, so both get the same machine. Prints one JSON line of results,
 * the CPU it used per request (its own `process.cpuUsage()`) among them.
 *
 * bun bench/bare-client.ts API_URL TOKEN CHANNEL:COZE[,CHANNEL:COZE…] CONCURRENCY SECONDS GLOBAL_LIMIT
 */
import { Client, Events, GatewayIntentBits, Options, Partials, Routes, type GatewayDispatchPayload } from "discord.js";

const [apiUrl, token, pairList, concurrencyText, secondsText, globalLimit] = process.argv.slice(2);
const targets = pairList.split(",").map((pair) => pair.split(":") as [string, string]);
const concurrency = Number(concurrencyText);
const seconds = Number(secondsText);

const client = new Client({
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
  partials: [Partials.Message, Partials.Channel],
  rest: { api: apiUrl, globalRequestsPerSecond: Number(globalLimit) },
  makeCache: Options.cacheWithLimits({ MessageManager: 0 }),
});
const waiting = new Map<string, () => void>();
/** Replies that finished before their post call returned (the gateway can beat the REST response). */
const early = new Set<string>();
client.on(Events.Raw, (packet: GatewayDispatchPayload) => {
  if (packet.t !== "MESSAGE_UPDATE" && packet.t !== "MESSAGE_CREATE") return;
  const d = packet.d;
  const ref = "message_reference" in d ? d.message_reference?.message_id : undefined;
  if (!ref || !d.components?.length) return;
  const resolve = waiting.get(ref);
  if (resolve) resolve();
  else early.add(ref);
});
await new Promise((resolve) => {
  client.once(Events.ClientReady, resolve);
  void client.login(token);
});

let done = 0;
let n = 0;
const deadline = performance.now() + seconds * 1000;
async function loop(): Promise<void> {
  while (performance.now() < deadline) {
    const [channel, cozeId] = targets[n++ % targets.length];
    const replied = Promise.withResolvers<void>();
    const thread = (await client.rest.post(Routes.threads(channel), { body: { name: `bare ${n}`, type: 11, auto_archive_duration: 1440 } })) as { id: string };
    const message = (await client.rest.post(Routes.channelMessages(thread.id), {
      body: { content: `<@${cozeId}> bare ${n}`, allowed_mentions: { parse: [], users: [cozeId], replied_user: false } },
    })) as { id: string };
    if (!early.delete(message.id)) {
      waiting.set(message.id, replied.resolve);
      await replied.promise;
      waiting.delete(message.id);
    }
    done++;
  }
}
const started = performance.now();
const cpu = process.cpuUsage();
await Promise.all(Array.from({ length: concurrency }, loop));
const elapsed = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
const cpuUs = (used.user + used.system) / done;
process.stdout.write(JSON.stringify({ requests: done, seconds: elapsed, rps: done / elapsed, cpu_us_per_request: cpuUs }) + "\n");
await client.destroy();
process.exit(0);
