import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { isPrivateAddress } from "./address.ts";
import { readLimited } from "../read-limited.ts";

/**
 * The service's one downloader, for image input (`image_url` parts) and for
 * images in Coze's replies. Its rules, stated once:
 *
 * - http(s) only, through PROXY_URL when set;
 * - no loopback, private, link-local or unique-local destination, checked on
 *   every address the host resolves to (one private answer refuses the host)
 *   and again on every redirect (at most `maxRedirects`), unless
 *   `allowPrivate` (ALLOW_PRIVATE_IMAGE_URLS) or the hop's host is one the
 *   backend itself serves images from (`privateHosts`);
 * - the host is resolved once, and the connection goes to an address that
 *   was checked (TLS still verifies the host's name, and `Host` still names
 *   it): a DNS answer that turns private between the check and the
 *   connection (rebinding) is never asked for. Through a proxy the name goes
 *   to the proxy unresolved and the proxy decides: local DNS may not even
 *   know the name, and the proxy is where the operator draws the line;
 * - the answer must say `image/*`, and not SVG (a document that can carry
 *   script);
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
  /**
   * Hosts (`name:port` as in a URL) that may be private whatever
   * `allowPrivate` says: a backend's own image hosts. Judged on every hop, so
   * a redirect from such a host to any other is held to `allowPrivate`.
   */
  privateHosts?: (host: string) => boolean;
  /** How host names resolve (the system's resolver unless a test says otherwise). */
  resolve?: (host: string) => Promise<string[]>;
  /** Which addresses count as private (isPrivateAddress unless a test, which never reaches a public address, says otherwise). */
  isPrivate?: (address: string) => boolean;
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

const PRIVATE_REFUSAL = "it points at a loopback or private address (ALLOW_PRIVATE_IMAGE_URLS=true allows that)";

/**
 * Downloads `url` under `rules`. `charge` is told every decoded byte before
 * it is kept (a memory budget over several downloads); what it throws ends
 * the download and is thrown as it is.
 */
export async function download(url: string, rules: DownloadRules, signal: AbortSignal, charge?: (bytes: number) => void): Promise<Downloaded> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), rules.timeoutMs);
  const both = AbortSignal.any([signal, timeout.signal]);
  const failed = () => {
    signal.throwIfAborted();
    return new DownloadRefused(timeout.signal.aborted ? `it did not answer within ${rules.timeoutMs / 1000} s` : "it could not be fetched");
  };
  try {
    let target = parse(url);
    for (let hop = 0; ; hop++) {
      const hopRules = !rules.allowPrivate && rules.privateHosts?.(target.host) ? { ...rules, allowPrivate: true } : rules;
      const response = await connect(target, hopRules, both, failed);
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
      if (!isImageType(contentType)) {
        await response.body?.cancel();
        throw new DownloadRefused(`it is not an image (${contentType || "no content type"})`);
      }
      let charged: unknown;
      const counted = charge && ((bytes: number) => {
        try {
          charge(bytes);
        } catch (error) {
          charged = error;
          throw error;
        }
      });
      try {
        const data = await readLimited(response, rules.maxBytes, () => new DownloadRefused(`it is larger than ${rules.maxBytes / 1048576} MiB`), counted);
        return { data, contentType };
      } catch (error) {
        if (error instanceof DownloadRefused || (charged !== undefined && error === charged)) throw error;
        signal.throwIfAborted();
        throw new DownloadRefused(timeout.signal.aborted ? `it did not arrive within ${rules.timeoutMs / 1000} s` : "it broke off");
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Whether a media type is an image input may be: `image/*`, but not SVG, which is a document that can run script. */
export function isImageType(contentType: string): boolean {
  return contentType.startsWith("image/") && !contentType.startsWith("image/svg");
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

/** The answer of one hop: to the URL as it is where private places are allowed or a proxy decides, else to a checked address. */
async function connect(target: URL, rules: DownloadRules, signal: AbortSignal, failed: () => Error): Promise<Response> {
  const init = { redirect: "manual" as const, proxy: rules.proxyUrl, signal, headers: { accept: "image/*" } };
  if (rules.allowPrivate || rules.proxyUrl) {
    // Through a proxy only what needs no DNS is judged here: an address literal, or a name meaning this host.
    if (!rules.allowPrivate && (isPrivateName(target.hostname) || (isIP(bare(target.hostname)) && (rules.isPrivate ?? isPrivateAddress)(bare(target.hostname))))) {
      throw new DownloadRefused(PRIVATE_REFUSAL);
    }
    try {
      return await fetch(target, init);
    } catch {
      throw failed();
    }
  }
  const addresses = await checkedAddresses(target, rules);
  const name = isIP(bare(target.hostname)) ? undefined : target.hostname;
  for (const address of addresses) {
    const direct = new URL(target);
    direct.hostname = address.includes(":") ? `[${address}]` : address;
    try {
      return await fetch(direct, {
        ...init,
        headers: { ...init.headers, host: target.host },
        ...(target.protocol === "https:" && name ? { tls: { serverName: name } } : {}),
      });
    } catch {
      // This address did not connect (or TLS refused it); the next checked one may.
      if (signal.aborted) break;
    }
  }
  throw failed();
}

/** The addresses a host resolves to, once, when none of them is private; otherwise a refusal. */
async function checkedAddresses(url: URL, rules: DownloadRules): Promise<string[]> {
  const host = bare(url.hostname);
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else if (isPrivateName(host)) throw new DownloadRefused(PRIVATE_REFUSAL);
  else {
    try {
      addresses = await (rules.resolve ?? systemResolve)(host);
    } catch {
      throw new DownloadRefused("its host does not resolve");
    }
  }
  if (addresses.length === 0) throw new DownloadRefused("its host does not resolve");
  if (addresses.some(rules.isPrivate ?? isPrivateAddress)) throw new DownloadRefused(PRIVATE_REFUSAL);
  return addresses;
}

const bare = (hostname: string) => hostname.replace(/^\[|\]$/g, "");

/** Names that mean this very host wherever they are resolved (a proxy resolves them to itself). */
function isPrivateName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}
