/**
 * The pool and the relay know a backend only through the seam: a kind made
 * here, in the test, with links that answer from memory, serves requests,
 * fails over, rests, and comes and goes with a reload like the real ones.
 */
import { afterAll, expect, test } from "bun:test";
import type { BotEntry } from "../lib/config/bots.ts";
import { setLogSink } from "../lib/log.ts";
import { Metrics } from "../lib/metrics.ts";
import { UpstreamFailure } from "../lib/pool/failure.ts";
import { Pool } from "../lib/pool/pool.ts";
import type { Answer, Attempt, BackendKind, Link, RelayRequest } from "../lib/pool/seam.ts";
import { relay } from "../lib/relay/relay.ts";
import { ApiError } from "../lib/openai/api-error.ts";

const logs: string[] = [];
const previousSink = setLogSink((line) => logs.push(line));
afterAll(() => setLogSink(previousSink));

/** A link that answers each attempt with the next of its scripted outcomes. */
class MemoryLink implements Link {
  state = "ready" as const;
  problem = undefined;
  usable = true;
  sharesContext = false;
  quietHeld = false;
  queued = 0;
  readonly asked: Attempt[] = [];
  constructor(
    readonly name: string,
    readonly outcomes: ((attempt: Attempt) => Answer)[],
  ) {}
  async attempt(attempt: Attempt): Promise<Answer> {
    this.asked.push(attempt);
    const next = this.outcomes.shift() ?? ((a) => answer(`${this.name} answers`, a));
    return next(attempt);
  }
  async check() {
    return { ok: true as const, firstReplyMs: 0 };
  }
}

const answer = (text: string, attempt: Attempt): Answer => {
  attempt.emit(text);
  return { text, images: [], finishReason: "stop", place: { entryKey: attempt.entryKey, conversationId: `c-${text}` }, promptText: "" };
};
const fail = (kind: UpstreamFailure["kind"], afterText?: string) => (attempt: Attempt): Answer => {
  if (afterText) attempt.emit(afterText);
  throw new UpstreamFailure(kind, `failed: ${kind}`, { openaiCode: "test_error" });
};

function memoryKind(links: Map<string, MemoryLink>): BackendKind {
  return {
    kind: "api",
    entryKey: (e) => `memory/${(e as { bot_id: string }).bot_id}`,
    imageHosts: () => ({ hosts: [], suffixes: [] }),
    create: () => ({
      link: (e, previous) => previous ?? links.get((e as { bot_id: string }).bot_id)!,
      connect: async () => {},
      retire: () => {},
      stop: async () => {},
    }),
  };
}

const entry = (index: number, bot: string): BotEntry => ({ kind: "api", index, model: "m", coze_api_token: "t", bot_id: bot, api_base: "http://x" });
const timings = { replyStartTimeoutMs: 1000, replyQuietMs: 100, replyTimeoutMs: 1000, autoContinue: 0 };
const places = { touch: async () => {}, oldest: async () => [], archived: async () => {}, serialize: <T>(_name: string, work: () => Promise<T>) => work() };

function setup(names: string[]) {
  const links = new Map(names.map((n) => [n, new MemoryLink(n, [])]));
  const pool = new Pool([memoryKind(links)], names.map((n, i) => entry(i, n)), {
    discordApiUrl: "http://x", globalRateLimit: 50, metrics: new Metrics(), maxInFlightPerEntry: 4, quotaCooldownMs: 60_000, failureCooldownMs: 60_000, probeTimings: timings,
  });
  const ctx = { pool, conversations: places, settings: timings, metrics: new Metrics() };
  const ask = (extra: Partial<RelayRequest> = {}) =>
    relay(ctx, { model: "m", history: [], newTurns: [], files: [], user: "u", title: "t", wantImage: false, signal: new AbortController().signal, requestId: "r", receivedAt: Date.now(), ...extra });
  return { links, pool, ask };
}

test("a kind the pool never heard of serves requests round-robin, and a failure that moves on goes to the next entry", async () => {
  const { links, ask, pool } = setup(["a", "b"]);
  expect((await ask()).text).toBe("a answers");
  expect((await ask()).text).toBe("b answers");
  links.get("a")!.outcomes.push(fail("entry-fault"));
  expect((await ask()).text).toBe("b answers");
  // The failure tripped a's breaker: b takes the next request too.
  expect(pool.status()[0].entries.map((e) => e.cooling_down_seconds > 0)).toEqual([true, false]);
});

test("once text reached the client, a failure is the answer: no other entry is asked", async () => {
  const { links, ask } = setup(["a", "b"]);
  links.get("a")!.outcomes.push(fail("error-answer", "the first words"));
  const error = await ask({ onText: () => true }).catch((e) => e);
  expect(error).toBeInstanceOf(ApiError);
  expect(error.status).toBe(502);
  expect(links.get("b")!.asked).toHaveLength(0);
});

test("a continued conversation goes back to the entry that holds it, and only there starts from its place", async () => {
  const { links, ask } = setup(["a", "b"]);
  const first = await ask();
  const again = await ask({ place: first.place });
  expect(again.text).toBe("a answers");
  expect(links.get("a")!.asked.at(-1)!.home).toEqual(first.place);
});

test("entries come and go while serving: a reload keeps an unchanged entry's link and rest, and drops a removed one", async () => {
  const { links, pool, ask } = setup(["a", "b"]);
  links.get("a")!.outcomes.push(fail("quota"));
  await ask();
  links.set("c", new MemoryLink("c", []));
  await pool.reload([entry(0, "a"), entry(1, "c")]);
  expect(pool.entry("memory/b")).toBeUndefined();
  expect(pool.entry("memory/a")!.link).toBe(links.get("a")!);
  expect(pool.entry("memory/a")!.restingFor()).toBeGreaterThan(0);
  expect((await ask()).text).toBe("c answers");
});
