/**
 * The simulator against the real discord.js client: what a relay relies on
 * behaves as Discord does, and every fault can be triggered and observed.
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Client as DiscordClient, Message, TextChannel } from "discord.js";
// discord.js as the service loads it, after the gateway proxy's WebSocket swap: a copy loaded
// first would keep Bun's own WebSocket, and a later file of this process that sets PROXY_URL
// would open its gateway around the proxy.
import { Client, DiscordAPIError, Events, GatewayIntentBits, Partials } from "../lib/discord/discord-js.ts";
import { buildScenario } from "../lib/simulator/scenario.ts";
import { DiscordSimulator, type SimulatorOptions } from "../lib/simulator/simulator.ts";
import type { SimChannel, SimCoze, SimUser } from "../lib/simulator/world.ts";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";
import { json } from "./harness.ts";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

interface World {
  sim: DiscordSimulator;
  bot: SimUser;
  coze: SimCoze;
  channel: SimChannel;
}

function world(options: SimulatorOptions = { rateLimit: null }, bot: { messageContentAllowed?: boolean } = {}): World {
  const sim = new DiscordSimulator(options).start();
  cleanups.push(() => sim.stop());
  const world = buildScenario(sim, { bots: [bot] });
  return { sim, bot: world.bots[0], coze: world.cozes[0], channel: world.channels[0] };
}

async function login(w: World, token = w.bot.token!, intents = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent]) {
  const client = new Client({ intents, partials: [Partials.Message, Partials.Channel], rest: { api: w.sim.apiUrl } });
  cleanups.push(() => client.destroy());
  const ready = new Promise((resolve) => client.once(Events.ClientReady, resolve));
  await client.login(token);
  await ready;
  return client;
}

/** Collects the reply to `promptId` as discord.js delivers it. */
/** Records the reply to `promptId`; pass a predicate when the prompt is not posted yet, so that a fast reply is not missed. */
function collectReply(client: DiscordClient, promptId: string | ((referenceId: string) => boolean)) {
  const seen: { kind: "create" | "update"; id: string; content: string; components: number }[] = [];
  const ids = new Set<string>();
  client.on(Events.MessageCreate, (m: Message) => {
    const ref = m.reference?.messageId;
    if (ref === undefined || (typeof promptId === "string" ? ref !== promptId : !promptId(ref))) return;
    ids.add(m.id);
    seen.push({ kind: "create", id: m.id, content: m.content, components: m.components.length });
  });
  client.on(Events.MessageUpdate, (_old, m) => {
    if (!ids.has(m.id)) return;
    seen.push({ kind: "update", id: m.id, content: m.content ?? "", components: m.components.length });
  });
  return seen;
}

const channelOf = (client: DiscordClient, w: World) => client.channels.cache.get(w.channel.id) as TextChannel;

describe("gateway", () => {
  test("discord.js logs in, gets READY and the guild with its channel", async () => {
    const w = world();
    const started = performance.now();
    const client = await login(w);
    console.log(`simulator login to ready: ${(performance.now() - started).toFixed(1)} ms`);
    expect(client.user!.id).toBe(w.bot.id);
    expect(client.guilds.cache.size).toBe(1);
    expect(channelOf(client, w).name).toBe(w.channel.name);
    expect(w.sim.gatewayLog.map((g) => g.op)).toEqual(["identify"]);
  });

  test("an unknown token is refused: REST 401 fails login, the gateway closes 4004", async () => {
    const w = world();
    const error = await login(w, "not-a-real-token").catch((e: any) => e);
    expect(error.code).toBe("TokenInvalid");

    const ws = new WebSocket(`ws://127.0.0.1:${w.sim.port}/gateway?v=10&encoding=json`);
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    ws.onmessage = (e) => {
      if (JSON.parse(String(e.data)).op === 10) ws.send(JSON.stringify({ op: 2, d: { token: "nope", intents: 513, properties: {} } }));
    };
    expect(await closed).toBe(4004);
  });

  test("MessageContent requested but not allowed for the bot: close 4014", async () => {
    const w = world({ rateLimit: null }, { messageContentAllowed: false });
    const error = await Promise.race([login(w).then(() => "ready"), Bun.sleep(3000).then(() => "timeout")]).catch((e: any) => e);
    expect(String(error?.message ?? error)).toMatch(/disallowed intent/i);
  });

  test("without the MessageContent intent, content shows only for messages that mention the bot", async () => {
    const w = world();
    const writer = await login(w);
    const reader = w.sim.addBot({ messageContentAllowed: false });
    w.sim.guilds.get(w.channel.guildId)!.members.add(reader.id);
    const readerClient = await login(w, reader.token!, [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages]);
    const seen: string[] = [];
    readerClient.on(Events.MessageCreate, (m) => seen.push(m.content));
    await channelOf(writer, w).send({ content: "plain words", allowedMentions: { parse: [] } });
    await channelOf(writer, w).send({ content: `<@${reader.id}> hello reader`, allowedMentions: { users: [reader.id] } });
    await w.sim.waitFor(() => seen.length === 2);
    expect(seen).toEqual(["", `<@${reader.id}> hello reader`]);
  });

  test("op 7: the client resumes and gets what was dispatched meanwhile", async () => {
    const w = world();
    const client = await login(w);
    w.sim.script(w.coze, { silent: true });
    const prompt = await channelOf(client, w).send({ content: `<@${w.coze.user.id}> hi`, allowedMentions: { users: [w.coze.user.id] } });
    // Starts while the client is being told to reconnect; the listener is there before the post, so a fast reply is not missed.
    w.sim.script(w.coze, { text: "after the reconnect", firstDelayMs: 0 });
    const reply = collectReply(client, (ref) => ref !== prompt.id);
    const posting = channelOf(client, w).send({ content: `<@${w.coze.user.id}> again`, allowedMentions: { users: [w.coze.user.id] } });
    expect(w.sim.reconnect(w.bot)).toBe(1);
    await posting;
    await w.sim.waitFor(() => w.sim.gatewayLog.some((g) => g.op === "resume"), 5000);
    await w.sim.waitFor(() => reply.some((r) => r.components > 0), 5000);
    expect(reply.at(-1)!.content).toBe(`<@${w.bot.id}> after the reconnect`);
    expect(w.sim.gatewayLog.map((g) => g.op)).toEqual(["identify", "resume"]);
  });

  test("a dropped socket is resumed; op 9 makes the client identify again", async () => {
    const w = world();
    const client = await login(w);
    expect(w.sim.dropSocket(w.bot)).toBe(1);
    await w.sim.waitFor(() => w.sim.gatewayLog.some((g) => g.op === "resume"), 5000);
    expect(w.sim.invalidateSession(w.bot)).toBe(1);
    await w.sim.waitFor(() => w.sim.gatewayLog.filter((g) => g.op === "identify").length === 2, 10_000);
    await w.sim.waitFor(() => w.sim.connected(w.bot) === 1, 5000);
    const sent = await channelOf(client, w).send("still here");
    expect(sent.content).toBe("still here");
  });
});

describe("messages", () => {
  test("a mention gets a reply that references it, edited in steps, then buttons", async () => {
    const w = world();
    const client = await login(w);
    w.sim.script(w.coze, { text: "你好, world 😀 — done", steps: 4 });
    const prompt = await channelOf(client, w).send({ content: `<@${w.coze.user.id}> hello`, allowedMentions: { users: [w.coze.user.id] } });
    const reply = collectReply(client, prompt.id);
    await w.sim.waitFor(() => reply.some((r) => r.components > 0));
    expect(reply[0].kind).toBe("create");
    expect(reply.filter((r) => r.kind === "update").length).toBeGreaterThanOrEqual(3);
    for (const r of reply) expect(r.content.startsWith(`<@${w.bot.id}> `)).toBe(true);
    const texts = reply.map((r) => r.content);
    for (let i = 1; i < texts.length; i++) expect(texts[i].startsWith(texts[i - 1])).toBe(true);
    expect(texts.at(-1)).toBe(`<@${w.bot.id}> 你好, world 😀 — done`);
    const record = w.sim.posts.find((p) => p.id === prompt.id)!;
    expect(record.reply).toMatchObject({ text: "你好, world 😀 — done", done: true });
    expect(record.allowedMentions).toEqual({ users: [w.coze.user.id] });
  });

  test("a long answer stops at 2000 characters with an ellipsis and goes on only when asked to continue", async () => {
    const w = world();
    const client = await login(w);
    const lines = Array.from({ length: 120 }, (_, i) => `line ${i} ${"·".repeat(40)}`);
    w.sim.script(w.coze, { text: lines.join("\n"), steps: 2, editIntervalMs: 5 });
    const pieces: string[] = [];
    for (const ask of ["long", "continue", "continue"]) {
      const prompt = await channelOf(client, w).send({ content: `<@${w.coze.user.id}> ${ask}`, allowedMentions: { users: [w.coze.user.id] } });
      await w.sim.waitFor(() => w.sim.postRecord(prompt.id)?.reply?.done);
      const reply = w.sim.postRecord(prompt.id)!.reply!;
      expect(reply.messageIds).toHaveLength(1);
      const content = w.sim.messages.get(reply.messageIds[0])!.message.content;
      expect([...content].length).toBeLessThanOrEqual(2000);
      pieces.push(content.replace(`<@${w.bot.id}> `, ""));
    }
    expect(pieces[0].endsWith("…")).toBe(true);
    expect(pieces[1].endsWith("…")).toBe(true);
    expect(pieces[2].endsWith("…")).toBe(false);
    expect(pieces.map((p) => p.replace(/…$/, "")).join("")).toBe(lines.join("\n"));
  });

  test("content over 2000 characters is refused with 50035; 2000 emoji are fine", async () => {
    const w = world();
    const client = await login(w);
    const error = await channelOf(client, w).send("x".repeat(2001)).catch((e: any) => e);
    expect(error).toBeInstanceOf(DiscordAPIError);
    expect(error.code).toBe(50035);
    expect(error.status).toBe(400);
    const ok = await channelOf(client, w).send("😀".repeat(2000));
    expect(ok.content.length).toBe(4000);
  });

  test("unknown channel is 10003; a channel the bot may not post in is 50013", async () => {
    const w = world();
    const client = await login(w);
    const unknown: any = await client.rest.post("/channels/123456789012345678/messages", { body: { content: "x" } }).catch((e: any) => e);
    expect(unknown.code).toBe(10003);
    expect(unknown.status).toBe(404);
    w.channel.denied.add(w.bot.id);
    const denied = await channelOf(client, w).send("x").catch((e: any) => e);
    expect(denied.code).toBe(50013);
  });

  test("multipart uploads keep their bytes, served back by the CDN", async () => {
    const w = world();
    const client = await login(w);
    const bytes = crypto.getRandomValues(new Uint8Array(3000));
    const sent = await channelOf(client, w).send({ content: "with a file", files: [{ attachment: Buffer.from(bytes), name: "photo.png" }] });
    const record = w.sim.posts.find((p) => p.id === sent.id)!;
    expect(record.files).toHaveLength(1);
    expect(record.files[0].filename).toBe("photo.png");
    expect(new Uint8Array(record.files[0].data)).toEqual(bytes);
    const url = sent.attachments.first()!.url;
    expect(new Uint8Array(await (await fetch(url)).arrayBuffer())).toEqual(bytes);
    const tampered = await fetch(url.replace(/hm=[0-9a-f]+/, "hm=00"));
    expect(tampered.status).toBe(404);
  });

  test("the per-channel rate limit answers 429 with Discord's headers; discord.js waits it out", async () => {
    const w = world({ rateLimit: { limit: 2, windowMs: 400 } });
    const client = await login(w);
    const raw = await Promise.all(
      [1, 2, 3].map(() =>
        fetch(`${w.sim.apiUrl}/v10/channels/${w.channel.id}/messages`, {
          method: "POST",
          headers: { authorization: `Bot ${w.bot.token}`, "content-type": "application/json" },
          body: JSON.stringify({ content: "burst" }),
        }),
      ),
    );
    const limited = raw.find((r) => r.status === 429)!;
    expect(limited).toBeDefined();
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(0);
    expect((await json(limited)).retry_after).toBeGreaterThan(0);
    const sent = await Promise.all([1, 2, 3, 4, 5].map((i) => channelOf(client, w).send(`paced ${i}`)));
    expect(sent.map((m) => m.content).sort()).toEqual(["paced 1", "paced 2", "paced 3", "paced 4", "paced 5"]);
  });

  test("Discord's global limit: 50 requests per second per bot, answered 429 with X-RateLimit-Global", async () => {
    const w = world({ rateLimit: { limit: 1000, windowMs: 1000, globalPerSecond: 50 } });
    const post = () =>
      fetch(`${w.sim.apiUrl}/v10/channels/${w.channel.id}/messages`, {
        method: "POST",
        headers: { authorization: `Bot ${w.bot.token}`, "content-type": "application/json" },
        body: JSON.stringify({ content: "burst" }),
      });
    const answers = await Promise.all(Array.from({ length: 55 }, post));
    const limited = answers.filter((r) => r.status === 429);
    expect(answers.filter((r) => r.status === 200).length).toBe(50);
    expect(limited.length).toBe(5);
    expect(limited[0].headers.get("x-ratelimit-global")).toBe("true");
    expect((await json(limited[0])).global).toBe(true);
    // discord.js keeps to the same limit by itself: a burst through it is paced, not refused.
    const client = await login(w);
    const sent = await Promise.all(Array.from({ length: 60 }, (_, i) => channelOf(client, w).send(`paced ${i}`)));
    expect(sent).toHaveLength(60);
  });

  test("injected 429s and 5xx on the next posts are retried by discord.js", async () => {
    const w = world();
    const client = await login(w);
    w.sim.failPosts(1, 429);
    w.sim.failPosts(1, 502);
    const sent = await channelOf(client, w).send("eventually");
    expect(sent.content).toBe("eventually");
    expect(w.sim.takePostFault()).toBeUndefined();
  });

  test("allowed_mentions decides who is mentioned: no @everyone, no other users", async () => {
    const w = world();
    const client = await login(w);
    const other = w.sim.addBot();
    const sent = await channelOf(client, w).send({
      content: `<@${w.coze.user.id}> @everyone <@${other.id}> <@&${w.channel.guildId}>`,
      allowedMentions: { parse: [], users: [w.coze.user.id] },
    });
    const record = w.sim.posts.find((p) => p.id === sent.id)!;
    expect(record.mentions).toEqual([w.coze.user.id]);
    expect(record.mentionEveryone).toBe(false);
    expect(record.mentionRoles).toEqual([]);
  });

  test("scripted Coze: error text, silence, image embed and attachment, no buttons", async () => {
    const w = world();
    const client = await login(w);
    const ask = async () => {
      const prompt = await channelOf(client, w).send({ content: `<@${w.coze.user.id}> go`, allowedMentions: { users: [w.coze.user.id] } });
      return prompt.id;
    };
    w.sim.script(w.coze, { error: COZE_ERRORS.dailyLimit }, { silent: true }, { image: "embed", text: "pic" }, { image: "attachment", text: "file" }, { buttons: false, text: "plain" });
    const ids = [await ask(), await ask(), await ask(), await ask(), await ask()];
    await w.sim.waitFor(() => ids.every((id, i) => i === 1 || w.sim.postRecord(id)?.reply?.done));
    const replies = ids.map((id) => w.sim.postRecord(id)!.reply);
    expect(replies[0]!.text).toBe(COZE_ERRORS.dailyLimit);
    expect(replies[1]).toBeUndefined();
    const last = (i: number) => w.sim.messages.get(replies[i]!.messageIds.at(-1)!)!.message;
    expect(last(2).embeds[0].image!.url).toContain("/cdn/attachments/");
    expect(last(3).attachments[0].content_type).toBe("image/png");
    expect(last(4).components).toEqual([]);
    expect(last(2).components!.length).toBe(1);
  });
});
