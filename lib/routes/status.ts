import { createKeyCheck, SESSION_COOKIE } from "../http/auth.ts";
import { cameOverHttps, fromOwnPage, serviceOrigin } from "../http/origin.ts";
import { ApiError } from "../openai/api-error.ts";
import { SESSION_TTL_MS } from "./status-sessions.ts";
import type { AppContext, RequestInfo, RouteHandler } from "./context.ts";
import { statusPage } from "./status-page.ts";

/** `GET /healthz`: the process is up and serving. */
export const healthz: RouteHandler = () => Response.json({ status: "ok" });

/**
 * The models and their entries' states. Without a valid key only model names
 * and states are shown: a problem's words can quote Discord or Coze, and
 * entry details are for the operator, who has a key.
 */
function modelStatus(ctx: AppContext, info: RequestInfo, models = ctx.pool.status()) {
  if (info.authorized) return models.map(({ connected: _, ...model }) => model);
  return models.map(({ model, ready, entries }) => ({ model, ready, entries: entries.map(({ state, cooling_down_seconds }) => ({ state, resting: cooling_down_seconds > 0 })) }));
}

/**
 * The store's state for a caller with a key: "degraded" while it fails (the
 * service still answers; writes wait in the background), with what failed.
 */
function storeStatus(ctx: AppContext) {
  const { state, problem, since, queued, dropped } = ctx.store.health();
  return { kind: ctx.store.kind, state, ...(problem ? { problem, since: new Date(since!).toISOString() } : {}), queued_writes: queued, dropped_writes: dropped };
}

/**
 * `GET /readyz`: its HTTP status is about connections (200 when every model
 * has a connected entry, else 503 naming the models that have none), so that
 * a load balancer never drains a replica because Coze's quota rests a bot;
 * the body says per model whether it can serve now (`ready`).
 * A degraded store is shown (with a key) but does not make the service
 * unready either: it still answers every request.
 */
export const readyz: RouteHandler = (_req, ctx, info) => {
  const status = ctx.pool.status();
  const unconnected = status.filter((m) => !m.connected).map((m) => m.model);
  return Response.json(
    { status: unconnected.length === 0 ? "ready" : "not ready", ...(unconnected.length > 0 ? { unconnected } : {}), models: modelStatus(ctx, info, status), ...(info.authorized ? { store: storeStatus(ctx) } : {}) },
    { status: unconnected.length === 0 ? 200 : 503 },
  );
};

/** `GET /`: the status page for a browser; for any other client a short JSON status, as before. */
export const root: RouteHandler = async (req, ctx, info) => {
  const conversations = info.authorized ? await ctx.store.conversations() : undefined;
  if ((req.headers.get("accept") ?? "").includes("text/html")) {
    const failed = new URL(req.url).searchParams.has("login-failed");
    return new Response(statusPage(ctx, info.authorized, failed, conversations), {
      headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" },
    });
  }
  return Response.json({
    name: "coze-chat-proxy",
    version: ctx.version,
    uptime_seconds: Math.floor(Date.now() / 1000) - ctx.startedAt,
    api: "/v1",
    models: modelStatus(ctx, info),
    ...(info.authorized ? { conversations, store: storeStatus(ctx) } : {}),
  });
};

const LOGIN_FORM_LIMIT = 4096;

/**
 * `POST /login` from the status page's form: a valid key opens a server-side
 * session whose random id is the cookie (HttpOnly, SameSite=Strict, Secure
 * when the browser came over https), and goes back to the page. Only the
 * service's own page may log in (its Origin, or Referer), so that another
 * site cannot log a browser in with a key of its choosing.
 */
export const login: RouteHandler = async (req, ctx) => {
  if (!fromOwnPage(req, ctx.settings)) {
    await req.body?.cancel();
    const expected = serviceOrigin(req, ctx.settings);
    throw new ApiError(
      403,
      `Log in from the status page itself: this request does not come from ${expected}. Behind a reverse proxy, set PUBLIC_URL to the address browsers use, or TRUST_PROXY=true.`,
      "invalid_request_error",
      "cross_origin_login",
    );
  }
  const length = Number(req.headers.get("content-length") ?? NaN);
  const form = length <= LOGIN_FORM_LIMIT ? new URLSearchParams(await req.text()) : new URLSearchParams();
  const key = form.get("key") ?? "";
  if (!createKeyCheck(ctx.settings.authTokens)(`Bearer ${key}`)) return new Response(null, { status: 303, headers: { location: "/?login-failed" } });
  const id = await ctx.sessions.open(key);
  const secure = cameOverHttps(req, ctx.settings) ? "; Secure" : "";
  return new Response(null, {
    status: 303,
    headers: { location: "/", "set-cookie": `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure}` },
  });
};

/** `POST /logout`: revokes the session and forgets its cookie. */
export const logout: RouteHandler = async (req, ctx) => {
  await ctx.sessions.close(req.headers.get("cookie"));
  const secure = cameOverHttps(req, ctx.settings) ? "; Secure" : "";
  return new Response(null, { status: 303, headers: { location: "/", "set-cookie": `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure}` } });
};
