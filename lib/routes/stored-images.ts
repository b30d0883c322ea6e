import type { RouteHandler } from "./context.ts";

const IMAGE_PATH = /^\/images\/([0-9a-f]{32})\.([a-z]{3,4})$/;
const NOT_FOUND = () => new Response("Not Found", { status: 404, headers: { "content-type": "text/plain" } });

/**
 * `GET /images/{id}.{ext}`: an image the service stored. No API key: browsers
 * load these in `<img>` tags, and the random 128-bit id is the secret. The
 * bytes never change, so clients and proxies may keep them forever.
 */
export const storedImage: RouteHandler = async (req, ctx) => {
  const path = new URL(req.url).pathname;
  const match = IMAGE_PATH.exec(path);
  const image = match && (await ctx.store.images.get(match[1], match[2]));
  if (!image) return NOT_FOUND();
  return new Response(image.body, {
    headers: { "content-type": image.type, "cache-control": "public, max-age=31536000, immutable", "x-content-type-options": "nosniff" },
  });
};
