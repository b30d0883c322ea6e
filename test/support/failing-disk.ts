/**
 * A data directory whose writes can be made to fail mid-run, as a full disk
 * does: a tiny tmpfs mounted for the test where the test may mount one (root
 * with CAP_SYS_ADMIN), filled with a file and freed again; elsewhere (an
 * unprivileged container) the real store over a real SQLite whose writes
 * throw SQLITE_FULL, and whose image files fail with ENOSPC, while "full".
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StoreLimits, Write } from "../../lib/store/backend.ts";
import { QueuedStore } from "../../lib/store/queued-store.ts";
import { SqliteBackend } from "../../lib/store/sqlite.ts";
import type { Store } from "../../lib/store/store.ts";

export interface FailingDisk {
  how: "tmpfs" | "injected SQLITE_FULL";
  dataDir: string;
  /** The store to give the service (only when writes are injected to fail). */
  store?: Store;
  fill(): void;
  free(): void;
  cleanup(): void;
}

const LIMITS = (settings: { conversationTtlMs: number; imageTtlMs: number; imageStoreMax: number }): StoreLimits => ({ ...settings, maxConversations: 100_000 });

export function failingDisk(bytes: number, settings = { conversationTtlMs: 86_400_000, imageTtlMs: 86_400_000, imageStoreMax: 1 << 30 }): FailingDisk {
  const dataDir = mkdtempSync(join(tmpdir(), "coze-full-disk-"));
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", `size=${bytes},mode=0700`, "tmpfs", dataDir], { stderr: "pipe" });
  if (mounted.exitCode === 0) {
    const filler = join(dataDir, "filler");
    return {
      how: "tmpfs",
      dataDir,
      fill() {
        const fd = openSync(filler, "a");
        const chunk = new Uint8Array(16 * 1024);
        try {
          for (;;) writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
        } finally {
          closeSync(fd);
        }
      },
      free: () => rmSync(filler, { force: true }),
      cleanup() {
        Bun.spawnSync(["umount", "-l", dataDir]);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  let full = false;
  class FullDiskSqlite extends SqliteBackend {
    override async write(batch: Write[]) {
      if (full) throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL", errno: 13 });
      return super.write(batch);
    }
    override async putImage(id: string, ext: string, data: Uint8Array, now: number) {
      if (full) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      return super.putImage(id, ext, data, now);
    }
  }
  const limits = LIMITS(settings);
  return {
    how: "injected SQLITE_FULL",
    dataDir,
    store: new QueuedStore(new FullDiskSqlite(dataDir, limits), limits),
    fill: () => void (full = true),
    free: () => void (full = false),
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
  };
}
