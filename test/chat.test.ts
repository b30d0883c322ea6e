/**
 * Chat completions through the whole path: the official openai SDK (or raw
 * HTTP), the service, real discord.js clients, the simulator's Coze bots.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";
import { chatBody, json, readSse, startStack, type Stack } from "./harness.ts";

const MODEL = "gpt-test";
const ask = (stack: Stack, content: string, extra: object = {}) =>
  stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content }], ...extra } as any) as Promise<OpenAI.ChatCompletion>;

describe("one bot", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ settings: { replyQuietMs: 400, replyStartTimeoutMs: 1500 } });
  });
  afterAll(() => stack.stop());
  afterEach(() => {
    stack.sim.postResponseDelayMs = 0;
  });
  const coze = () => stack.cozes[0];

  test("create(): the reply equals what Coze wrote, CJK and emoji included", async () => {
    const text = "西红柿炒鸡蛋：先炒蛋，再炒西红柿。🍅🥚 Done — ✓ 👩‍👩‍👧";
    stack.sim.script(coze(), { text, steps: 7 });
    const completion = await ask(stack, "西红柿炒钢丝球怎么做？");
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe(MODEL);
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.choices[0].message).toMatchObject({ role: "assistant", content: text });
    expect(completion.choices[0].finish_reason).toBe("stop");
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    expect(completion.usage!.completion_tokens).toBeGreaterThan(10);

    const post = stack.sim.posts.at(-1)!;
    expect(post.content).toBe(`<@${coze().user.id}> 西红柿炒钢丝球怎么做？`);
    expect(post.authorId).toBe(stack.bots[0].id);
    expect(post.allowedMentions).toEqual({ parse: [], users: [coze().user.id], replied_user: false });
  });

  test("create({stream: true}): role first, one chunk per edit with only new text, finish_reason, [DONE]", async () => {
    const text = "Streaming works: 流式输出 ✨ in several edits, with a final sentence.";
    stack.sim.script(coze(), { text, steps: 6 });
    const stream = await stack.openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "stream please" }], stream: true });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(content).toBe(text);
    const contentChunks = chunks.filter((c) => c.choices[0]?.delta.content);
    expect(contentChunks.length).toBeGreaterThanOrEqual(3);
    expect(contentChunks.length).toBeLessThanOrEqual(6);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe("stop");
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(new Set(chunks.map((c) => `${c.id}|${c.created}|${c.model}|${c.object}`)).size).toBe(1);
  });

  test("the SDK's .stream() helper accepts the stream and assembles the reply", async () => {
    stack.sim.script(coze(), { text: "helper-friendly reply", steps: 3 });
    const runner = stack.openai.chat.completions.stream({ model: MODEL, messages: [{ role: "user", content: "helper" }] });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0].message.content).toBe("helper-friendly reply");
    expect(final.choices[0].finish_reason).toBe("stop");
  });

  test("raw SSE as curl -N sees it: headers, include_usage chunk, [DONE]", async () => {
    stack.sim.script(coze(), { text: "usage please", steps: 2 });
    const res = await stack.fetch("/v1/chat/completions", {
      method: "POST",
      body: chatBody(MODEL, "LangChain style", { stream: true, stream_options: { include_usage: true }, temperature: 0.7, n: 1 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    const { events, done } = await readSse(res);
    expect(done).toBe(true);
    const last = events.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage.completion_tokens).toBeGreaterThan(0);
    expect(events.at(-2).choices[0].finish_reason).toBe("stop");
  });

  test("no buttons: the reply completes after REPLY_QUIET", async () => {
    stack.sim.script(coze(), { text: "no suggestions here", buttons: false });
    const completion = await ask(stack, "quiet");
    expect(completion.choices[0].message.content).toBe("no suggestions here");
    expect(completion.choices[0].finish_reason).toBe("stop");
  });

  test("a message Coze deletes mid-reply is no longer part of it", async () => {
    let stray: string | undefined;
    stack.sim.script(coze(), {
      text: "The answer that stays.",
      steps: 4,
      editIntervalMs: 40,
      onEdit: (k) => {
        const prompt = stack.sim.posts.at(-1)!;
        const channel = stack.sim.channels.get(prompt.channelId)!;
        if (k === 0) stray = stack.sim.createMessage(channel, coze().user, { content: `<@${stack.bots[0].id}> a stray second message`, referenceId: prompt.id }).id;
        if (k === 2) stack.sim.deleteMessage(stray!);
      },
    });
    expect((await ask(stack, "delete something")).choices[0].message.content).toBe("The answer that stays.");
  });

  test("a text and its image in two messages are one reply", async () => {
    stack.sim.script(coze(), { text: "Here it is:", image: "separate" });
    const completion = await ask(stack, "a picture and words");
    expect(stack.sim.posts.at(-1)!.reply!.messageIds.length).toBe(2);
    expect(completion.choices[0].message.content).toMatch(/^Here it is:\n\n!\[image\]\(http:\/\/127\.0\.0\.1:\d+\/images\/[0-9a-f]{32}\.png\)$/);
  });

  test("a reply that arrives before the post call returns is not lost", async () => {
    stack.sim.postResponseDelayMs = 150;
    stack.sim.script(coze(), { text: "early bird", firstDelayMs: 0, editIntervalMs: 1, steps: 2 });
    const completion = await ask(stack, "early");
    expect(completion.choices[0].message.content).toBe("early bird");
    stack.sim.script(coze(), { text: "early stream", firstDelayMs: 0, editIntervalMs: 1, steps: 2 });
    const { events } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "early", { stream: true }) }));
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe("early stream");
  });

  test("a long last user message is split over messages; only the last mentions Coze", async () => {
    const words = Array.from({ length: 900 }, (_, i) => `w${i}`).join(" ") + " 😀".repeat(300);
    const before = stack.sim.posts.length;
    stack.sim.script(coze(), { text: "got it all" });
    const completion = await ask(stack, words);
    expect(completion.choices[0].message.content).toBe("got it all");
    const posted = stack.sim.posts.slice(before);
    expect(posted.length).toBeGreaterThanOrEqual(3);
    for (const p of posted) expect([...p.content].length).toBeLessThanOrEqual(2000);
    expect(posted.slice(0, -1).every((p) => p.mentions.length === 0 && !p.content.includes("<@"))).toBe(true);
    expect(posted.at(-1)!.mentions).toEqual([coze().user.id]);
    const joined = posted.map((p) => p.content.replace(`<@${coze().user.id}> `, "")).join(" ");
    expect(joined.replace(/\s+/g, " ")).toBe(words);
  });

  test("a long conversation drops its oldest turns and keeps the system prompt and the last question", async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "system", content: "Be brief." }];
    for (let i = 0; i < 30; i++) {
      messages.push({ role: "user", content: `question ${i} ${"q".repeat(80)}` });
      messages.push({ role: "assistant", content: `answer ${i} ${"a".repeat(80)}` });
    }
    messages.push({ role: "user", content: "the final question" });
    stack.sim.script(coze(), { text: "fitted" });
    await stack.openai.chat.completions.create({ model: MODEL, messages });
    const post = stack.sim.posts.at(-1)!;
    expect([...post.content].length).toBeLessThanOrEqual(2000);
    expect(post.content).toStartWith(`<@${coze().user.id}> System: Be brief.\n\n`);
    expect(post.content).toEndWith("User: the final question");
    expect(post.content).toContain("answer 29");
    expect(post.content).not.toContain("question 0 ");
  });

  test("the prompt cannot ping @everyone, roles or other users", async () => {
    stack.sim.script(coze(), { text: "safe" });
    await ask(stack, `@everyone @here <@${stack.bots[0].id}> <@&${stack.entries[0].guild_id}> hi`);
    const post = stack.sim.posts.at(-1)!;
    expect(post.mentions).toEqual([coze().user.id]);
    expect(post.mentionEveryone).toBe(false);
    expect(post.mentionRoles).toEqual([]);
  });

  test("Coze rewriting its reply never sends garbage: the stream keeps only text that extends what was sent", async () => {
    stack.sim.script(coze(), { edits: ["The answer is 4", "Let me think again.", "Let me think again. It is 5."] });
    const { events } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "rewrite", { stream: true }) }));
    const streamed = events.map((e) => e.choices[0]?.delta.content ?? "").join("");
    expect(streamed).toBe("The answer is 4");
    expect(events.at(-1).choices[0].finish_reason).toBe("stop");
    stack.sim.script(coze(), { edits: ["The answer is 4", "Let me think again.", "Let me think again. It is 5."] });
    expect((await ask(stack, "rewrite")).choices[0].message.content).toBe("Let me think again. It is 5.");
  });

  test("silence: 504 naming what to check, as an HTTP status in both modes", async () => {
    stack.sim.script(coze(), { silent: true }, { silent: true });
    const error = await ask(stack, "anyone?").catch((e: any) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.status).toBe(504);
    expect(error.code).toBe("reply_timeout");
    expect(error.message).toContain("answers messages from other bots");
    const res = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "anyone?", { stream: true }) });
    expect(res.status).toBe(504);
    expect(res.headers.get("x-should-retry")).toBe("false");
  });

  test("a Coze error with no other bot is a 502 carrying Coze's words", async () => {
    stack.sim.script(coze(), { error: COZE_ERRORS.tooManyUsers });
    const error = await ask(stack, "busy?").catch((e: any) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(502);
    expect(error.code).toBe("coze_error");
    expect(error.message).toContain("There are too many users now");
  });

  test("an answer that grows into quoting a Coze error text is an answer, in JSON and in streams", async () => {
    const quoting = `Coze sometimes says "${COZE_ERRORS.creditsToday}" when its credits run out.`;
    stack.sim.script(coze(), { text: quoting, steps: 4 });
    expect((await ask(stack, "what does Coze say?")).choices[0].message.content).toBe(quoting);
    stack.sim.script(coze(), { text: quoting, steps: 4 });
    const res = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "and streamed?", { stream: true }) });
    const { events, done } = await readSse(res);
    expect(done).toBe(true);
    expect(events.map((e) => e.choices[0]?.delta.content ?? "").join("")).toBe(quoting);
    // Nothing rested: the next request is answered by the same single bot.
    expect((await ask(stack, "still there?")).choices[0].message.content).toStartWith("You said: still there?");
  });

  test("a Coze error text that comes whole in one message is held back, then answered as an error", async () => {
    stack.sim.script(coze(), { error: COZE_ERRORS.somethingWrong });
    const res = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "fails at once", { stream: true }) });
    expect(res.status).toBe(502);
    expect((await json(res)).error).toMatchObject({ type: "api_error", code: "coze_error" });
  });

  test("a client that goes away releases its request; the next one is served normally", async () => {
    stack.sim.script(coze(), { text: "a slow reply that the client will not wait for", steps: 20, editIntervalMs: 100 });
    const abort = new AbortController();
    const res = await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "bye", { stream: true }), signal: abort.signal });
    const reader = res.body!.getReader();
    await reader.read();
    expect(stack.app.pool.tracking.following).toBe(1);
    abort.abort();
    await stack.sim.waitFor(() => stack.app.pool.tracking.following === 0, 3000);

    const whole = new AbortController();
    stack.sim.script(coze(), { text: "slow again", steps: 20, editIntervalMs: 100 });
    const pending = stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, "bye"), signal: whole.signal }).catch((e: any) => e);
    await stack.sim.waitFor(() => stack.app.pool.tracking.following === 1, 3000);
    whole.abort();
    await pending;
    await stack.sim.waitFor(() => stack.app.pool.tracking.following === 0, 3000);
    // A client leaving is logged as 499, not as a failure of the service.
    await stack.sim.waitFor(() => stack.logs.some((l) => l.includes("status=499")), 3000);
    expect(stack.logs.filter((l) => l.includes(" ERROR "))).toEqual([]);

    stack.sim.script(coze(), { text: "still serving" });
    expect((await ask(stack, "hello again")).choices[0].message.content).toBe("still serving");
  });
});
