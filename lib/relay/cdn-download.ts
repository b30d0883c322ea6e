import { upstreamError } from "../openai/api-error.ts";
import { readLimited } from "../read-limited.ts";
import { errorText } from "../error-text.ts";

export const CDN_TIMEOUT_MS = 30_000;
export const CDN_MAX_BYTES = 25 * 1024 * 1024;

/**
 * Downloads an image Coze posted (a Discord CDN URL), through PROXY_URL when
 * set, with a timeout and a size limit; a failure is a 502 since the image
 * is Discord's to serve.
 */
export async function downloadImage(url: string, proxyUrl: string | undefined, signal: AbortSignal): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { proxy: proxyUrl, signal: AbortSignal.any([signal, AbortSignal.timeout(CDN_TIMEOUT_MS)]) });
  } catch (error) {
    signal.throwIfAborted();
    throw upstreamError(`The image Coze posted could not be downloaded: ${errorText(error)}`, "image_download_failed");
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw upstreamError(`The image Coze posted could not be downloaded: HTTP ${response.status}`, "image_download_failed");
  }
  return readLimited(response, CDN_MAX_BYTES, () => upstreamError(`The image Coze posted is larger than ${CDN_MAX_BYTES} bytes`, "image_too_large"));
}
