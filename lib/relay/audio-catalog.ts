import type { Pool } from "../pool/pool.ts";
import type { AudioCalls } from "../pool/seam.ts";

/**
 * Which entries speak and listen: those whose backend gives their link
 * audio calls (Coze's API; Discord carries no audio), as the pool serves them
 * now (after reloads and workspace refreshes), models in bot.json order.
 */
export class AudioCatalog {
  constructor(private readonly pool: Pool) {}

  /** The audio calls of every entry that has them, with the entry's model. */
  get links(): { model: string; index: number; audio: AudioCalls }[] {
    return this.pool.entries.flatMap((entry) => (entry.link.audio ? [{ model: entry.config.model, index: entry.config.index, audio: entry.link.audio }] : []));
  }

  /** Models with at least one entry that has audio, in bot.json order. */
  get models(): string[] {
    return [...new Set(this.links.map((l) => l.model))];
  }

  hasModel(model: string): boolean {
    return this.links.some((l) => l.model === model);
  }
}
