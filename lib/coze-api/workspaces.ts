import type { ApiEntry, WorkspaceEntry } from "../config/bots.ts";
import { errorText } from "../error-text.ts";
import { log } from "../log.ts";
import { compareIds, modelIds, nameKey, type NamedBot } from "./bot-names.ts";
import { listWorkspace, type WorkspaceListing } from "./workspace-list.ts";

/** What one workspace entry found at its last listing, or why the listing failed. */
export interface WorkspaceFound {
  entry: WorkspaceEntry;
  /** The last listing that worked; undefined until one has. */
  listing: WorkspaceListing | undefined;
  /** Why the latest listing failed, while it keeps failing. */
  problem: string | undefined;
}

/**
 * The bots of bot.json's `workspace_id` entries, as entries of one bot each:
 * every listing asks Coze afresh, and a listing that fails keeps the last
 * one that worked (said once in the log, not at every refresh), so that an
 * outage of Coze's listing never takes models away.
 */
export class Workspaces {
  private found = new Map<string, WorkspaceFound>();
  /** Ends the listings under way when the service stops. */
  private readonly stopping = new AbortController();

  constructor(
    entries: readonly WorkspaceEntry[],
    private readonly proxyUrl: string | undefined,
  ) {
    this.set(entries);
  }

  /** A new bot.json's workspace entries; one that names the same workspace with the same token keeps its last listing. */
  set(entries: readonly WorkspaceEntry[]): void {
    const old = this.found;
    this.found = new Map();
    for (const entry of entries) {
      const known = old.get(identity(entry));
      this.found.set(identity(entry), { entry, listing: known?.listing, problem: known?.problem });
    }
  }

  get size(): number {
    return this.found.size;
  }

  /** Lists every workspace again, at once; resolves when each listing has worked or failed. */
  async refresh(): Promise<void> {
    if (this.stopped) return;
    await Promise.all(
      [...this.found.values()].map(async (found) => {
        try {
          const listing = await listWorkspace(found.entry, this.proxyUrl, this.stopping.signal);
          if (found.problem) log.info("coze workspace listed again", { entry: found.entry.index, workspace: found.entry.workspace_id, bots: listing.bots.length });
          found.listing = listing;
          found.problem = undefined;
        } catch (error) {
          if (this.stopping.signal.aborted) return;
          const problem = errorText(error);
          if (found.problem === undefined) {
            log.warn("coze workspace could not be listed; its last known bots stay served", { entry: found.entry.index, workspace: found.entry.workspace_id, problem, bots: found.listing?.bots.length ?? 0 });
          }
          found.problem = problem;
        }
      }),
    );
  }

  /** Ends the listings under way; none starts after. */
  stop(): void {
    this.stopping.abort();
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** What each workspace entry found, in bot.json order. */
  get all(): WorkspaceFound[] {
    return [...this.found.values()].sort((a, b) => a.entry.index - b.entry.index);
  }

  /**
   * An entry of one bot for each bot found, named by the naming rule
   * (bot-names.ts) with the models bot.json names itself left to it.
   */
  entries(taken: ReadonlySet<string>): ApiEntry[] {
    const bots: (NamedBot & { found: WorkspaceFound; account: string })[] = [];
    for (const found of this.all) {
      for (const bot of found.listing?.bots ?? []) bots.push({ ...bot, prefix: found.entry.model_prefix, found, account: found.listing!.account });
    }
    const ids = modelIds(bots, taken);
    // In bot-id order, as the models are listed: Coze lists the most recently updated first.
    bots.sort((a, b) => a.found.entry.index - b.found.entry.index || compareIds(a.id, b.id));
    return bots.map(({ found: { entry }, account, ...bot }) => ({
      kind: "api",
      index: entry.index,
      model: ids.get(nameKey(bot))!,
      coze_api_token: entry.coze_api_token,
      bot_id: bot.id,
      api_base: entry.api_base,
      workspace: { id: entry.workspace_id, account },
    }));
  }
}

/** A workspace entry is the same one across reloads when it lists the same workspace with the same token. */
const identity = (e: WorkspaceEntry) => [e.api_base, e.workspace_id, e.coze_api_token, e.model_prefix].join("\u0000");
