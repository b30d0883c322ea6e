/**
 * CORS for browser front ends (NextChat and friends call the API straight
 * from the page). Any origin may call; the key is what protects the API.
 */
export const corsHeaders: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "x-request-id, retry-after, x-should-retry",
};

/** Answers a preflight for any path: 204, allowing exactly the headers the browser asked for. */
export function preflight(req: Request): Response {
  return new Response(null, {
    status: 204,
    headers: {
      ...corsHeaders,
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": req.headers.get("access-control-request-headers") ?? "authorization, content-type",
      "access-control-max-age": "86400",
    },
  });
}
