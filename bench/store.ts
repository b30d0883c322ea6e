/** The store's cost per request: writes queued and flushed off the request path, with and without it. */
import { join } from "node:path";
import type { ChatMessage } from "../lib/openai/chat-request.ts";
import { planConversation } from "../lib/relay/conversation.ts";
import { Store } from "../lib/store/store.ts";
import { QUICK, percentile, results, rows, tmp } from "./setup.ts";

/**
 * What remembering conversations costs a request, in this process with a real
 * store on disk: a new conversation fingerprints its messages and writes one
 * row; a continued one (a 10-turn history) also looks up and takes the row it
 * continues. The figure is the difference of their p99s (budget: < 0.2 ms).
 */
export function measureStore() {
  const store = new Store(join(tmp, `store-${crypto.randomUUID()}`), 7 * 86_400_000);
  const runs = QUICK ? 2_000 : 20_000;
  const turn = (role: ChatMessage["role"], i: number, k: number): ChatMessage => ({ role, text: `${role} turn ${k} of conversation ${i}: ${"words ".repeat(30)}`, images: [] });
  const history = (i: number) => Array.from({ length: 10 }, (_, k) => turn(k % 2 ? "assistant" : "user", i, k));
  const place = { entryKey: "bench/entry", channelId: "1234567890123456789" };
  const answer = "An answer of a few sentences. ".repeat(10);
  const time = (work: () => void) => {
    const started = performance.now();
    work();
    return performance.now() - started;
  };
  const fresh: number[] = [];
  const continued: number[] = [];
  for (let i = 0; i < runs; i++) {
    const messages = history(i);
    const previous = messages.slice(0, -1);
    store.remember(planConversation("scope", previous.slice(0, -1)).rememberKeys(previous.at(-1)!.text)[0], place);
    fresh.push(time(() => {
      const plan = planConversation("scope", [turn("user", i, 0)]);
      for (const key of plan.rememberKeys(answer)) store.remember(key, place);
    }));
    continued.push(time(() => {
      const plan = planConversation("scope", [...messages, turn("user", i, 10)]);
      const found = store.take(plan.key!);
      for (const key of plan.rememberKeys(answer)) store.remember(key, found ?? place);
    }));
  }
  store.close();
  const p99 = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 99);
  const extra = p99(continued) - p99(fresh);
  results.store = { runs, new_p99_ms: p99(fresh), continued_p99_ms: p99(continued) };
  rows.push({
    figure: "continued conversation over a new one (store)",
    value: extra,
    unit: "ms p99",
    budget: "< 0.2 ms",
    holds: extra < 0.2,
    detail: `p99 ${p99(continued).toFixed(3)} vs ${p99(fresh).toFixed(3)} ms over ${runs} of each (10-turn history, SQLite WAL on disk)`,
  });
}
