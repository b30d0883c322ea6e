import type { AppContext, RequestInfo, RouteHandler } from "./context.ts";

/** `GET /healthz`: the process is up and serving. */
export const healthz: RouteHandler = () => Response.json({ status: "ok" });

/**
 * The models and their entries' states. Without a valid key only model names
 * and states are shown: a problem's words can quote Discord or Coze, and
 * entry details are for the operator, who has a key.
 */
function modelStatus(ctx: AppContext, info: RequestInfo) {
  const models = ctx.pool.status();
  if (info.authorized) return models;
  return models.map(({ model, ready, entries }) => ({ model, ready, entries: entries.map(({ state, cooling_down_seconds }) => ({ state, resting: cooling_down_seconds > 0 })) }));
}

/** `GET /readyz`: 200 when every model has a connected bot, else 503 naming the models that have none. */
export const readyz: RouteHandler = (_req, ctx, info) => {
  const models = modelStatus(ctx, info);
  const notReady = models.filter((m) => !m.ready);
  return Response.json(
    { status: notReady.length === 0 ? "ready" : "not ready", models },
    { status: notReady.length === 0 ? 200 : 503 },
  );
};

/** `GET /`: a short status for a person with a browser. */
export const root: RouteHandler = (_req, ctx, info) =>
  Response.json({
    name: "coze-chat-proxy",
    version: ctx.version,
    uptime_seconds: Math.floor(Date.now() / 1000) - ctx.startedAt,
    api: "/v1",
    models: modelStatus(ctx, info),
    ...(info.authorized ? { conversations: ctx.store.conversations } : {}),
  });
