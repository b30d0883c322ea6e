/**
 * Post pacing reads discord.js's REST handlers. discord.js keeps one handler
 * per channel posted in (every thread is a channel), thousands under load:
 * what runs after every post must read only the channel's own.
 */
import { expect, test } from "bun:test";
import { PostPacing } from "../lib/discord/post-pacing.ts";

const ROUTE = "POST:/channels/:id/messages";

/** discord.js's handlers map, counting the walks over it. */
class Handlers extends Map<string, object> {
  walks = 0;
  override [Symbol.iterator]() {
    this.walks++;
    return super[Symbol.iterator]();
  }
  override entries() {
    this.walks++;
    return super.entries();
  }
}

function restWith(handlers: Handlers) {
  return { hashes: new Map<string, { value: string }>(), handlers };
}

test("learning after a post reads only the channel's own bucket, however many threads discord.js keeps", () => {
  const handlers = new Handlers();
  const now = Date.now();
  handlers.set(`Global(${ROUTE}):parent`, { limit: 5, remaining: 4, reset: now + 4000 });
  // Threads posted in lately, and one whose headers have not told discord.js its limit yet.
  for (let i = 0; i < 1000; i++) handlers.set(`Global(${ROUTE}):thread${i}`, { limit: 5, remaining: 4, reset: now + 3000 });
  handlers.set(`Global(${ROUTE}):fresh`, { limit: Infinity, remaining: 1, reset: -1 });
  const pacing = new PostPacing(restWith(handlers));
  pacing.learn("parent");
  pacing.learn("fresh");
  expect(handlers.walks).toBe(0);
});

test("a prompt of several pieces in a thread not started yet takes its siblings' limit and the window learned", () => {
  const handlers = new Handlers();
  const now = Date.now();
  handlers.set(`Global(${ROUTE}):parent`, { limit: 5, remaining: 4, reset: now + 4000 });
  handlers.set(`Global(${ROUTE}):other`, { limit: 3, remaining: 3, reset: now + 1000 });
  const pacing = new PostPacing(restWith(handlers));
  pacing.learn("parent");
  // 4 pieces, 3 a window: the fourth waits one window (the longest seen, ~4 s) plus discord.js's offset.
  const wait = pacing.waitMs(undefined, 4);
  expect(wait).toBeGreaterThan(3900);
  expect(wait).toBeLessThanOrEqual(4050);
  expect(handlers.walks).toBe(1);
  expect(pacing.waitMs(undefined, 3)).toBe(0);
});
