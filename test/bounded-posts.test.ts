/**
 * Bounded posts: a request's new turns become at most PROMPT_MAX_POSTS
 * Discord messages, refused before anything is posted; a prompt of several
 * pieces goes out whole or not at all under Discord's rate limits. And a
 * missing thread permission named by its Discord name. Through the real
 * path, the simulator recording every post and thread.
 */
import { describe, expect, test } from "bun:test";
import { channelPayload } from "../lib/simulator/payloads.ts";
import { chatBody, json, stackPerTest, type Stack } from "./harness.ts";

const MODEL = "gpt-test";
const start = stackPerTest({ settings: { replyQuietMs: 300 } });
/** A stack whose Coze answers briefly (the default bot echoes the prompt, and a long echo is continued: more posts). */
const newStack = async (options?: Parameters<typeof start>[0]) => {
  const stack = await start(options);
  for (const coze of stack.cozes) coze.behaviour = () => ({ text: "noted", steps: 1 });
  return stack;
};
const ask = (stack: Stack, content: string) => stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(MODEL, content) });
/** A user message that Discord's 2000-character limit splits into `pieces` messages. */
const message = (pieces: number) => Array.from({ length: pieces }, (_, i) => `piece ${i} ` + "word ".repeat(370)).join("\n");
const threads = (stack: Stack) => [...stack.sim.channels.values()].filter((c) => c.thread).length;

describe("PROMPT_MAX_POSTS", () => {
  test("a 100 KB message is a 400 context_length_exceeded before anything is posted, a thread included", async () => {
    const stack = await newStack();
    const res = await ask(stack, "x ".repeat(50 * 1024));
    expect(res.status).toBe(400);
    const { error } = await json(res);
    expect(error.code).toBe("context_length_exceeded");
    expect(error.message).toContain("PROMPT_MAX_POSTS allows 8");
    expect(res.headers.get("x-should-retry")).toBe("false");
    expect(stack.sim.posts).toHaveLength(0);
    expect(threads(stack)).toBe(0);
    // As many pieces as allowed still go (once a post has shown that this Discord sets no rate limit).
    expect((await ask(stack, "hello")).status).toBe(200);
    const fits = await ask(stack, message(8));
    expect(fits.status).toBe(200);
    expect(stack.sim.posts).toHaveLength(9);
  });

  test("the limit is PROMPT_MAX_POSTS: 2 refuses a message of three pieces", async () => {
    const stack = await newStack({ settings: { replyQuietMs: 300, promptMaxPosts: 2 } });
    expect((await ask(stack, message(3))).status).toBe(400);
    expect(stack.sim.posts).toHaveLength(0);
    expect((await ask(stack, message(2))).status).toBe(200);
  });

  test("a model's Coze API entry still takes a prompt too long for its Discord entries", async () => {
    // A start deadline long enough for Discord's rate limit to let 12 pieces out: only PROMPT_MAX_POSTS refuses them.
    const stack = await newStack({ api: [{ model: MODEL }], settings: { replyQuietMs: 300, replyStartTimeoutMs: 30_000 } });
    // Twice: round-robin offers the Discord entry first one of the two times.
    for (let i = 0; i < 2; i++) expect((await ask(stack, message(12))).status).toBe(200);
    expect(stack.sim.posts).toHaveLength(0);
    expect(stack.apiSim.chats).toHaveLength(2);
  });
});

describe("a prompt's pieces go out whole or not at all", () => {
  test("under Discord's rate limit: pieces that cannot all go out before the start deadline are a 429 before the first", async () => {
    // 5 posts per 5 s per channel; a 3 s start deadline lets 5 pieces out at once, never a sixth.
    const stack = await newStack({ simulator: { rateLimit: { limit: 5, windowMs: 5000 } }, settings: { replyQuietMs: 300, replyStartTimeoutMs: 3000 } });
    // One post teaches the service the bucket's limit and window from Discord's headers.
    expect((await ask(stack, "hello")).status).toBe(200);
    const five = await ask(stack, message(5));
    expect(five.status).toBe(200);
    expect(stack.sim.posts).toHaveLength(6);
    const six = await ask(stack, message(6));
    expect(six.status).toBe(429);
    expect(Number(six.headers.get("retry-after"))).toBeGreaterThanOrEqual(5);
    expect((await json(six)).error.message).toContain("nothing was posted");
    expect(stack.sim.posts).toHaveLength(6);
  });

  test("with time enough, every piece is posted, the ones past the window waited out", async () => {
    const stack = await newStack({ simulator: { rateLimit: { limit: 5, windowMs: 1000 } }, settings: { replyQuietMs: 300, replyStartTimeoutMs: 5000 } });
    // One post teaches the service the channel bucket's limit and window.
    expect((await ask(stack, "hello")).status).toBe(200);
    const res = await ask(stack, message(8));
    expect(res.status).toBe(200);
    expect(stack.sim.posts.slice(1)).toHaveLength(8);
  });
});

describe("the start deadline holds for Discord's calls", () => {
  test("a post Discord has not answered by the start deadline is given up there: a 429, not an answer after it", async () => {
    const stack = await newStack({ settings: { replyQuietMs: 300, replyStartTimeoutMs: 1000 } });
    stack.sim.postResponseDelayMs = 2500;
    const res = await ask(stack, "hello");
    // Without the deadline the post would return after 2.5 s and its reply be followed: a 200.
    expect(res.status).toBe(429);
    expect((await json(res)).error.message).toContain("past the request's start deadline");
  });
});

describe("permissions", () => {
  test("a missing thread permission is named in the request's error, by its Discord name", async () => {
    const stack = await newStack();
    const channel = stack.channels[0];
    channel.deniedThreads.add(stack.bots[0].id);
    // Discord tells the bot's gateway when a channel's permissions change.
    for (const session of stack.sim.sessions) session.dispatch("CHANNEL_UPDATE", JSON.stringify(channelPayload(channel)));
    await Bun.sleep(100);
    const res = await ask(stack, "hello");
    expect(res.status).toBe(502);
    const { error } = await json(res);
    expect(error.message).toContain("Missing Permissions");
    expect(error.message).toContain("bot-02 lacks Create Public Threads");
    expect(error.message).toContain('"threads": false');
    expect(stack.sim.posts).toHaveLength(0);
  });
});
