import type { WorkspaceEntry } from "../config/bots.ts";
import { readLimited } from "../read-limited.ts";
import { secretDigest } from "../pool/entry-key.ts";
import { failureKind } from "./failure.ts";

/** A bot published to the API in a workspace, as Coze lists it. */
export interface ListedBot {
  id: string;
  name: string;
}

/** What a workspace holds now: its published bots, and the Coze account its entry's token belongs to. */
export interface WorkspaceListing {
  account: string;
  bots: ListedBot[];
}

/** Coze's page size for `/v1/bots` (its default): the listing walks the pages until it has `total` bots. */
const PAGE_SIZE = 20;
/** A listing stops here whatever `total` says: a workspace of more bots than this is not served whole. */
const MAX_PAGES = 50;
const MAX_JSON_BYTES = 4 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

/** A listing failed: Coze's words, with what to do about them. */
export class WorkspaceListFailure extends Error {
  override name = "WorkspaceListFailure";
}

/**
 * The bots published to the API ("Agent as API", connector 1024) in the
 * entry's workspace, every page of them, as the official SDK's
 * `bots.listNew` asks for them (`GET /v1/bots?workspace_id=…&
 * publish_status=published_online&connector_id=1024&page_num=…&page_size=…`,
 * answered `{data: {total, items: [{id, name, …}]}}`), and the token's
 * account (`GET /v1/users/me`, the SDK's `users.me`): conversations and
 * rests belong to the account, so its bots are remembered by it. A Coze
 * without `/v1/users/me` (an HTTP 404) keys them by a digest of the token.
 */
export async function listWorkspace(entry: WorkspaceEntry, proxyUrl: string | undefined, stop?: AbortSignal): Promise<WorkspaceListing> {
  const signal = stop ? AbortSignal.any([stop, AbortSignal.timeout(TIMEOUT_MS)]) : AbortSignal.timeout(TIMEOUT_MS);
  const get = (path: string, absentOk = false) => cozeGet(entry, path, proxyUrl, signal, absentOk);
  const me = await get("/v1/users/me", true);
  const account = me.status === 404 ? `token-${secretDigest(entry.coze_api_token)}` : userId(me.data);
  const bots = new Map<string, ListedBot>();
  for (let page = 1; page <= MAX_PAGES; page++) {
    const query = new URLSearchParams({ workspace_id: entry.workspace_id, publish_status: "published_online", connector_id: "1024", page_num: String(page), page_size: String(PAGE_SIZE) });
    const { data } = await get(`/v1/bots?${query}`);
    const items: unknown[] = Array.isArray(data?.items) ? data.items : [];
    // A bot may move between pages while they are read (one renamed meanwhile): it counts once.
    for (const item of items) {
      const bot = item as { id?: unknown; name?: unknown };
      if (typeof bot.id === "string" && /^\d+$/.test(bot.id)) bots.set(bot.id, { id: bot.id, name: typeof bot.name === "string" ? bot.name : "" });
    }
    const total = typeof data?.total === "number" ? data.total : 0;
    if (items.length === 0 || page * PAGE_SIZE >= total) break;
  }
  return { account, bots: [...bots.values()] };
}

function userId(data: any): string {
  const id = data?.user_id;
  if (typeof id !== "string" || id === "") throw new WorkspaceListFailure("Coze's /v1/users/me answered without a user_id");
  return id;
}

/** A GET of Coze's JSON envelope `{code, msg, data}`; a refusal throws with words the user can act on, a 404 too unless `absentOk`. */
async function cozeGet(entry: WorkspaceEntry, path: string, proxyUrl: string | undefined, signal: AbortSignal, absentOk: boolean): Promise<{ status: number; data: any }> {
  let response: Response;
  try {
    response = await fetch(`${entry.api_base}${path}`, { signal, proxy: proxyUrl, headers: { authorization: `Bearer ${entry.coze_api_token}` } });
  } catch (error) {
    throw new WorkspaceListFailure(`Coze's API could not be reached: ${(error as Error).message}`, { cause: error });
  }
  const text = new TextDecoder().decode(await readLimited(response, MAX_JSON_BYTES, () => new Error("too large")).catch(() => new Uint8Array()));
  let body: { code?: unknown; msg?: unknown; data?: unknown } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // Not Coze's envelope: the HTTP status speaks.
  }
  const code = typeof body.code === "number" ? body.code : undefined;
  if (absentOk && response.status === 404) return { status: 404, data: undefined };
  if (response.ok && code === 0) return { status: response.status, data: body.data };
  const msg = String(body.msg ?? `HTTP ${response.status}`).slice(0, 300);
  const words =
    failureKind(code, response.status) === "entry"
      ? `Coze refused the token (${code ?? `HTTP ${response.status}`}: ${msg}): it needs permission to list the workspace's bots and to chat; for 扣子 set "api_base": "https://api.coze.cn"`
      : `Coze's API answered ${code ?? `HTTP ${response.status}`}: ${msg}`;
  throw new WorkspaceListFailure(`listing workspace ${entry.workspace_id} failed: ${words}`);
}
