import { errorText } from "../error-text.ts";
import { log } from "../log.ts";
import type { RouteHandler } from "./context.ts";

/** How long the voice list waits for Coze: Open WebUI's settings page waits on it. */
const LIST_WAIT_MS = 5_000;

/**
 * `GET /v1/audio/voices` in Open WebUI's shape, `{"voices": [{id, name}]}`:
 * each entry's own voice names (its `voices` map), then Coze's voices of its
 * account (cached, a failure too). Open WebUI asks without a key; voice
 * names are no secret, as model names on the status page are not. Entries
 * found to have no audio (Coze Studio) are left out, not asked each time.
 */
export const audioVoices: RouteHandler = async (_req, ctx) => {
  const lists = await Promise.all(
    ctx.audio.links.filter(({ audio }) => audio.available).map(async ({ index, audio }) => {
      try {
        return await Promise.race([audio.voices(AbortSignal.timeout(LIST_WAIT_MS)), Bun.sleep(LIST_WAIT_MS).then(() => [])]);
      } catch (error) {
        log.debug("an entry's voices could not be listed", { entry: index, error: errorText(error) });
        return [];
      }
    }),
  );
  const voices = new Map<string, string>();
  for (const list of lists) for (const v of list) if (!voices.has(v.id)) voices.set(v.id, v.name);
  return Response.json({ voices: [...voices].map(([id, name]) => ({ id, name })) });
};

/** `GET /v1/audio/models` in Open WebUI's shape, `{"models": [{id}]}`: the models with an entry that speaks and listens. */
export const audioModels: RouteHandler = (_req, ctx) => Response.json({ models: ctx.audio.models.map((id) => ({ id })) });
