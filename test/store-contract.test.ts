/**
 * The store's meaning, the same for both implementations: every case runs
 * against SQLite in a temporary DATA_DIR and against a real PostgreSQL
 * (skipped with a one-line reason where no server is installed; required
 * under CI=true). Cases that need two instances on one database run for
 * PostgreSQL only (one process owns a DATA_DIR).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { Database } from "bun:sqlite";
import { setLogSink } from "../lib/log.ts";
import { ConfigError } from "../lib/config/config-error.ts";
import { readSettings } from "../lib/config/settings.ts";
import { openStore, type StoreSettings } from "../lib/store/open.ts";
import { PG_SCHEMA_VERSION } from "../lib/store/pg-schema.ts";
import type { Store } from "../lib/store/store.ts";
import { postgresForTests, startPostgres, type PgServer } from "./support/postgres.ts";

const pg = postgresForTests();
let server: PgServer | undefined;
let databases = 0;
beforeAll(async () => {
  if (!pg.skip) server = await startPostgres(pg.bin);
});
afterAll(async () => {
  await server?.remove();
});

const BASE = { conversationTtlMs: 86_400_000, imageTtlMs: 86_400_000, imageStoreMax: 1 << 30 };
/** `rows` counts a table's rows as they lie in the database, lapsed ones too (`rests` or `suspects`). */
type Open = (settings?: Partial<StoreSettings>) => Promise<{ store: Store; another: () => Promise<Store>; rows: (table: "rests" | "suspects") => Promise<number> }>;

const sqlite: Open = async (settings = {}) => {
  const dataDir = mkdtempSync(join(tmpdir(), "coze-contract-"));
  const store = openStore({ ...BASE, ...settings, dataDir });
  const rows = async (table: string) => {
    const db = new Database(join(dataDir, "coze-chat-proxy.sqlite"), { readonly: true });
    try {
      return db.query<{ n: number }, []>(`SELECT count(*) AS n FROM ${table}`).get()!.n;
    } finally {
      db.close();
    }
  };
  return { store, another: () => Promise.reject(new Error("one process owns a DATA_DIR")), rows };
};
const postgres: Open = async (settings = {}) => {
  const databaseUrl = await server!.database(`contract_${++databases}`);
  const open = async () => {
    const store = openStore({ ...BASE, ...settings, dataDir: "/nonexistent", databaseUrl });
    await store.ready();
    return store;
  };
  const rows = async (table: string) => {
    const sql = new SQL(databaseUrl);
    try {
      return Number((await sql.unsafe(`SELECT count(*) AS n FROM coze_${table}`))[0].n);
    } finally {
      await sql.close();
    }
  };
  return { store: await open(), another: open, rows };
};

test("DATABASE_URL must be a PostgreSQL URL; the error names the variable and never repeats the URL (it carries a password)", () => {
  for (const url of ["mysql://u:hunter2@db/x", "postgres://", "not a url hunter2"]) {
    const error = (() => {
      try {
        readSettings({ DATABASE_URL: url });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toContain("DATABASE_URL");
    expect(error!.message).not.toContain("hunter2");
  }
  expect(readSettings({ DATABASE_URL: "postgresql://u:p@db:5432/x" }).databaseUrl).toBe("postgresql://u:p@db:5432/x");
});

const place = (n: number) => ({ entryKey: "model/0", channelId: `thread-${n}` });
const png = (n: number) => new Uint8Array(1000).fill(n);

for (const [name, open, skip] of [["SQLite", sqlite, false], ["PostgreSQL", postgres, pg.skip]] as const) {
  describe.skipIf(skip)(`the ${name} store`, () => {
    test("conversations: found and kept, taken once, seen before they are written, and after", async () => {
      const { store } = await open();
      store.remember("a", place(1));
      expect(await store.find("a")).toEqual(place(1)); // queued, not written yet
      await store.flush();
      expect(await store.find("a")).toEqual(place(1));
      expect(await store.take("a")).toEqual(place(1));
      expect(await store.take("a")).toBeUndefined();
      await store.flush();
      expect(await store.find("a")).toBeUndefined();
      store.remember("b", place(2));
      store.remember("b", place(3)); // the later write wins
      await store.flush();
      expect(await store.find("b")).toEqual(place(3));
      expect(await store.conversations()).toBe(1);
      await store.close();
    });

    test("conversations past CONVERSATION_TTL are not found, and the sweep forgets the oldest beyond the bound", async () => {
      const aging = (await open({ conversationTtlMs: 150 })).store;
      aging.remember("old", place(1));
      await aging.flush();
      await Bun.sleep(200);
      expect(await aging.find("old")).toBeUndefined();
      await aging.close();
      // The bound apart, with an age that a slow machine cannot reach meanwhile.
      const { store } = await open({ maxConversations: 3 });
      for (let i = 0; i < 5; i++) {
        store.remember(`k${i}`, place(i));
        await store.flush();
        await Bun.sleep(2);
      }
      await store.sweep();
      expect(await store.conversations()).toBe(3);
      expect(await store.find("k0")).toBeUndefined();
      expect(await store.find("k4")).toEqual(place(4));
      await store.close();
    });

    test("threads: idle ones listed oldest first, archived ones not, posting again unarchives", async () => {
      const { store } = await open();
      store.touchThread(place(1));
      await Bun.sleep(3);
      store.touchThread({ entryKey: "model/1", channelId: "thread-2" });
      await Bun.sleep(3);
      const cut = Date.now();
      await Bun.sleep(3);
      store.touchThread(place(3));
      expect((await store.idleThreads(cut)).map((p) => p.channelId)).toEqual(["thread-1", "thread-2"]);
      expect(await store.oldestThreads("model/0", 10)).toEqual(["thread-1", "thread-3"]);
      store.markArchived("thread-1");
      expect((await store.idleThreads(cut)).map((p) => p.channelId)).toEqual(["thread-2"]);
      store.touchThread(place(1));
      expect(await store.oldestThreads("model/0", 10)).toEqual(["thread-3", "thread-1"]);
      await store.close();
    });

    test("Responses transcripts are scoped to their key", async () => {
      const { store } = await open();
      const transcript = [{ role: "user", text: "hi", images: [] }];
      store.rememberResponse("resp_1", "scope-a", transcript);
      expect(await store.response("resp_1", "scope-a")).toEqual(transcript);
      await store.flush();
      expect(await store.response("resp_1", "scope-a")).toEqual(transcript);
      expect(await store.response("resp_1", "scope-b")).toBeUndefined();
      await store.close();
    });

    test("rests and suspects: running ones returned, ended ones not", async () => {
      const { store } = await open();
      store.rest("model/0", Date.now() + 60_000);
      store.rest("model/1", Date.now() - 1);
      store.suspect("model/2", Date.now() + 60_000);
      await store.flush();
      const states = await store.entryStates();
      expect([...states.rests.keys()]).toEqual(["model/0"]);
      expect([...states.suspects.keys()]).toEqual(["model/2"]);
      await store.close();
    });

    test("the sweep deletes lapsed rests and suspect marks, cleared ones (until 0) among them, and keeps running ones", async () => {
      const { store, rows } = await open();
      store.rest("model/0", Date.now() + 60_000);
      store.rest("model/1", Date.now() - 1);
      store.suspect("model/2", Date.now() + 60_000);
      store.suspect("model/3", Date.now() - 1);
      store.suspect("model/4", 0); // a mark cleared by its probe
      await store.flush();
      expect([await rows("rests"), await rows("suspects")]).toEqual([2, 3]);
      await store.sweep();
      expect([await rows("rests"), await rows("suspects")]).toEqual([1, 1]);
      const states = await store.entryStates();
      expect([[...states.rests.keys()], [...states.suspects.keys()]]).toEqual([["model/0"], ["model/2"]]);
      await store.close();
    });

    test("sessions: found by their id until they expire or are revoked; the ids are not stored", async () => {
      const { store } = await open();
      const s1 = await store.sessions.create("owner-1", Date.now() + 60_000);
      const s2 = await store.sessions.create("owner-2", Date.now() + 100);
      const s3 = await store.sessions.create("owner-3", Date.now() + 60_000);
      expect(s1).toMatch(/^[0-9a-f]{32}$/);
      expect(await store.sessions.lookup(s1)).toBe("owner-1"); // queued, not written yet
      await store.flush();
      expect(await store.sessions.lookup(s1)).toBe("owner-1");
      expect(await store.sessions.lookup("0".repeat(32))).toBeUndefined();
      await store.sessions.revoke(s1);
      expect(await store.sessions.lookup(s1)).toBeUndefined();
      await store.flush();
      expect(await store.sessions.lookup(s1)).toBeUndefined();
      await Bun.sleep(150);
      expect(await store.sessions.lookup(s2)).toBeUndefined();
      expect(await store.sessions.revokeKeysNotIn(["owner-1"])).toBe(2);
      expect(await store.sessions.lookup(s3)).toBeUndefined();
      await store.close();
    });

    test("images: served by id and extension, the oldest dropped beyond IMAGE_STORE_MAX", async () => {
      const { store } = await open({ imageStoreMax: 2500 });
      const first = await store.images.put(png(1), "image/png");
      await Bun.sleep(3);
      const second = await store.images.put(png(2), "image/jpeg");
      expect(second.ext).toBe("jpg");
      const got = await store.images.get(second.id, "jpg");
      expect(got!.type).toBe("image/jpeg");
      expect(new Uint8Array(await new Response(got!.body).arrayBuffer())).toEqual(png(2));
      expect(await store.images.get(second.id, "png")).toBeUndefined();
      await Bun.sleep(3);
      await store.images.put(png(3), "image/png");
      expect(await store.images.get(first.id, "png")).toBeUndefined();
      expect(await store.images.get(second.id, "jpg")).toBeDefined();
      await store.close();
    });

    test("withLock: one holder at a time, in order of arrival", async () => {
      const { store } = await open();
      const order: string[] = [];
      await Promise.all(
        [0, 1, 2].map((i) =>
          store.withLock("channel-1", async () => {
            order.push(`in ${i}`);
            await Bun.sleep(20);
            order.push(`out ${i}`);
          }),
        ),
      );
      expect(order).toEqual(["in 0", "out 0", "in 1", "out 1", "in 2", "out 2"]);
      await store.close();
    });

    if (name === "PostgreSQL") {
      test("two instances on one database: what one writes the other reads, and a lock held by one makes the other wait", async () => {
        const { store, another } = await open();
        const other = await another();
        store.remember("shared", place(7));
        store.rest("model/0", Date.now() + 60_000);
        await store.flush();
        expect(await other.find("shared")).toEqual(place(7));
        expect((await other.entryStates()).rests.has("model/0")).toBe(true);
        const image = await store.images.put(png(9), "image/png");
        expect(new Uint8Array(await new Response((await other.images.get(image.id, "png"))!.body).arrayBuffer())).toEqual(png(9));
        const order: string[] = [];
        const { promise: held, resolve: holding } = Promise.withResolvers<void>();
        const first = store.withLock("coze-conversation-1", async () => {
          order.push("first in");
          holding();
          await Bun.sleep(150);
          order.push("first out");
        });
        await held;
        await other.withLock("coze-conversation-1", async () => void order.push("second in"));
        await first;
        expect(order).toEqual(["first in", "first out", "second in"]);
        await Promise.all([store.close(), other.close()]);
      });

      test("two instances starting at once on a new database: the schema is created once, both use it", async () => {
        const databaseUrl = await server!.database(`contract_${++databases}`);
        const logs: string[] = [];
        const previous = setLogSink((line) => logs.push(line));
        const stores = [0, 1, 2].map(() => openStore({ ...BASE, dataDir: "/nonexistent", databaseUrl }));
        await Promise.all(stores.map((s) => s.ready())).finally(() => setLogSink(previous));
        // None raced another into an error (and a retry): they queued on the migration lock.
        expect(logs.filter((l) => l.includes("cannot be used yet"))).toEqual([]);
        const sql = new SQL(databaseUrl, { max: 1 });
        expect(await sql`SELECT version FROM coze_schema`).toEqual([{ version: PG_SCHEMA_VERSION }]);
        await sql.close();
        stores[0].remember("k", place(1));
        await stores[0].flush();
        expect(await stores[2].find("k")).toEqual(place(1));
        await Promise.all(stores.map((s) => s.close()));
      });

      test("two instances sweeping at once: each row is swept once, neither fails", async () => {
        const { store, another } = await open({ conversationTtlMs: 100 });
        const other = await another();
        for (let i = 0; i < 50; i++) store.remember(`k${i}`, place(i));
        await store.flush();
        await Bun.sleep(150);
        await Promise.all([store.sweep(), other.sweep(), store.sweep()]);
        expect(await store.conversations()).toBe(0);
        expect(store.health().state).toBe("ok");
        expect(other.health().state).toBe("ok");
        await Promise.all([store.close(), other.close()]);
      });
    }
  });
}
