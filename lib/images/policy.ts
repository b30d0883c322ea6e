import { log } from "../log.ts";
import { errorText } from "../error-text.ts";
import { acceptsImage } from "../store/image-types.ts";
import type { ImageStore } from "../store/store.ts";
import { download, DownloadRefused, type Downloaded, type DownloadRules } from "./download.ts";
import type { InputMemory } from "../input-memory.ts";

/**
 * Where the images in a reply may be downloaded from, resolved once at start.
 * Hosts a backend itself serves images from (each backend names its own) are
 * downloaded as they are; any other link in a reply (a plugin's CDN, or a
 * link Coze merely echoed from the prompt) only under the image-input rules.
 */
export interface ImagePolicy {
  /** For image input and for links to hosts other than the backend's. */
  input: DownloadRules;
  /** For the backend's own hosts. */
  backend: DownloadRules;
  backendHosts: ReadonlySet<string>;
  /** IMAGE_INPUT_MEMORY: the input bytes all requests together may hold (audio uploads count too). */
  memory: InputMemory;
  /** Domains whose every host is a backend's own. */
  backendSuffixes: readonly string[];
}

export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

export function imagePolicy(options: { proxyUrl?: string; allowPrivate: boolean; backendHosts: string[]; backendSuffixes: string[]; fetchTimeoutMs: number; memory: InputMemory }): ImagePolicy {
  const backendHosts = new Set(options.backendHosts);
  const own = (host: string) => isBackendHost(host, backendHosts, options.backendSuffixes);
  return {
    input: { proxyUrl: options.proxyUrl, maxBytes: MAX_IMAGE_BYTES, timeoutMs: options.fetchTimeoutMs, maxRedirects: 3, allowPrivate: options.allowPrivate },
    // A backend's host may be private (a self-hosted Studio, a simulator); where it redirects to is held to
    // the input rules unless that is a backend's host too, or a CDN's redirect would reach loopback.
    backend: { proxyUrl: options.proxyUrl, maxBytes: 25 * 1024 * 1024, timeoutMs: 30_000, maxRedirects: 3, allowPrivate: options.allowPrivate, privateHosts: own },
    backendHosts,
    backendSuffixes: options.backendSuffixes,
    memory: options.memory,
  };
}

function isBackendHost(host: string, hosts: ReadonlySet<string>, suffixes: readonly string[]): boolean {
  return hosts.has(host) || suffixes.some((suffix) => host.endsWith(suffix));
}

/** Downloads an image of a reply under the rules its host calls for. */
export function downloadReplyImage(url: string, policy: ImagePolicy, signal: AbortSignal): Promise<Downloaded> {
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    return Promise.reject(new DownloadRefused("it is not a valid URL"));
  }
  return download(url, isBackendHost(host, policy.backendHosts, policy.backendSuffixes) ? policy.backend : policy.input, signal);
}

/**
 * Stores every image of a reply and returns, for each URL it could keep, the
 * service's own URL for it; a link the rules refuse, or one the store cannot
 * keep (a full disk, a database gone), is left as it is: Coze's own link
 * still shows the image for a while, and the answer is delivered.
 */
export async function keepImages(urls: string[], policy: ImagePolicy, store: ImageStore, base: string, signal: AbortSignal): Promise<Map<string, string>> {
  const kept = new Map<string, string>();
  await Promise.all(
    urls.map(async (url) => {
      try {
        const image = await downloadReplyImage(url, policy, signal);
        if (!acceptsImage(image.contentType)) return;
        let stored;
        try {
          stored = await store.put(image.data, image.contentType);
        } catch (error) {
          log.debug("an image of a reply was not stored; its own link stays", { error: errorText(error) });
          return;
        }
        kept.set(url, `${base}/images/${stored.id}.${stored.ext}`);
      } catch (error) {
        if (!(error instanceof DownloadRefused)) throw error;
      }
    }),
  );
  return kept;
}

/** `text` with each kept URL replaced by the service's own. */
export function rewriteLinks(text: string, kept: ReadonlyMap<string, string>): string {
  for (const [from, to] of kept) text = text.replaceAll(from, to);
  return text;
}
