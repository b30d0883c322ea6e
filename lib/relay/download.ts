import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { isPrivateAddress } from "./address.ts";

/**
 * The service's one downloader, for image input (`image_url` parts) and for
 * images in Coze's replies. Its rules, stated once:
 *
 * - http(s) only, through PROXY_URL when set;
 * - no loopback, private, link-local or unique-local destination, checked on
 *   every address the host resolves to and again on every redirect (at most
 *   `maxRedirects`), unless `allowPrivate` (ALLOW_PRIVATE_IMAGE_URLS, or a
 *   host the backend itself serves images from);
 * - the answer must say `image/*`;
 * - at most `maxBytes` *decoded* bytes (a gzip bomb stops at the limit, not
 *   after inflating) and `timeoutMs` for the whole download.
 *
 * A refusal is a DownloadRefused whose reason can be shown to the client: it
 * says why, never what the destination answered beyond its status.
 */
export interface DownloadRules {
  proxyUrl?: string;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
  allowPrivate: boolean;
  /** How host names resolve (the system's resolver unless a test says otherwise). */
  resolve?: (host: string) => Promise<string[]>;
}

const systemResolve = async (host: string) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export interface Downloaded {
  data: Uint8Array;
  /** The answer's media type, e.g. `image/png`. */
  contentType: string;
}

export class DownloadRefused extends Error {
  override name = "DownloadRefused";
}

export async function download(url: string, rules: DownloadRules, signal: AbortSignal): Promise<Downloaded> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), rules.timeoutMs);
  const both = AbortSignal.any([signal, timeout.signal]);
  try {
    let target = parse(url);
    for (let hop = 0; ; hop++) {
      if (!rules.allowPrivate) await refusePrivate(target, rules.resolve ?? systemResolve);
      let response: Response;
      try {
        response = await fetch(target, { redirect: "manual", proxy: rules.proxyUrl, signal: both, headers: { accept: "image/*" } });
      } catch {
        signal.throwIfAborted();
        throw new DownloadRefused(timeout.signal.aborted ? `it did not answer within ${rules.timeoutMs / 1000} s` : "it could not be fetched");
      }
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        if (hop >= rules.maxRedirects) throw new DownloadRefused(`it redirects more than ${rules.maxRedirects} times`);
        target = parse(new URL(location, target).href);
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new DownloadRefused(`it answered HTTP ${response.status}`);
      }
      const contentType = (response.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (!contentType.startsWith("image/")) {
        await response.body?.cancel();
        throw new DownloadRefused(`it is not an image (${contentType || "no content type"})`);
      }
      const data = await readDecoded(response, rules.maxBytes, timeout.signal, rules.timeoutMs);
      return { data, contentType };
    }
  } finally {
    clearTimeout(timer);
  }
}

function parse(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DownloadRefused("it is not a valid URL");
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new DownloadRefused("only http(s) URLs are fetched");
  return parsed;
}

/** Refuses a host that is, or resolves to, an address the service must not reach. */
async function refusePrivate(url: URL, resolve: (host: string) => Promise<string[]>): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      throw new DownloadRefused("its host does not resolve");
    }
  }
  if (addresses.length === 0 || addresses.some(isPrivateAddress)) {
    throw new DownloadRefused("it points at a loopback or private address (ALLOW_PRIVATE_IMAGE_URLS=true allows that)");
  }
}

/**
 * The body as fetch decodes it, refused as soon as it passes `limit` bytes.
 * Content-Length counts the bytes on the wire, which for a compressed answer
 * says nothing about what inflating it would cost, so every byte is counted.
 */
async function readDecoded(response: Response, limit: number, timedOut: AbortSignal, timeoutMs: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (!response.headers.has("content-encoding") && declared > limit) {
    await response.body?.cancel();
    throw new DownloadRefused(`it is larger than ${limit / 1048576} MiB`);
  }
  // With a declared, uncompressed length within the limit, HTTP's framing bounds the body: Bun reads it into
  // one buffer natively, with no chunks to copy and leave behind for the collector.
  if (!response.headers.has("content-encoding") && Number.isInteger(declared) && declared > 0) {
    try {
      return new Uint8Array(await response.arrayBuffer());
    } catch {
      throw new DownloadRefused(timedOut.aborted ? `it did not arrive within ${timeoutMs / 1000} s` : "it broke off");
    }
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      if (size + chunk.byteLength > limit) {
        await response.body?.cancel().catch(() => {});
        throw new DownloadRefused(`it is larger than ${limit / 1048576} MiB`);
      }
      chunks.push(chunk);
      size += chunk.byteLength;
    }
  } catch (error) {
    if (error instanceof DownloadRefused) throw error;
    throw new DownloadRefused(timedOut.aborted ? `it did not arrive within ${timeoutMs / 1000} s` : "it broke off");
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}
