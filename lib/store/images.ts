import type { Database } from "bun:sqlite";
import { mkdirSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Media types the store keeps, and the extension each is served under. */
const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp" };
const TYPES: Record<string, string> = Object.fromEntries(Object.entries(EXTENSIONS).map(([type, ext]) => [ext, type]));

export interface StoredImage {
  id: string;
  ext: string;
}

/**
 * The images the service returns, stored once under DATA_DIR/images by a
 * random 128-bit id and served from the service's own URL (the id is the
 * secret: Discord's CDN links are signed and expire after about a day).
 * Bounded by IMAGE_TTL and IMAGE_STORE_MAX bytes, oldest first; the index
 * lives in the service's one SQLite database.
 */
export class ImageStore {
  private readonly dir: string;
  private bytes: number;
  private readonly q;

  constructor(
    db: Database,
    dataDir: string,
    private readonly ttlMs: number,
    private readonly maxBytes: number,
  ) {
    this.dir = join(dataDir, "images");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    db.run("CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, ext TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL)");
    db.run("CREATE INDEX IF NOT EXISTS images_created ON images (created_at)");
    this.q = {
      add: db.query<never, [string, string, number, number]>("INSERT INTO images (id, ext, bytes, created_at) VALUES (?, ?, ?, ?)"),
      get: db.query<{ ext: string }, [string, number]>("SELECT ext FROM images WHERE id = ? AND created_at > ?"),
      oldest: db.query<{ id: string; ext: string; bytes: number; created_at: number }, []>("SELECT id, ext, bytes, created_at FROM images ORDER BY created_at LIMIT 100"),
      remove: db.query<never, [string]>("DELETE FROM images WHERE id = ?"),
      total: db.query<{ n: number | null }, []>("SELECT sum(bytes) AS n FROM images"),
    };
    this.bytes = this.q.total.get()?.n ?? 0;
  }

  /** Whether the store keeps images of this media type. */
  static accepts(contentType: string): boolean {
    return contentType in EXTENSIONS;
  }

  /** Stores the bytes of an image; returns its id and extension. */
  async put(data: Uint8Array, contentType: string): Promise<StoredImage> {
    const ext = EXTENSIONS[contentType] ?? "png";
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
    await writeFile(join(this.dir, `${id}.${ext}`), data, { mode: 0o600 }); // readable by the service's user only
    this.q.add.run(id, ext, data.byteLength, Date.now());
    this.bytes += data.byteLength;
    if (this.bytes > this.maxBytes) this.sweep();
    return { id, ext };
  }

  /** The file of a stored image and its media type, if the store still has it. */
  file(id: string, ext: string, now = Date.now()): { path: string; type: string } | undefined {
    if (!/^[0-9a-f]{32}$/.test(id) || this.q.get.get(id, now - this.ttlMs)?.ext !== ext) return undefined;
    return { path: join(this.dir, `${id}.${ext}`), type: TYPES[ext] };
  }

  /** Forgets images past IMAGE_TTL, then the oldest while the store holds more than IMAGE_STORE_MAX. */
  sweep(now = Date.now()): void {
    for (;;) {
      const batch = this.q.oldest.all();
      let removed = 0;
      for (const image of batch) {
        if (image.created_at > now - this.ttlMs && this.bytes <= this.maxBytes) return;
        rmSync(join(this.dir, `${image.id}.${image.ext}`), { force: true });
        this.q.remove.run(image.id);
        this.bytes -= image.bytes;
        removed++;
      }
      if (removed === 0) return;
    }
  }

  get totalBytes(): number {
    return this.bytes;
  }
}
