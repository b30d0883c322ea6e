/**
 * The store's cost per request, with a real store: SQLite in a temporary
 * DATA_DIR, and PostgreSQL on loopback where a server is installed (a fresh
 * cluster of its own, stopped after). A new conversation fingerprints its
 * messages and queues one write; a continued one (a 10-turn history) also
 * looks up and takes the row it continues, read back from the database (the
 * previous turn was written between requests, as the service writes it).
 * The figure is the difference of their p99s (budget: < 0.2 ms).
 */
import { join } from "node:path";
import type { ChatMessage } from "../lib/openai/chat-request.ts";
import { planConversation } from "../lib/relay/conversation.ts";
import { openStore } from "../lib/store/open.ts";
import type { Store } from "../lib/store/store.ts";
import { postgresBin, startPostgres } from "../test/support/postgres.ts";
import { QUICK, percentile, results, rows, tmp } from "./setup.ts";

interface StoreFigures {
  runs: number;
  new_p99_ms: number;
  continued_p99_ms: number;
}

export async function measureStore(): Promise<void> {
  const runs = QUICK ? 2_000 : 20_000;
  const settings = { conversationTtlMs: 7 * 86_400_000, imageTtlMs: 86_400_000, imageStoreMax: 1 << 30 };
  const sqlite = openStore({ ...settings, dataDir: join(tmp, `store-${crypto.randomUUID()}`) });
  results.store = await measure(sqlite, runs);
  await sqlite.close();
  row("store", results.store as StoreFigures, "SQLite WAL on disk");
  const found = postgresBin();
  if (!("bin" in found)) {
    console.log(`PostgreSQL store figure skipped: ${found.missing}`);
    return;
  }
  const server = await startPostgres(found.bin);
  try {
    const pg = openStore({ ...settings, dataDir: tmp, databaseUrl: await server.database("bench") });
    await pg.ready();
    results.store_postgres = await measure(pg, Math.min(runs, 5_000));
    await pg.close();
    row("store, PostgreSQL", results.store_postgres as StoreFigures, "PostgreSQL on loopback: the look-up is a round trip");
  } finally {
    await server.remove();
  }
}

function row(label: string, figures: StoreFigures, detail: string): void {
  const extra = figures.continued_p99_ms - figures.new_p99_ms;
  rows.push({
    figure: `continued conversation over a new one (${label})`,
    value: extra,
    unit: "ms p99",
    budget: "< 0.2 ms",
    holds: extra < 0.2,
    detail: `p99 ${figures.continued_p99_ms.toFixed(3)} vs ${figures.new_p99_ms.toFixed(3)} ms over ${figures.runs} of each (10-turn history, ${detail})`,
  });
}

async function measure(store: Store, runs: number): Promise<StoreFigures> {
  const turn = (role: ChatMessage["role"], i: number, k: number): ChatMessage => ({ role, text: `${role} turn ${k} of conversation ${i}: ${"words ".repeat(30)}`, images: [] });
  const history = (i: number) => Array.from({ length: 10 }, (_, k) => turn(k % 2 ? "assistant" : "user", i, k));
  const place = { entryKey: "bench/entry", channelId: "1234567890123456789" };
  const answer = "An answer of a few sentences. ".repeat(10);
  const time = async (work: () => unknown) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const fresh: number[] = [];
  const continued: number[] = [];
  for (let i = 0; i < runs; i++) {
    const messages = history(i);
    // The state Coze has seen: the history up to the last user turn, and its answer (the last assistant turn).
    for (const key of planConversation("scope", messages.slice(0, -1)).rememberKeys(messages.at(-1)!.text)) store.remember(key, place);
    await store.flush();
    fresh.push(
      await time(() => {
        const plan = planConversation("scope", [turn("user", i, 0)]);
        for (const key of plan.rememberKeys(answer)) store.remember(key, place);
      }),
    );
    continued.push(
      await time(async () => {
        const plan = planConversation("scope", [...messages, turn("user", i, 10)]);
        const found = await store.take(plan.key!);
        if (!found) throw new Error("the bench's continued conversation was not found");
        for (const key of plan.rememberKeys(answer)) store.remember(key, found);
      }),
    );
  }
  const p99 = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 99);
  return { runs, new_p99_ms: p99(fresh), continued_p99_ms: p99(continued) };
}
