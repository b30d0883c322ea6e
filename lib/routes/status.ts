import type { RouteHandler } from "./context.ts";

/** `GET /healthz`: the process is up and serving. */
export const healthz: RouteHandler = () => Response.json({ status: "ok" });

/** `GET /readyz`: 200 when every model has a connected bot, else 503 naming the models that have none. */
export const readyz: RouteHandler = (_req, ctx) => {
  const models = ctx.pool.status();
  const notReady = models.filter((m) => !m.ready);
  return Response.json(
    { status: notReady.length === 0 ? "ready" : "not ready", models },
    { status: notReady.length === 0 ? 200 : 503 },
  );
};

/** `GET /`: a short status for a person with a browser. */
export const root: RouteHandler = (_req, ctx) =>
  Response.json({
    name: "coze-chat-proxy",
    version: ctx.version,
    uptime_seconds: Math.floor(Date.now() / 1000) - ctx.startedAt,
    api: "/v1",
    models: ctx.pool.status(),
  });
