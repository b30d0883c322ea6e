import { modelNotFound, toApiError, upstreamError } from "../openai/api-error.ts";
import { log } from "../log.ts";
import { parseImageRequest, type ImageRequest } from "../openai/image-request.ts";
import { DownloadRefused } from "../images/download.ts";
import { downloadReplyImage, keepImages } from "../images/policy.ts";
import { withoutLinks } from "../markdown-images.ts";
import { keyScope } from "../relay/conversation.ts";
import { relay } from "../relay/relay.ts";
import { publicBase, type RouteHandler } from "./context.ts";

/**
 * `POST /v1/images/generations`. `n` images are `n` requests in parallel,
 * which round-robin spreads over the model's bots. When some of them fail
 * the images that did arrive are returned; only when none does is the
 * request an error.
 */
export const imageGenerations: RouteHandler = async (req, ctx, info) => {
  const request = parseImageRequest(info.body, ctx.settings.maxImages);
  if (!ctx.pool.hasModel(request.model)) throw modelNotFound(request.model);
  const prompt = imagePrompt(request);
  const turn = [{ role: "user" as const, text: prompt, images: [] }];
  const user = keyScope(req.headers.get("authorization"));
  const outcomes = await Promise.allSettled(
    Array.from({ length: request.n }, async () => {
      const result = await relay(ctx, {
        model: request.model,
        history: turn,
        newTurns: turn,
        user,
        title: request.prompt.replace(/\s+/g, " ").trim() || "image",
        files: [],
        wantImage: true,
        signal: info.signal,
        requestId: info.requestId,
        receivedAt: info.receivedAt,
      });
      const url = result.images[0];
      const revised = revisedPrompt(result.text, url);
      const item: Record<string, string> =
        request.responseFormat === "b64_json"
          ? { b64_json: Buffer.from((await imageBytes(url, ctx.images, info.signal)).data).toString("base64") }
          : { url: (await keepImages([url], ctx.images, ctx.store.images, publicBase(ctx, req), info.signal)).get(url) ?? url };
      if (revised) item.revised_prompt = revised;
      return item;
    }),
  ).finally(info.end);
  const data = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
  const failures = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
  if (data.length === 0) throw toApiError(failures[0]);
  if (failures.length > 0) log.warn("some images of the request failed", { request: info.requestId, failed: failures.length, of: request.n });
  return Response.json({ created: Math.floor(Date.now() / 1000), data });
};

/** The bytes of a reply's image; a download the rules refuse (a link Coze echoed to a private host, say) is a 502. */
async function imageBytes(url: string, policy: Parameters<typeof downloadReplyImage>[1], signal: AbortSignal) {
  try {
    return await downloadReplyImage(url, policy, signal);
  } catch (error) {
    if (error instanceof DownloadRefused) throw upstreamError(`The image in Coze's reply was not downloaded: ${error.message}.`, "image_download_failed");
    throw error;
  }
}

/** The prompt with `size`, `quality` and `style` as a hint Coze's image plugin can read. */
export function imagePrompt(request: ImageRequest): string {
  const hints = [
    request.size && `size ${request.size}`,
    request.quality && `quality ${request.quality}`,
    request.style && `style ${request.style}`,
  ].filter(Boolean);
  return hints.length ? `${request.prompt}\n(${hints.join(", ")})` : request.prompt;
}

/** What Coze wrote beside the image, without the image itself: OpenAI's `revised_prompt`. */
export function revisedPrompt(text: string, url: string): string | undefined {
  const rest = withoutLinks(text).replace(url, "").trim();
  return rest === "" ? undefined : rest;
}
