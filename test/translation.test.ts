/** Pure protocol translation, without a network: prompt fitting, reply assembly, deltas, Coze errors. */
import { describe, expect, test } from "bun:test";
import type { ChatMessage, Role } from "../lib/openai/chat-request.ts";
import { estimateTokens } from "../lib/openai/usage.ts";
import { classifyCozeText } from "../lib/discord/coze-errors.ts";
import { DeltaTracker } from "../lib/relay/delta.ts";
import { planPrompt } from "../lib/discord/prompt.ts";
import type { ReplyMessage } from "../lib/discord/reply-message.ts";
import { ReplyRouter } from "../lib/discord/reply-router.ts";
import { followReply } from "../lib/discord/reply-follower.ts";
import { ReplyText } from "../lib/discord/reply-text.ts";
import { markdownImages, withImages } from "../lib/markdown-images.ts";
import { threadName } from "../lib/discord/attempt.ts";
import { splitText } from "../lib/discord/text-split.ts";
import { COZE_ERRORS } from "../lib/simulator/coze-script.ts";

const M = "<@111111111111111111>";
const msg = (role: Role, text: string): ChatMessage => ({ role, text, images: [] });

describe("planPrompt", () => {
  test("a lone message goes as it is, after the mention", () => {
    expect(planPrompt([msg("user", "  hi there ")], M)).toEqual({ contents: [`${M} hi there`], text: "hi there", dropped: 0 });
  });

  test("a conversation is one labelled paragraph per turn", () => {
    const plan = planPrompt([msg("system", "Be brief."), msg("user", "Hi"), msg("assistant", "Hello!"), msg("user", "Why?")], M);
    expect(plan.contents).toEqual([`${M} System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: Why?`]);
  });

  test("fitting drops the oldest chat turns, then system turns, never the last user message", () => {
    const long = "x".repeat(700);
    const turns = [msg("system", "S"), msg("user", `u1 ${long}`), msg("assistant", `a1 ${long}`), msg("user", `u2 ${long}`)];
    const plan = planPrompt(turns, M);
    expect(plan.dropped).toBe(1);
    expect(plan.contents[0]).toStartWith(`${M} System: S\n\nAssistant: a1`);
    expect(plan.contents[0].length).toBeLessThanOrEqual(2000);

    const onlyLast = planPrompt([msg("system", "x".repeat(1500)), msg("user", "y".repeat(1000))], M);
    expect(onlyLast.contents).toEqual([`${M} ${"y".repeat(1000)}`]);
    expect(onlyLast.dropped).toBe(1);
  });

  test("a last user message too long for one message is split; only the last piece has the mention", () => {
    const text = Array.from({ length: 700 }, (_, i) => `word${i}`).join(" ");
    const plan = planPrompt([msg("user", text)], M);
    expect(plan.contents.length).toBe(3);
    for (const c of plan.contents) expect(c.length).toBeLessThanOrEqual(2000);
    expect(plan.contents.filter((c) => c.includes(M))).toEqual([plan.contents[2]]);
    expect(plan.contents[2]).toStartWith(`${M} `);
    expect(plan.contents.map((c) => c.replace(`${M} `, "")).join(" ")).toBe(text);
  });

  test("messages after the last user message (an assistant prefill) stay in order", () => {
    const plan = planPrompt([msg("user", "Q"), msg("assistant", "A:")], M);
    expect(plan.contents).toEqual([`${M} User: Q\n\nAssistant: A:`]);
  });

  test("a two-thousand-turn conversation keeps its newest turns", () => {
    const turns = Array.from({ length: 2000 }, (_, i) => msg(i % 2 ? "assistant" : "user", `turn ${i} ${"z".repeat(500)}`));
    const plan = planPrompt(turns, M);
    expect(plan.contents).toHaveLength(1);
    expect(plan.contents[0]).toStartWith(`${M} Assistant: turn 1997 `);
    expect(plan.contents[0]).toEndWith(`Assistant: turn 1999 ${"z".repeat(500)}`);
    expect(plan.dropped).toBe(1997);
  });
});

describe("splitText never cuts inside a character", () => {
  const cases: [string, string][] = [
    ["surrogate pairs", "😀".repeat(1500)],
    ["combining marks", "e\u0301".repeat(1500)],
    ["ZWJ family emoji", "👩‍👩‍👧‍👦".repeat(400)],
    ["flags", "🇯🇵🇨🇳".repeat(500)],
    ["CJK without spaces", "汉字".repeat(1500)],
  ];
  test.each(cases)("%s", (_name, text) => {
    const pieces = splitText(text, 2000);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join("")).toBe(text);
    const graphemes = [...new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)].map((s) => s.segment);
    const unit = graphemes[0];
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(2000);
      expect(piece.length % unit.length).toBe(0);
      expect(piece.startsWith(unit)).toBe(true);
    }
  });

  test("prefers line breaks, then spaces", () => {
    const text = `${"a".repeat(1900)}\n${"b".repeat(300)} ${"c".repeat(100)}`;
    expect(splitText(text, 2000)).toEqual(["a".repeat(1900), `${"b".repeat(300)} ${"c".repeat(100)}`]);
  });
});

describe("DeltaTracker", () => {
  test("sends only what extends what was sent; a rewrite sends nothing until text extends it again", () => {
    const d = new DeltaTracker();
    expect(d.next("Hel")).toBe("Hel");
    expect(d.next("Hello")).toBe("lo");
    expect(d.next("Hello")).toBe("");
    expect(d.next("Goodbye")).toBe("");
    expect(d.rewrites).toBe(1);
    expect(d.next("Hello, world")).toBe(", world");
    expect(d.sent).toBe("Hello, world");
  });
});

const part = (id: string, content: string, extra: Partial<ReplyMessage> = {}): ReplyMessage => ({
  id,
  authorId: "9",
  referenceId: "1",
  content,
  hasComponents: false,
  imageUrls: [],
  ...extra,
});

describe("ReplyText", () => {
  test("joins messages in id order with a newline, each without the leading mention", () => {
    const r = new ReplyText();
    r.apply(part("1000000000000000010", "<@222222222222222222> second"));
    r.apply(part("1000000000000000002", "<@222222222222222222> first <@333333333333333333> keeps inner mentions"));
    expect(r.text()).toBe("first <@333333333333333333> keeps inner mentions\nsecond");
    expect(r.finished).toBe(false);
    r.apply(part("1000000000000000010", "<@222222222222222222> second, edited", { hasComponents: true }));
    expect(r.text()).toBe("first <@333333333333333333> keeps inner mentions\nsecond, edited");
    expect(r.finished).toBe(true);
  });

  test("an edit that leaves fields out keeps them: no blanked text, no lost buttons", () => {
    const r = new ReplyText();
    r.apply(part("5", "<@222222222222222222> the answer", { imageUrls: ["https://cdn.example/a.png"] }));
    r.apply({ id: "5", authorId: "", referenceId: undefined, content: undefined, hasComponents: true, imageUrls: undefined });
    expect(r.text()).toBe("the answer");
    expect(r.finished).toBe(true);
    expect(r.images()).toEqual(["https://cdn.example/a.png"]);
  });

  test("images from embeds, attachments and markdown, each once", () => {
    const r = new ReplyText();
    r.apply(part("5", "look ![a](https://cdn.example/a.png) and [file](https://cdn.example/b.jpg?x=1)", { imageUrls: ["https://cdn.example/a.png", "https://cdn.example/c.webp"] }));
    expect(r.images()).toEqual(["https://cdn.example/a.png", "https://cdn.example/c.webp", "https://cdn.example/b.jpg?x=1"]);
    expect(markdownImages("no links")).toEqual([]);
    expect(withImages("text", ["https://x/a.png", "https://x/b.png"])).toBe("text\n\n![image](https://x/a.png)\n![image](https://x/b.png)");
    expect(withImages("see https://x/a.png", ["https://x/a.png"])).toBe("see https://x/a.png");
  });
});

describe("ReplyRouter", () => {
  test("replies that arrive before anyone follows are handed over when they do", () => {
    const router = new ReplyRouter();
    router.deliver(part("10", "early", { referenceId: "7" }));
    expect(router.waiting).toBe(1);
    const got: (string | undefined)[] = [];
    const stop = router.follow("7", (m) => got.push(m.content));
    expect(got).toEqual(["early"]);
    expect(router.waiting).toBe(0);
    router.deliver(part("10", "edited, no reference", { referenceId: undefined }));
    expect(got).toEqual(["early", "edited, no reference"]);
    stop();
    router.deliver(part("10", "after stop", { referenceId: undefined }));
    expect(got).toHaveLength(2);
    expect(router.following).toBe(0);
  });

  test("the orphan buffer is bounded", () => {
    const router = new ReplyRouter();
    for (let i = 0; i < 10_000; i++) router.deliver(part(String(100000 + i), "x", { referenceId: String(i) }));
    expect(router.waiting).toBeLessThanOrEqual(256);
  });
});

describe("followReply", () => {
  const options = (signal: AbortSignal) => ({ cozeBotId: "9", startTimeoutMs: 60_000, quietMs: 15_000, totalTimeoutMs: 300_000, wantImage: false, signal });
  /** A signal that counts the listeners added to it and removed from it. */
  const countingSignal = () => {
    const signal = new AbortController().signal;
    const counts = { added: 0, removed: 0 };
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => (counts.added++, add(...args))) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => (counts.removed++, remove(...args))) as typeof remove;
    return { signal, counts };
  };

  test("a reply that is complete on arrival (it beat the post) leaves nothing registered", async () => {
    const { signal, counts } = countingSignal();
    let unsubscribed = 0;
    const result = await followReply((listener) => {
      listener(part("5", "<@1> all there", { hasComponents: true }));
      return () => unsubscribed++;
    }, options(signal));
    expect(result).toEqual({ text: "all there", images: [], buttons: [], finishReason: "stop" });
    expect(unsubscribed).toBe(1);
    expect(counts.added).toBe(0);
  });

  test("an edit without an author counts only for a message already in the reply", async () => {
    let deliver: (m: ReplyMessage) => void = () => {};
    const pending = followReply((listener) => ((deliver = listener), () => {}), options(new AbortController().signal));
    deliver({ id: "77", authorId: "", referenceId: "1", content: "<@1> a stranger's edit", hasComponents: true, imageUrls: [] });
    deliver(part("5", "<@1> from Coze"));
    deliver({ id: "5", authorId: "", referenceId: undefined, content: undefined, hasComponents: true, imageUrls: undefined });
    expect(await pending).toEqual({ text: "from Coze", images: [], buttons: [], finishReason: "stop" });
  });

  test("a reply that completes later removes its abort listener and subscription", async () => {
    const { signal, counts } = countingSignal();
    let deliver: (m: ReplyMessage) => void = () => {};
    let unsubscribed = 0;
    const pending = followReply((listener) => ((deliver = listener), () => unsubscribed++), options(signal));
    deliver(part("5", "<@1> half"));
    deliver(part("5", "<@1> half and whole", { hasComponents: true }));
    expect((await pending).text).toBe("half and whole");
    expect(unsubscribed).toBe(1);
    expect(counts.added).toBe(1);
    expect(counts.removed).toBe(1);
  });
});

describe("Coze error texts", () => {
  test.each(Object.entries(COZE_ERRORS))("%s is recognised", (name, text) => {
    const quota = ["dailyLimit", "freeCredits", "creditsToday", "developerCredits"].includes(name);
    expect(classifyCozeText(text)).toBe(quota ? "quota" : "failure");
  });

  test("curly apostrophes and case do not matter; answers that merely quote an error are answers", () => {
    expect(classifyCozeText("You’ve used up your free chat credits")).toBe("quota");
    expect(classifyCozeText("SOMETHING WRONG OCCURS, PLEASE RETRY")).toBe("failure");
    expect(classifyCozeText("Hello! How can I help?")).toBeNull();
    expect(classifyCozeText(`Coze sometimes says "There are too many users now". ${"More explanation. ".repeat(30)}`)).toBeNull();
  });
});

test("token estimate: about 4 Latin characters or 1 CJK character per token", () => {
  expect(estimateTokens("")).toBe(0);
  expect(estimateTokens("abcd".repeat(25))).toBe(25);
  expect(estimateTokens("你好世界")).toBe(4);
});

describe("conversation identity", () => {
  const { planConversation, fingerprint } = require("../lib/relay/conversation.ts") as typeof import("../lib/relay/conversation.ts");
  const m = (role: "system" | "user" | "assistant", text: string) => ({ role, text, images: [] as { url: string; param: string }[] });

  test("the state remembered after an answer is the key of the request that continues it", () => {
    const first = [m("system", "be brief"), m("user", "hello")];
    const remembered = planConversation("k", first).rememberKeys("hi there");
    const next = planConversation("k", [...first, m("assistant", "  hi there \n"), m("user", "and then?")]);
    expect(next.key).toBe(remembered[0]);
    expect(next.key).toBe(fingerprint("k", [...first, m("assistant", "hi there")]));
    expect(next.newTurns.map((t) => t.text)).toEqual(["and then?"]);
  });

  test("another key, another text, an edited question or another image never matches", () => {
    const base = [m("user", "q"), m("assistant", "a"), m("user", "next")];
    const key = planConversation("k", base).key;
    expect(planConversation("other", base).key).not.toBe(key);
    expect(planConversation("k", [m("user", "q!"), m("assistant", "a"), m("user", "next")]).key).not.toBe(key);
    const withImage = [{ ...m("user", "q"), images: [{ url: "data:image/png;base64,AAAA", param: "p" }] }, m("assistant", "a"), m("user", "next")];
    expect(planConversation("k", withImage).key).not.toBe(key);
  });

  test("a request without an assistant turn starts a conversation; a named one keeps its id", () => {
    expect(planConversation("k", [m("user", "only")]).key).toBeUndefined();
    const named = planConversation("k", [m("user", "only")], "chat-7");
    expect(named).toMatchObject({ key: "id:k:chat-7", named: true });
    expect(named.rememberKeys("x")).toEqual(["id:k:chat-7"]);
    expect(threadName(planConversation("k", [m("user", "x".repeat(300))]).title)).toHaveLength(100);
  });
});

describe("abortWhen", () => {
  const { abortWhen } = require("../lib/abort-link.ts") as typeof import("../lib/abort-link.ts");

  test("the controller aborts with the source's reason while linked, and not once unlinked", () => {
    const source = new AbortController();
    const linked = new AbortController();
    const unlinked = new AbortController();
    abortWhen(source.signal, linked);
    abortWhen(source.signal, unlinked)();
    const reason = new Error("client left");
    source.abort(reason);
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe(reason);
    expect(unlinked.signal.aborted).toBe(false);
  });

  test("a source that has already aborted aborts the controller at once", () => {
    const source = new AbortController();
    source.abort(new Error("gone"));
    const controller = new AbortController();
    abortWhen(source.signal, controller);
    expect(controller.signal.reason).toBe(source.signal.reason);
  });
});
