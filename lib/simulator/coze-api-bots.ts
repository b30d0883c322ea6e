/**
 * Coze's workspaces in the Coze API simulator: the bots list (`GET /v1/bots`,
 * the official SDK's `bots.listNew`) and the token's user (`GET
 * /v1/users/me`, the SDK's `users.me`), in the shapes the SDK's types give:
 * `{code: 0, msg, data: {total, items: [{id, name, icon_url, updated_at,
 * description, is_published, published_at?, owner_user_id}]}}` paged by
 * `page_num` (from 1) and `page_size` (default 20), filtered by
 * `publish_status` (`published_online` by default) and `connector_id`
 * (1024 is "Agent as API", the only channel the simulator's bots know), ids
 * as JSON strings of 19 digits, most recently updated first. A test changes
 * a listing between the service's refreshes with `addBot`, `rename` and
 * `unpublish`.
 */

/** What of the simulator this file needs: its bots (chats go to them) and its accounts. */
export interface BotsHost {
  readonly bots: Map<string, { id: string; published: boolean }>;
  addBot(published?: boolean): { id: string; published: boolean };
}

interface Workspace {
  id: string;
  /** Accounts that may list it. */
  members: Set<string>;
  bots: Set<string>;
}

/** Coze's "Agent as API" channel. */
export const API_CONNECTOR = "1024";
const PUBLISH_STATUSES = new Set(["all", "published_online", "published_draft", "unpublished_draft"]);

let serial = 0n;
const nextId = (base: bigint) => String(base + serial++);

export class SimWorkspaces {
  readonly spaces = new Map<string, Workspace>();
  /** Bot names and times, by bot id. */
  private readonly info = new Map<string, { name: string; updatedAt: number; publishedAt: number | undefined }>();
  private readonly users = new Map<string, string>();
  /** Calls of `/v1/bots`, for tests of the service's paging and refreshes. */
  listCalls = 0;
  /** Set to make `/v1/bots` answer with this refusal (an outage of the listing). */
  refuse: { status: number; code: number; msg: string } | undefined;

  constructor(private readonly host: BotsHost) {}

  /** A workspace that `account` (a token's account, e.g. from the simulator's `tokens`) may list. */
  addWorkspace(...accounts: string[]): string {
    const space: Workspace = { id: nextId(7_380_000_000_000_000_000n), members: new Set(accounts), bots: new Set() };
    this.spaces.set(space.id, space);
    return space.id;
  }

  /** A bot in `workspace`, published to the API unless `published` is false. */
  addBot<B extends { id: string; published: boolean }>(workspace: string, name: string, published = true): B {
    const bot = this.host.addBot(published) as B;
    this.spaces.get(workspace)!.bots.add(bot.id);
    this.info.set(bot.id, { name, updatedAt: tick(), publishedAt: published ? tick() : undefined });
    return bot;
  }

  rename(botId: string, name: string): void {
    const info = this.info.get(botId)!;
    info.name = name;
    info.updatedAt = tick();
  }

  /** Takes the bot off the API channel: it leaves the published listing, and chats with it are refused (4015). */
  unpublish(botId: string): void {
    this.host.bots.get(botId)!.published = false;
    this.info.get(botId)!.updatedAt = tick();
  }

  /** The user id `/v1/users/me` gives for an account: 19 digits, the same every time. */
  userId(account: string): string {
    let id = this.users.get(account);
    if (id === undefined) this.users.set(account, (id = nextId(7_370_000_000_000_000_000n)));
    return id;
  }

  /** Answers the routes of this file; undefined for any other. */
  handle(req: Request, url: URL, account: string): Response | undefined {
    if (req.method !== "GET") return undefined;
    if (url.pathname === "/v1/users/me") return envelope(0, "", { user_id: this.userId(account), user_name: account, nick_name: account, avatar_url: "" });
    if (url.pathname === "/v1/bots") return this.list(url.searchParams, account);
    return undefined;
  }

  private list(params: URLSearchParams, account: string): Response {
    this.listCalls++;
    if (this.refuse) return envelope(this.refuse.code, this.refuse.msg, undefined, this.refuse.status);
    const space = this.spaces.get(params.get("workspace_id") ?? "");
    const status = params.get("publish_status") || "published_online";
    const pageSize = Number(params.get("page_size") ?? 20);
    const pageNum = Number(params.get("page_num") ?? 1);
    if (!PUBLISH_STATUSES.has(status) || !Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100 || !Number.isInteger(pageNum) || pageNum < 1) {
      return envelope(4000, "Request parameter error");
    }
    if (!space) return envelope(4000, "Request parameter error: workspace_id");
    if (!space.members.has(account)) return envelope(4101, "The token you entered does not have the required permissions");
    const connector = params.get("connector_id");
    const listed = [...space.bots]
      .map((id) => ({ id, published: this.host.bots.get(id)!.published, ...this.info.get(id)! }))
      .filter((b) => {
        if (status === "all") return true;
        if (status === "unpublished_draft") return !b.published && b.publishedAt === undefined;
        // The simulator's bots are published to the API channel only, and have no draft over a published version.
        return status === "published_online" && b.published && (connector === null || connector === API_CONNECTOR);
      })
      .sort((a, b) => b.updatedAt - a.updatedAt || (b.id < a.id ? -1 : 1));
    const items = listed.slice((pageNum - 1) * pageSize, pageNum * pageSize).map((b) => ({
      id: b.id,
      name: b.name,
      icon_url: "",
      updated_at: b.updatedAt,
      description: "",
      is_published: b.published,
      ...(b.publishedAt === undefined ? {} : { published_at: b.publishedAt }),
      owner_user_id: this.userId(account),
    }));
    return envelope(0, "", { total: listed.length, items });
  }
}

/** Seconds, strictly increasing within a run, so that "most recently updated" has one answer. */
let clock = Math.floor(Date.now() / 1000);
const tick = () => ++clock;

function envelope(code: number, msg: string, data?: unknown, status = 200): Response {
  return Response.json({ code, msg, ...(data === undefined ? {} : { data }), detail: { logid: "sim" } }, { status, headers: { "x-tt-logid": "sim" } });
}
