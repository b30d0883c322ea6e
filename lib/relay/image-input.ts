import { invalidRequest } from "../openai/api-error.ts";
import type { ChatMessage, ImageInput } from "../openai/chat-request.ts";
import type { OutgoingFile } from "../discord/connection.ts";
import { readLimited } from "../read-limited.ts";

/** Discord's limits for a bot's message without server boosts. */
export const MAX_ATTACHMENTS = 10;
export const MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 15_000;

const EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/webp": "webp",
};

/**
 * The images of the last user message, as files to attach to the prompt
 * message so the Coze bot sees them (Coze reads the attachments of the
 * message that mentions it, not earlier ones). A `data:` URI is decoded, an
 * http(s) URL downloaded; either failing is a 400 naming the content part.
 */
export async function loadImageInputs(messages: ChatMessage[], signal: AbortSignal): Promise<OutgoingFile[]> {
  const last = messages.findLast((m) => m.role === "user");
  const images = last?.images ?? [];
  if (images.length === 0) return [];
  if (images.length > MAX_ATTACHMENTS) {
    throw invalidRequest(`A message may carry at most ${MAX_ATTACHMENTS} images (Discord's attachment limit).`, images[MAX_ATTACHMENTS].param);
  }
  return Promise.all(images.map((image, i) => loadImage(image, i + 1, signal)));
}

async function loadImage(image: ImageInput, n: number, signal: AbortSignal): Promise<OutgoingFile> {
  const { data, contentType } = image.url.startsWith("data:") ? decodeDataUri(image) : await download(image, signal);
  if (data.byteLength === 0) throw invalidRequest(`The image at '${image.param}' is empty.`, image.param);
  if (data.byteLength > MAX_ATTACHMENT_BYTES) {
    throw invalidRequest(`The image at '${image.param}' is larger than Discord's ${MAX_ATTACHMENT_BYTES / 1048576} MiB attachment limit.`, image.param);
  }
  const type = contentType.split(";")[0].trim().toLowerCase();
  return { name: `image-${n}.${EXTENSIONS[type] ?? "png"}`, data, contentType: type || "application/octet-stream" };
}

function decodeDataUri(image: ImageInput): { data: Uint8Array; contentType: string } {
  const match = /^data:([\w.+-]+\/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*);base64,([A-Za-z0-9+/=\s_-]*)$/.exec(image.url);
  if (!match) throw invalidRequest(`The data: URI at '${image.param}' is not a base64 image (data:image/png;base64,...).`, image.param);
  const contentType = match[1] ?? "image/png";
  if (!contentType.startsWith("image/")) throw invalidRequest(`The data: URI at '${image.param}' is not an image.`, image.param);
  return { data: Buffer.from(match[3].replace(/\s/g, ""), "base64"), contentType };
}

async function download(image: ImageInput, signal: AbortSignal): Promise<{ data: Uint8Array; contentType: string }> {
  let response: Response;
  try {
    response = await fetch(image.url, { signal: AbortSignal.any([signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]), redirect: "follow" });
  } catch {
    signal.throwIfAborted();
    throw invalidRequest(`The image URL at '${image.param}' could not be fetched.`, image.param);
  }
  if (!response.ok) throw invalidRequest(`The image URL at '${image.param}' answered HTTP ${response.status}.`, image.param);
  const data = await readLimited(response, MAX_ATTACHMENT_BYTES, () =>
    invalidRequest(`The image at '${image.param}' is larger than Discord's attachment limit.`, image.param),
  );
  return { data, contentType: response.headers.get("content-type") ?? "image/png" };
}
