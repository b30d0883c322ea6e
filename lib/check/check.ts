import { BACKENDS } from "../backends.ts";
import type { BotEntry, WorkspaceEntry } from "../config/bots.ts";
import { Workspaces } from "../coze-api/workspaces.ts";
import type { Settings } from "../config/settings.ts";
import { Metrics } from "../metrics.ts";
import { Pool } from "../pool/pool.ts";

/** One `bot.json` entry's verdict: ok with the time to Coze's first reply, or the problem and its fix. */
export interface CheckRow {
  index: number;
  model: string;
  ok: boolean;
  /** Milliseconds from the probe's post to the first sign of Coze's reply. */
  firstReplyMs?: number;
  problem?: string;
  fix?: string;
  /** A bot found in a workspace: the workspace and the bot's id. */
  workspace?: string;
  botId?: string;
}

/**
 * `coze-chat-proxy check`: every entry's backend checks what it needs (for
 * Discord: bot-02's login, the server, the channel and each permission the
 * relay needs, bot-01 in the server; for Coze's API: the token and the bot's
 * publication), then asks Coze a probe and waits up to REPLY_START_TIMEOUT
 * for an answer. A `workspace_id` entry lists its workspace and is checked
 * as one entry per bot found there (a row of its own when the listing fails
 * or finds none). Uses the configuration the service would use; prints no
 * token.
 */
export async function runCheck(settings: Settings, fixed: BotEntry[], workspaceEntries: WorkspaceEntry[] = []): Promise<CheckRow[]> {
  const workspaces = new Workspaces(workspaceEntries, settings.proxyUrl);
  await workspaces.refresh();
  const entries = [...fixed, ...workspaces.entries(new Set(fixed.map((e) => e.model)))];
  const pool = new Pool(BACKENDS, entries, {
    discordApiUrl: settings.discordApiUrl,
    globalRateLimit: settings.discordGlobalRateLimit,
    proxyUrl: settings.proxyUrl,
    metrics: new Metrics(),
    maxInFlightPerEntry: settings.maxInFlightPerBot,
    quotaCooldownMs: settings.quotaCooldownMs,
    failureCooldownMs: settings.failureCooldownMs,
    probeTimings: settings,
    promptMaxPosts: settings.promptMaxPosts,
  });
  try {
    await pool.start();
    const rows: CheckRow[] = await Promise.all(
      entries.map(async (config) => {
        const verdict = await pool.entry(pool.keyOf(config))!.link.check(settings);
        const found = config.kind === "api" && config.workspace ? { workspace: config.workspace.id, botId: config.bot_id } : {};
        return { index: config.index, model: config.model, ...found, ...verdict };
      }),
    );
    for (const { entry, listing, problem } of workspaces.all) {
      const row = { index: entry.index, model: `workspace ${entry.workspace_id}`, workspace: entry.workspace_id, ok: false };
      if (problem) rows.push({ ...row, problem, fix: "check the token's permissions (list bots, chat), workspace_id and api_base" });
      else if (listing?.bots.length === 0) rows.push({ ...row, problem: "the workspace has no bot published to the API", fix: 'publish a bot with "API" checked in Coze' });
    }
    return rows.sort((a, b) => a.index - b.index);
  } finally {
    await pool.stop();
  }
}

/** The rows as a table a person reads. */
export function formatRows(rows: CheckRow[]): string {
  const lines = rows.map((r) => {
    const name = `entry ${r.index} (${r.model}${r.botId ? `: bot ${r.botId} found in workspace ${r.workspace}` : ""})`;
    if (r.ok) return `${name}  ok  first reply after ${((r.firstReplyMs ?? 0) / 1000).toFixed(1)} s`;
    return `${name}  FAIL  ${r.problem}\n    fix: ${r.fix}`;
  });
  const failed = rows.filter((r) => !r.ok).length;
  lines.push("", failed === 0 ? `all ${rows.length} entries work` : `${failed} of ${rows.length} entries need attention`);
  return lines.join("\n");
}
