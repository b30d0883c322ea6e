/**
 * The Coze API simulator's two dialects, told truthfully: coze.com and a
 * self-hosted Coze Studio (as its server's sources write the API), each
 * driven by the official `@coze/api` SDK as a client (its `chat.stream` and
 * `workflows.chat.stream`), and by raw `fetch` where the bytes matter.
 * Where the SDK fails on Studio (the empty `data:` line that ends its chat
 * stream), the test says so.
 */
import { APIError, ChatEventType, CozeAPI, RoleType } from "@coze/api";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CozeApiSimulator } from "../lib/simulator/coze-api.ts";

const user = (content: string) => [{ role: RoleType.User, content, content_type: "text" as const }];

async function collect(stream: AsyncIterable<{ event: string; data: any }>): Promise<{ events: { event: string; data: any }[]; error?: Error }> {
  const events: { event: string; data: any }[] = [];
  try {
    // The SDK yields one object it keeps reusing: copy each event as it comes.
    for await (const part of stream) events.push({ event: part.event, data: part.data });
  } catch (error) {
    return { events, error: error as Error };
  }
  return { events };
}

const deltas = (events: { event: string; data: any }[]) => events.filter((e) => e.event === ChatEventType.CONVERSATION_MESSAGE_DELTA);

describe("Coze Studio: /v3/chat", () => {
  const sim = new CozeApiSimulator({ dialect: "studio" });
  let token: string;
  let botId: string;
  beforeAll(() => {
    sim.start();
    token = sim.addToken();
    botId = sim.addBot().id;
  });
  afterAll(() => sim.stop());
  const sdk = (auth = token) => new CozeAPI({ token: auth, baseURL: sim.url });
  const raw = (body: object, auth = token, query = "") =>
    fetch(`${sim.url}/v3/chat${query}`, { method: "POST", headers: { authorization: `Bearer ${auth}`, "content-type": "application/json" }, body: JSON.stringify(body) });

  test("the stream ends with conversation.stream.done and an empty data line, on which the official SDK throws", async () => {
    const { events, error } = await collect(await sdk().chat.stream({ bot_id: botId, user_id: "u1", additional_messages: user("hello") }));
    expect(events.map((e) => e.event).slice(0, 2)).toEqual([ChatEventType.CONVERSATION_CHAT_CREATED, ChatEventType.CONVERSATION_CHAT_IN_PROGRESS]);
    expect(deltas(events).map((e) => e.data.content).join("")).toBe("API says: hello");
    expect(events.at(-1)!.event).toBe(ChatEventType.CONVERSATION_CHAT_COMPLETED);
    expect(events.at(-1)!.data.usage).toEqual(sim.chats.at(-1)!.usage);
    expect(error?.message).toBe("Could not parse message into JSON:");

    const text = await (await raw({ bot_id: botId, user_id: "u1", stream: true, additional_messages: user("bytes") })).text();
    expect(text.endsWith("event:conversation.chat.completed\ndata:" + text.split("event:conversation.chat.completed\ndata:")[1].split("\n")[0] + "\n\nevent:conversation.stream.done\ndata:\n\n")).toBe(true);
    // Ids are JSON strings of 19 digits; the chat objects carry no last_error.
    expect(text).toMatch(/"id":"\d{19}","conversation_id":"\d{19}","bot_id":"\d{19}"/);
    expect(text).not.toContain("last_error");
    expect(text).not.toContain("event: ");
  });

  test("a bad token is HTTP 200 with code 700012006; a body Studio cannot bind is HTTP 400 {code: 400, msg}", async () => {
    const bad = await raw({ bot_id: botId, user_id: "u1", additional_messages: user("x") }, "pat_wrong");
    expect(bad.status).toBe(200);
    expect(await bad.json()).toEqual({ code: 700012006, msg: "authentication failed: api key invalid" });
    // The SDK reads that JSON body as the stream's only event.
    const viaSdk = await collect(await sdk("pat_wrong").chat.stream({ bot_id: botId, user_id: "u1", additional_messages: user("x") }));
    expect(viaSdk.events).toEqual([{ event: ChatEventType.ERROR, data: { code: 700012006, msg: "authentication failed: api key invalid" } }]);

    const unbound = await raw({ bot_id: botId, user_id: "u1", parameters: "{}", additional_messages: user("x") });
    expect(unbound.status).toBe(400);
    expect(await unbound.json()).toEqual({ code: 400, msg: "parameters field should be an object, not a string" });
    const { error: thrown } = await collect(await sdk().chat.stream({ bot_id: 42 as never, user_id: "u1", additional_messages: user("x") }));
    expect(thrown).toBeInstanceOf(APIError);
    expect((thrown as APIError).status).toBe(400);
    // Streaming, the SDK does not read the error's body: a BadRequestError with the status only.
    expect((thrown as APIError).name).toBe("BadRequestError");
  });

  test("a bot not published to the API channel: an error event in a 200 stream, in Studio's words; get_online_info says the same", async () => {
    const hidden = sim.addBot(false);
    const { events } = await collect(await sdk().chat.stream({ bot_id: hidden.id, user_id: "u1", additional_messages: user("x") }));
    expect(events).toHaveLength(1);
    expect(events[0].event).toBe(ChatEventType.ERROR);
    expect(events[0].data.code).toBe(103100001);
    expect(events[0].data.msg).toStartWith(`code=100000000 message=invalid parameter : agent not published, agentID=${hidden.id} connectorID=1024\nstack=`);
    const info = await fetch(`${sim.url}/v1/bot/get_online_info?bot_id=${hidden.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(await info.json()).toEqual({ code: 100000000, msg: `invalid parameter : agent not published, agentID=${hidden.id} connectorID=1024` });
    // A published bot's info is not in the {code, msg, data} envelope.
    const published: any = await (await fetch(`${sim.url}/v1/bot/get_online_info?bot_id=${botId}`, { headers: { authorization: `Bearer ${token}` } })).json();
    expect(published).toMatchObject({ bot_id: botId, name: `bot ${botId}` });
    expect(published.code).toBeUndefined();
  });

  test("a failed run is an error event with a 103… code, and the stream ends there", async () => {
    sim.bots.get(botId)!.queue.push({ fail: { code: 103100001, msg: "agent run error : model unavailable" } });
    const { events, error } = await collect(await sdk().chat.stream({ bot_id: botId, user_id: "u1", additional_messages: user("x") }));
    expect(error).toBeUndefined();
    expect(events.map((e) => e.event)).toEqual([ChatEventType.CONVERSATION_CHAT_CREATED, ChatEventType.CONVERSATION_CHAT_IN_PROGRESS, ChatEventType.ERROR]);
    expect(events[2].data).toEqual({ code: 103100001, msg: "agent run error : model unavailable" });
  });

  test("reasoning_content comes in deltas of its own before the answer, never in content", async () => {
    const { events } = await collect(await sdk().chat.stream({ bot_id: botId, user_id: "u1", additional_messages: user("think about it") }));
    const parts = deltas(events);
    const thinking = parts.filter((e) => e.data.reasoning_content);
    expect(thinking.length).toBeGreaterThan(0);
    expect(thinking.every((e) => e.data.content === "")).toBe(true);
    expect(parts.indexOf(thinking.at(-1)!)).toBeLessThan(parts.findIndex((e) => e.data.content !== ""));
    expect(parts.map((e) => e.data.content).join("")).toBe("API says: think about it");
    const completed = events.find((e) => e.event === ChatEventType.CONVERSATION_MESSAGE_COMPLETED && e.data.type === "answer")!;
    expect(completed.data.reasoning_content).toBe(thinking.map((e) => e.data.reasoning_content).join(""));
  });

  test("a stream closed right after chat.completed, and one closed before it", async () => {
    sim.bots.get(botId)!.queue.push({ text: "complete anyway", cut: "after-completed" });
    const after = await collect(await sdk().chat.stream({ bot_id: botId, user_id: "u1", additional_messages: user("x") }));
    expect(after.error).toBeUndefined();
    expect(after.events.at(-1)!.event).toBe(ChatEventType.CONVERSATION_CHAT_COMPLETED);
    sim.bots.get(botId)!.queue.push({ text: "a broken answer in several deltas", deltas: 6, cut: "before-completed" });
    const before = await collect(await sdk().chat.stream({ bot_id: botId, user_id: "u1", additional_messages: user("x") }));
    expect(before.error).toBeUndefined();
    expect(before.events.at(-1)!.event).toBe(ChatEventType.CONVERSATION_MESSAGE_DELTA);
    expect(before.events.some((e) => e.event === ChatEventType.CONVERSATION_CHAT_COMPLETED)).toBe(false);
  });

  test("an unknown conversation_id starts a new conversation, where coze.com refuses it", async () => {
    const { events } = await collect(await sdk().chat.stream({ bot_id: botId, user_id: "u1", conversation_id: "1234567890123456789", additional_messages: user("x") }));
    expect(events[0].data.conversation_id).not.toBe("1234567890123456789");
    expect(sim.chats.at(-1)!.continued).toBe(false);
  });
});

describe("chatflows: /v1/workflows/chat", () => {
  const studio = new CozeApiSimulator({ dialect: "studio" });
  const coze = new CozeApiSimulator();
  beforeAll(() => {
    studio.start();
    coze.start();
  });
  afterAll(() => Promise.all([studio.stop(), coze.stop()]));

  test("Studio: spaces after the colons, id lines, done with a debug_url; the SDK reads it", async () => {
    const token = studio.addToken();
    const flow = studio.addWorkflow();
    const stream = await new CozeAPI({ token, baseURL: studio.url }).workflows.chat.stream({ workflow_id: flow.id, additional_messages: user("hello flow"), parameters: { CONVERSATION_NAME: "c-1" } });
    const { events, error } = await collect(stream);
    expect(error).toBeUndefined();
    expect(events.map((e) => e.event)).toEqual([
      ChatEventType.CONVERSATION_CHAT_CREATED,
      ChatEventType.CONVERSATION_CHAT_IN_PROGRESS,
      ...deltas(events).map(() => ChatEventType.CONVERSATION_MESSAGE_DELTA),
      ChatEventType.CONVERSATION_MESSAGE_COMPLETED,
      ChatEventType.CONVERSATION_CHAT_COMPLETED,
      ChatEventType.DONE,
    ]);
    expect(deltas(events).map((e) => e.data.content).join("")).toBe("Chatflow says: hello flow");
    const usage = events.at(-2)!.data.usage;
    expect(usage.token_count).toBe(2 * usage.output_count); // Studio's chatflow adds the output twice
    const first = studio.chats.at(-1)!;
    expect(first).toMatchObject({ workflowId: flow.id, continued: false, parameters: { CONVERSATION_NAME: "c-1" } });

    const response = await fetch(`${studio.url}/v1/workflows/chat`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ workflow_id: flow.id, additional_messages: user("again"), parameters: { CONVERSATION_NAME: "c-1" } }),
    });
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const text = await response.text();
    expect(text).toStartWith('id: 1\nevent: conversation.chat.created\ndata: {"id":"');
    expect(text).toMatch(/\nid: \d+\nevent: done\ndata: \{"debug_url":"[^"]+"\}\n\n$/);
    // The same name is the same conversation, continued.
    expect(studio.chats.at(-1)).toMatchObject({ conversationId: first.conversationId, continued: true });
    // Its id, sent without bot_id, is one of the chatflow's named conversations: accepted.
    const byId = await collect(await new CozeAPI({ token, baseURL: studio.url }).workflows.chat.stream({ workflow_id: flow.id, conversation_id: first.conversationId, additional_messages: user("by id") }));
    expect(byId.events.at(-1)!.event).toBe(ChatEventType.DONE);
    expect(studio.chats.at(-1)!.additional.map((m) => m.content)).toEqual(["by id"]);
  });

  test("Studio: without CONVERSATION_NAME or conversation_id, an HTTP 200 with an empty body (the SDK yields nothing)", async () => {
    const token = studio.addToken();
    const flow = studio.addWorkflow();
    const response = await fetch(`${studio.url}/v1/workflows/chat`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ workflow_id: flow.id, additional_messages: user("x") }) });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
    const { events, error } = await collect(await new CozeAPI({ token, baseURL: studio.url }).workflows.chat.stream({ workflow_id: flow.id, additional_messages: user("x") }));
    expect([events, error]).toEqual([[], undefined]);
    // An unknown chatflow reads the same.
    const unknown = await fetch(`${studio.url}/v1/workflows/chat`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ workflow_id: "1", additional_messages: user("x"), parameters: { CONVERSATION_NAME: "n" } }) });
    expect([unknown.status, await unknown.text()]).toEqual([200, ""]);
  });

  test("Studio: a failed chatflow is `event: error` with the code as a string", async () => {
    const token = studio.addToken();
    const flow = studio.addWorkflow();
    flow.queue.push({ fail: { code: 720701013, msg: "node execution failed" } });
    const { events } = await collect(await new CozeAPI({ token, baseURL: studio.url }).workflows.chat.stream({ workflow_id: flow.id, additional_messages: user("x"), parameters: { CONVERSATION_NAME: "f" } }));
    expect(events.at(-1)).toEqual({ event: ChatEventType.ERROR, data: { code: "720701013", msg: "node execution failed", debug_url: "" } });
  });

  test("coze.com: the /v3/chat events and end, conversations kept by id", async () => {
    const token = coze.addToken();
    const flow = coze.addWorkflow();
    const sdk = new CozeAPI({ token, baseURL: coze.url });
    const { events, error } = await collect(await sdk.workflows.chat.stream({ workflow_id: flow.id, additional_messages: user("hi") }));
    expect(error).toBeUndefined();
    expect(events.at(-1)).toEqual({ event: ChatEventType.DONE, data: "[DONE]" });
    expect(events.at(-2)!.data.usage).toEqual(coze.chats.at(-1)!.usage);
    expect(deltas(events).map((e) => e.data.content).join("")).toBe("Chatflow says: hi");
    const conversation = events[0].data.conversation_id;
    const again = await collect(await sdk.workflows.chat.stream({ workflow_id: flow.id, conversation_id: conversation, additional_messages: user("more") }));
    expect(deltas(again.events).map((e) => e.data.content).join("")).toBe("Chatflow says: more (after 2 messages)");
    const raw = await (await fetch(`${coze.url}/v1/workflows/chat`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ workflow_id: flow.id, additional_messages: user("raw") }) })).text();
    expect(raw).toEndWith('event:done\ndata:"[DONE]"\n\n');
    const missing = await collect(await sdk.workflows.chat.stream({ workflow_id: "1", additional_messages: user("x") }));
    expect(missing.events).toEqual([{ event: ChatEventType.ERROR, data: expect.objectContaining({ code: 4200 }) }]);
  });
});

describe("coze.com: the codes a prompt can ask for, and reasoning", () => {
  const sim = new CozeApiSimulator();
  beforeAll(() => sim.start());
  afterAll(() => sim.stop());

  test.each([4010, 4027, 4028, 4200, 4300, 4301, 4302, 4303, 4304, 5000])("'coze code %i' is refused with that code", async (code) => {
    const token = sim.addToken();
    const bot = sim.addBot();
    const { events } = await collect(await new CozeAPI({ token, baseURL: sim.url }).chat.stream({ bot_id: bot.id, user_id: "u", additional_messages: user(`coze code ${code} please`) }));
    expect(events).toEqual([{ event: ChatEventType.ERROR, data: expect.objectContaining({ code, msg: expect.any(String) }) }]);
  });

  test("reasoning deltas before the answer; a chat failed in the stream keeps coze.com's failed event and done", async () => {
    const token = sim.addToken();
    const bot = sim.addBot();
    const sdk = new CozeAPI({ token, baseURL: sim.url });
    const { events } = await collect(await sdk.chat.stream({ bot_id: bot.id, user_id: "u", additional_messages: user("reason please") }));
    expect(deltas(events)[0].data).toMatchObject({ content: "", reasoning_content: expect.stringContaining("The user wrote") });
    bot.queue.push({ fail: { code: 5000, msg: "internal" } });
    const failed = await collect(await sdk.chat.stream({ bot_id: bot.id, user_id: "u", additional_messages: user("x") }));
    expect(failed.events.slice(-2).map((e) => e.event)).toEqual([ChatEventType.CONVERSATION_CHAT_FAILED, ChatEventType.DONE]);
    expect(failed.events.at(-2)!.data.last_error).toEqual({ code: 5000, msg: "internal" });
  });
});
