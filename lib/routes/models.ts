import { invalidRequest, modelNotFound } from "../openai/api-error.ts";
import type { AppContext, RouteHandler } from "./context.ts";

const model = (ctx: AppContext, id: string) => ({ id, object: "model", created: ctx.startedAt, owned_by: ownerOf(ctx, id) });

/** A model found in a Coze workspace is owned by the workspace; any other by "coze". */
function ownerOf(ctx: AppContext, id: string): string {
  for (const config of ctx.pool.configsOf(id)) if (config.kind === "api" && config.workspace) return config.workspace.id;
  return "coze";
}

/** `GET /v1/models`: the models `bot.json` configures. */
export const listModels: RouteHandler = (_req, ctx) =>
  Response.json({ object: "list", data: ctx.pool.models.map((id) => model(ctx, id)) });

/** `GET /v1/models/{id}`; ids may contain slashes, so the rest of the path is the id. */
export const getModel: RouteHandler = (req, ctx) => {
  let id: string;
  try {
    id = decodeURIComponent(new URL(req.url).pathname.slice("/v1/models/".length));
  } catch {
    throw invalidRequest("The model id in the path is not valid percent-encoding.", "model");
  }
  if (!ctx.pool.hasModel(id)) throw modelNotFound(id);
  return Response.json(model(ctx, id));
};
