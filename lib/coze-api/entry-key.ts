import type { ApiEntry } from "../config/bots.ts";
import { secretDigest } from "../pool/entry-key.ts";

/**
 * The one rule for the key an API entry is remembered by across restarts
 * (its conversations and its quota rest), never a secret in clear.
 *
 * A bot found in a workspace is keyed by the Coze account its token belongs
 * to and the bot's id: conversations and quotas are the account's, and a
 * bot renamed in Coze (a new model id) keeps them. An entry of one bot (or
 * chatflow) in bot.json keeps the key it has always had (its model, a
 * digest of the token, the bot or chatflow, the api_base), so that nothing stored before changes
 * shape; moving it to the account's key needs the account before the pool
 * is planned (a network call at start) and a migration of the stored keys.
 */
export function apiEntryKey(e: ApiEntry): string {
  if (e.workspace) return ["api", e.api_base, e.workspace.account, e.bot_id].join("/");
  // A chatflow's key names its workflow (and the bot or app it runs as); a bot's stays what it always was.
  const who = e.workflow_id ? `workflow:${e.workflow_id}:${e.bot_id ?? e.app_id ?? ""}` : e.bot_id;
  return [e.model, "api", secretDigest(e.coze_api_token), who, e.api_base].join("/");
}
