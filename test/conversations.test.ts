/**
 * Conversations against a Coze that reads its thread's history as context
 * (the simulator records that context for every reply): one thread per
 * conversation, only new turns posted, branches, restarts, long answers.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chatAnswer, chatBody, json, readSse, SECOND_KEY, stackPerTest, startStack, type Stack, type Turn } from "./harness.ts";

const MODEL = "gpt-test";
const stackWith = stackPerTest();
const chat = (stack: Stack, messages: Turn[], headers: Record<string, string> = {}) => chatAnswer(stack, MODEL, messages, headers);
const lastPost = (stack: Stack) => stack.sim.posts.at(-1)!;
const contextOf = (stack: Stack) => lastPost(stack).reply!.context.map((l) => l.content);

describe("API keys never share a conversation", () => {
  const asB = { authorization: `Bearer ${SECOND_KEY}` };

  test("key B sending key A's exact history starts a thread of its own, with the whole history", async () => {
    const stack = await stackWith();
    const history: Turn[] = [{ role: "user", content: "A's secret is apples" }];
    history.push({ role: "assistant", content: await chat(stack, history) });
    const threadA = lastPost(stack).channelId;
    history.push({ role: "user", content: "what is my secret?" });
    await chat(stack, history, asB);
    expect(lastPost(stack).channelId).not.toBe(threadA);
    expect(lastPost(stack).content).toContain("A's secret is apples"); // the whole history, in a new thread
    expect(contextOf(stack)).toEqual([]);
  });

  test("key B naming key A's X-Conversation-Id gets a conversation of its own", async () => {
    const stack = await stackWith();
    const named = { "x-conversation-id": "shared-name" };
    await chat(stack, [{ role: "user", content: "A's secret is apples" }], named);
    const threadA = lastPost(stack).channelId;
    await chat(stack, [{ role: "user", content: "what is my secret?" }], { ...named, ...asB });
    expect(lastPost(stack).channelId).not.toBe(threadA);
    expect(contextOf(stack).join("\n")).not.toContain("apples");
    // A's own next request still goes on in A's thread.
    await chat(stack, [{ role: "user", content: "and again" }], named);
    expect(lastPost(stack).channelId).toBe(threadA);
  });

  test("key B continuing key A's previous_response_id is a 404", async () => {
    const stack = await stackWith();
    const first = await json(await stack.fetch("/v1/responses", { method: "POST", body: JSON.stringify({ model: MODEL, input: "A's secret is apples" }) }));
    const asked = (headers: Record<string, string>) =>
      stack.fetch("/v1/responses", { method: "POST", headers, body: JSON.stringify({ model: MODEL, input: "what is my secret?", previous_response_id: first.id }) });
    const response = await asked(asB);
    expect(response.status).toBe(404);
    expect((await json(response)).error.code).toBe("previous_response_not_found");
    expect((await asked({})).status).toBe(200);
  });
});

describe("one thread per conversation", () => {
  test("two interleaved conversations never see each other's turns, and later turns post only the new message", async () => {
    const stack = await stackWith();
    const a: Turn[] = [{ role: "user", content: "Alice here: my secret is apples" }];
    const b: Turn[] = [{ role: "user", content: "Bob here: my secret is bananas" }];
    a.push({ role: "assistant", content: await chat(stack, a) });
    b.push({ role: "assistant", content: await chat(stack, b) });
    const [threadA, threadB] = stack.sim.posts.map((p) => p.channelId);
    expect(threadA).not.toBe(threadB);
    expect(new Set([threadA, threadB].map((t) => stack.sim.parentOf(t)))).toEqual(new Set([stack.channels[0].id]));
    for (let turn = 2; turn <= 3; turn++) {
      for (const [conversation, thread, other] of [[a, threadA, "bananas"], [b, threadB, "apples"]] as const) {
        conversation.push({ role: "user", content: `turn ${turn}` });
        conversation.push({ role: "assistant", content: await chat(stack, conversation) });
        expect(lastPost(stack).channelId).toBe(thread);
        expect(lastPost(stack).content).toBe(`<@${stack.cozes[0].user.id}> turn ${turn}`); // only the new turn
        expect(contextOf(stack).join("\n")).not.toContain(other);
      }
    }
    // Coze remembered the first turn from the thread, not from a re-sent history.
    expect(a.at(-1)!.content).toContain('Earlier in this conversation you said: "Alice here: my secret is apples"');
    expect(stack.sim.posts).toHaveLength(6);
  });

  test("concurrent one-shot requests each get a thread of their own and an empty context", async () => {
    const stack = await stackWith();
    await Promise.all(Array.from({ length: 8 }, (_, i) => chat(stack, [{ role: "user", content: `one-shot ${i}` }])));
    expect(new Set(stack.sim.posts.map((p) => p.channelId)).size).toBe(8);
    for (const post of stack.sim.posts) expect(post.reply!.context).toEqual([]);
  });

  test("a regenerate (the same history again) branches into a new thread with the whole history", async () => {
    const stack = await stackWith();
    const history: Turn[] = [{ role: "user", content: "first question" }];
    history.push({ role: "assistant", content: await chat(stack, history) });
    history.push({ role: "user", content: "second question" });
    await chat(stack, history);
    const continued = lastPost(stack);
    await chat(stack, history); // regenerate
    const branched = lastPost(stack);
    expect(branched.channelId).not.toBe(continued.channelId);
    expect(branched.content).toContain("User: first question");
    expect(branched.content).toContain("User: second question");
    expect(branched.reply!.context).toEqual([]);
  });

  test("X-Conversation-Id keeps a conversation in its thread without the client sending history", async () => {
    const stack = await stackWith();
    const named = { "x-conversation-id": "notes-42" };
    await chat(stack, [{ role: "user", content: "remember: the door code is 1234" }], named);
    const answer = await chat(stack, [{ role: "user", content: "what was the code?" }], named);
    expect(stack.sim.posts[0].channelId).toBe(stack.sim.posts[1].channelId);
    expect(answer).toContain("the door code is 1234");
    const other = await stack.fetch("/v1/chat/completions", { method: "POST", headers: { "x-conversation-id": "x".repeat(201) }, body: chatBody(MODEL, "hi") });
    expect(other.status).toBe(400);
  });

  test("a conversation continues in its thread after a restart with the same DATA_DIR", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-restart-"));
    const first = await startStack({ dataDir });
    const history: Turn[] = [{ role: "user", content: "before the restart" }];
    history.push({ role: "assistant", content: await chat(first, history) });
    const thread = lastPost(first).channelId;
    const entry = first.entries[0];
    // A new service on the same store, and the same Discord (the simulator stays up).
    const sim = first.sim;
    first.app.server.stop(true);
    await first.app.stop();
    const second = await stackWith({ dataDir, reuse: { sim, entries: [entry] } });
    history.push({ role: "user", content: "after the restart" });
    await chat(second, history);
    expect(lastPost(second).channelId).toBe(thread);
    expect(lastPost(second).content).toBe(`<@${entry.coze_bot_id}> after the restart`);
  });

  test('"threads": false posts in the channel itself, one request at a time, and /readyz says the context is shared', async () => {
    const stack = await stackWith({ entries: [{ model: MODEL, threads: false }] });
    stack.cozes[0].behaviour = (prompt) => ({ text: `answer to ${prompt}`, steps: 3, editIntervalMs: 40 });
    await Promise.all([0, 1, 2].map((i) => chat(stack, [{ role: "user", content: `shared ${i}` }])));
    expect(stack.sim.posts.every((p) => p.channelId === stack.channels[0].id)).toBe(true);
    // One at a time: each prompt was posted after the previous reply was done.
    for (let i = 1; i < 3; i++) expect(stack.sim.posts[i].at).toBeGreaterThan(stack.sim.posts[i - 1].at);
    const ready = await json(await stack.fetch("/readyz"));
    expect(ready.models[0].entries[0].shared_context).toContain("share one Coze context");
  });

  test("thread creation refused (50013) moves the request to another entry", async () => {
    const stack = await stackWith({ entries: [{ model: MODEL, coze: 0 }, { model: MODEL, coze: 1 }] });
    stack.channels[0].deniedThreads.add(stack.bots[0].id);
    for (let i = 0; i < 2; i++) expect(await chat(stack, [{ role: "user", content: `x ${i}` }])).toStartWith(`You said: x ${i}`);
    expect(stack.sim.posts.every((p) => stack.sim.parentOf(p.channelId) === stack.channels[1].id)).toBe(true);
  });

  test("idle threads are archived; a conversation that goes on unarchives its thread", async () => {
    const stack = await stackWith({ settings: { threadIdleMs: 300 } });
    const history: Turn[] = [{ role: "user", content: "short-lived" }];
    history.push({ role: "assistant", content: await chat(stack, history) });
    const thread = stack.sim.channels.get(lastPost(stack).channelId)!;
    await stack.sim.waitFor(() => thread.thread!.archived, 3000);
    history.push({ role: "user", content: "back again" });
    await chat(stack, history);
    expect(lastPost(stack).channelId).toBe(thread.id);
    expect(thread.thread!.archived).toBe(false);
  });

  test("a guild at Discord's active-thread limit (160006): the service archives its oldest threads and goes on", async () => {
    const stack = await stackWith();
    stack.sim.activeThreadLimit = 3;
    for (let i = 0; i < 5; i++) expect(await chat(stack, [{ role: "user", content: `many ${i}` }])).toStartWith(`You said: many ${i}`);
    expect(stack.sim.activeThreads(stack.channels[0].guildId).length).toBeLessThanOrEqual(3);
  });
});

describe("long answers", () => {
  const answer = Array.from({ length: 70 }, (_, i) => `Sentence ${i}: a long answer that Coze writes in pieces of 2000 characters.`).join(" ");

  test("a 5,000-character answer comes back whole through auto-continue, in JSON and in a stream", async () => {
    const stack = await stackWith({ settings: { replyQuietMs: 300 } });
    expect([...answer].length).toBeGreaterThan(5000);
    stack.cozes[0].behaviour = () => ({ text: answer, steps: 2, editIntervalMs: 5 });
    expect(await chat(stack, [{ role: "user", content: "tell me everything" }])).toBe(answer);
    expect(stack.sim.posts.map((p) => p.content.replace(/^<@\d+> /, ""))).toEqual(["tell me everything", "continue", "continue"]);
    const { events, done } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "stream everything", { stream: true }) }));
    expect(done).toBe(true);
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe(answer);
  });

  test("with AUTO_CONTINUE=0 only the first piece comes back", async () => {
    const stack = await stackWith({ settings: { replyQuietMs: 300, autoContinue: 0 } });
    stack.cozes[0].behaviour = () => ({ text: answer, steps: 2, editIntervalMs: 5 });
    const first = await chat(stack, [{ role: "user", content: "tell me everything" }]);
    expect(first.endsWith("…")).toBe(true);
    expect(answer.startsWith(first.slice(0, -1))).toBe(true);
    expect(stack.sim.posts).toHaveLength(1);
  });
});
