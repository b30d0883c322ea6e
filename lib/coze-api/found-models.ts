import type { BotEntry, WorkspaceEntry } from "../config/bots.ts";
import { errorText } from "../error-text.ts";
import { log } from "../log.ts";
import type { Pool } from "../pool/pool.ts";
import { Workspaces } from "./workspaces.ts";

/**
 * The pool's entries: bot.json's own, and one for each bot its workspace
 * entries found. Listings and reloads take turns, so that a slow listing
 * never applies an older bot list over a newer one.
 */
export class FoundModels {
  private turn: Promise<void> = Promise.resolve();
  /** The workspace bots the pool serves now, to skip a reload that would change nothing. */
  private applied = "[]";

  private readonly workspaces: Workspaces;

  constructor(
    private readonly pool: Pool,
    private fixed: BotEntry[],
    workspaces: WorkspaceEntry[],
    proxyUrl: string | undefined,
  ) {
    this.workspaces = new Workspaces(workspaces, proxyUrl);
  }

  /** A refresh queued behind a listing or reload under way: a refresh asked for meanwhile joins it. */
  private waiting: Promise<void> | undefined;

  /** Lists every workspace (a failed listing keeps its last bots) and serves what was found. */
  refresh(): Promise<void> {
    if (this.workspaces.size === 0 && this.applied === "[]") return this.turn;
    return (this.waiting ??= this.queue(false));
  }

  reload(entries: BotEntry[], workspaces: WorkspaceEntry[]): Promise<void> {
    this.fixed = entries;
    this.workspaces.set(workspaces);
    return this.queue(true);
  }

  /** Ends the listings under way and applies nothing more; waits a moment for a reload under way to let go. */
  async stop(): Promise<void> {
    this.workspaces.stop();
    await Promise.race([this.turn, Bun.sleep(1000)]);
  }

  private queue(always: boolean): Promise<void> {
    const run = this.turn.then(async () => {
      if (!always) this.waiting = undefined;
      if (this.workspaces.size > 0) await this.workspaces.refresh();
      if (this.workspaces.stopped) return;
      const found = this.workspaces.entries(new Set(this.fixed.map((e) => e.model)));
      const signature = JSON.stringify(found.map((e) => [e.model, e.bot_id, e.index, e.workspace?.account]));
      if (!always && signature === this.applied) return;
      await this.pool.reload([...this.fixed, ...found]);
      if (signature !== this.applied) log.info("workspace bots served", { models: found.map((e) => e.model).join(",") });
      this.applied = signature;
    });
    this.turn = run.catch((error) => log.error(`applying the workspaces' bots failed; the running list stays: ${errorText(error)}`));
    // A reload's caller hears of its failure; a refresh (a timer's) only logs it.
    return always ? run : this.turn;
  }
}
