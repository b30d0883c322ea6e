/**
 * Where a request came to, as the browser saw it. Behind a reverse proxy the
 * URL Bun sees is the proxy's hop (plain http, an inner host name); the
 * proxy's X-Forwarded-Proto and X-Forwarded-Host say what the browser used,
 * but any client can send them, so they count only with TRUST_PROXY=true.
 */
export interface OriginSettings {
  publicUrl: string | undefined;
  trustProxy: boolean;
}

/** A host[:port] as a Host header may carry it; anything else in X-Forwarded-Host is ignored. */
const HOST = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/** The first value of a forwarded header (a chain of proxies appends theirs after the client-facing one). */
function forwarded(req: Request, name: string): string | undefined {
  const value = req.headers.get(name)?.split(",")[0].trim().toLowerCase();
  return value || undefined;
}

/** The origin the request came to: its own URL's, or with TRUST_PROXY the one the proxy in front reports. */
export function requestOrigin(req: Request, settings: OriginSettings): string {
  const url = new URL(req.url);
  if (!settings.trustProxy) return url.origin;
  const proto = forwarded(req, "x-forwarded-proto");
  const host = forwarded(req, "x-forwarded-host");
  const protocol = proto === "https" || proto === "http" ? `${proto}:` : url.protocol;
  return `${protocol}//${host && HOST.test(host) ? host : url.host}`;
}

/** The origin a browser shows for the service: PUBLIC_URL's when set, else the request's own. */
export function serviceOrigin(req: Request, settings: OriginSettings): string {
  return settings.publicUrl ? new URL(settings.publicUrl).origin : requestOrigin(req, settings);
}

/** Whether the browser reached the service over https (a cookie is then `Secure`). */
export function cameOverHttps(req: Request, settings: OriginSettings): boolean {
  return requestOrigin(req, settings).startsWith("https:") || (settings.publicUrl?.startsWith("https:") ?? false);
}

/**
 * Whether a request was sent by a page of the service itself: its Origin
 * (or, from a browser that sends none, its Referer's origin) is the
 * service's. A request with neither is refused: a form post from any browser
 * in use today carries one of them.
 */
export function fromOwnPage(req: Request, settings: OriginSettings): boolean {
  let origin = req.headers.get("origin");
  if (origin === null || origin === "null") {
    const referer = req.headers.get("referer");
    if (referer === null) return false;
    try {
      origin = new URL(referer).origin;
    } catch {
      return false;
    }
  }
  return origin.toLowerCase() === serviceOrigin(req, settings).toLowerCase();
}
