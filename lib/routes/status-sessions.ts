import { keyOwner, sessionIdFrom } from "../http/auth.ts";
import { log } from "../log.ts";
import type { Sessions } from "../store/sessions.ts";
import { errorText } from "../error-text.ts";

/** How long a status-page login lasts. */
export const SESSION_TTL_MS = 7 * 86_400_000;

/**
 * The status page's logins over the store's sessions. A session counts only
 * while the key it was opened with is one of AUTH_TOKEN: removing a key
 * revokes its sessions (the rows go the first time sessions are used after a
 * start; until then a lookup refuses them). Key digests are slow on purpose,
 * so they are computed only when a session is used, once per start.
 */
export class StatusSessions {
  /** Each configured key's owner digest, by key. */
  private owners: Promise<Map<string, string>> | undefined;

  constructor(
    private readonly sessions: Sessions,
    private readonly keys: readonly string[],
  ) {}

  /** The owners of the configured keys, by key; the first call also revokes the sessions of removed keys. */
  private currentOwners(): Promise<Map<string, string>> {
    this.owners ??= (async () => {
      const owners = new Map(await Promise.all(this.keys.map(async (key) => [key, await keyOwner(key)] as const)));
      const revoked = await this.sessions.revokeKeysNotIn([...owners.values()]).catch((error) => {
        log.warn("could not revoke the sessions of keys no longer in AUTH_TOKEN; they are refused meanwhile", { error: errorText(error) });
        return 0;
      });
      if (revoked > 0) log.info("revoked status-page sessions of keys no longer in AUTH_TOKEN", { sessions: revoked });
      return owners;
    })();
    return this.owners;
  }

  /** Opens a session for a key already checked to be one of AUTH_TOKEN; returns the cookie's value. */
  async open(key: string): Promise<string> {
    const owner = (await this.currentOwners()).get(key);
    if (owner === undefined) throw new Error("a session was asked for a key that is not in AUTH_TOKEN");
    return this.sessions.create(owner, Date.now() + SESSION_TTL_MS);
  }

  /** Whether a Cookie header carries a live session of a configured key. A store that fails refuses (it never opens the page). */
  async check(cookieHeader: string | null): Promise<boolean> {
    const id = sessionIdFrom(cookieHeader);
    if (id === undefined) return false;
    try {
      const owner = await this.sessions.lookup(id);
      return owner !== undefined && [...(await this.currentOwners()).values()].includes(owner);
    } catch (error) {
      log.warn("could not look up a status-page session", { error: errorText(error) });
      return false;
    }
  }

  /** Revokes the session a Cookie header carries, if any. */
  async close(cookieHeader: string | null): Promise<void> {
    const id = sessionIdFrom(cookieHeader);
    if (id !== undefined) await this.sessions.revoke(id);
  }
}
