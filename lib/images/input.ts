import type { InputFile } from "../pool/seam.ts";
import { invalidRequest } from "../openai/api-error.ts";
import type { ChatMessage, ImageInput } from "../openai/chat-request.ts";
import { download, DownloadRefused, isImageType } from "./download.ts";
import { MAX_IMAGE_BYTES, type ImagePolicy } from "./policy.ts";

/** Discord's limit of files on one message. */
const MAX_ATTACHMENTS = 10;

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp" };

/** What loading a request's images needs from the request. */
export interface ImageInputRequest {
  signal: AbortSignal;
  /** Until when (ms) the request may wait for image memory: its start deadline. */
  deadline: number;
  /** Runs `release` when the request ends (its images are held until then: a failover posts them again). */
  atEnd: (release: () => void) => void;
}

/**
 * The images of the last user message, as files to attach to the prompt
 * message so the Coze bot sees them (Coze reads the attachments of the
 * message that mentions it). A `data:` URI is decoded, an http(s) URL
 * downloaded under the image-input rules (download.ts); both must be an
 * image of at most 10 MiB. Any refusal is a 400 naming the content part and
 * why, before anything is posted to Discord. The decoded bytes are held
 * within IMAGE_INPUT_MEMORY (input-memory.ts) until the request ends.
 */
export async function loadImageInputs(messages: ChatMessage[], policy: ImagePolicy, request: ImageInputRequest): Promise<InputFile[]> {
  const last = messages.findLast((m) => m.role === "user");
  const images = last?.images ?? [];
  if (images.length === 0) return [];
  if (images.length > MAX_ATTACHMENTS) {
    throw invalidRequest(`A message may carry at most ${MAX_ATTACHMENTS} images (Discord's attachment limit).`, images[MAX_ATTACHMENTS].param);
  }
  const worst = images.map((image) => (image.url.startsWith("data:") ? Math.min(dataUriSize(image.url), MAX_IMAGE_BYTES) : policy.input.maxBytes));
  let pending = worst.reduce((a, b) => a + b, 0);
  const lease = await policy.memory.reserve(pending, request.deadline, request.signal);
  // One refused image ends the others' downloads: the request is a 400 either way.
  const failed = new AbortController();
  const signal = AbortSignal.any([request.signal, failed.signal]);
  try {
    const files = await Promise.all(
      images.map(async (image, i) => {
        const file = await loadImage(image, i + 1, policy, signal, (bytes) => lease.charge(bytes));
        // This image holds what it holds now; the others may still need their worst case.
        pending -= worst[i];
        lease.shrinkTo(lease.charged + pending);
        return file;
      }),
    );
    request.atEnd(() => lease.release());
    return files;
  } catch (error) {
    failed.abort(error);
    lease.release();
    throw error;
  }
}

async function loadImage(image: ImageInput, n: number, policy: ImagePolicy, signal: AbortSignal, charge: (bytes: number) => void): Promise<InputFile> {
  let loaded: { data: Uint8Array; contentType: string };
  try {
    loaded = image.url.startsWith("data:") ? decodeDataUri(image.url, charge) : await download(image.url, policy.input, signal, charge);
  } catch (error) {
    if (!(error instanceof DownloadRefused)) throw error;
    throw invalidRequest(`The image at '${image.param}' was refused: ${error.message}.`, image.param, "invalid_image");
  }
  if (loaded.data.byteLength === 0) throw invalidRequest(`The image at '${image.param}' is empty.`, image.param, "invalid_image");
  return { name: `image-${n}.${EXTENSIONS[loaded.contentType] ?? "png"}`, data: loaded.data, contentType: loaded.contentType, param: image.param };
}

/** A data: URI's decoded size, from the length of its base64 (an upper bound; whitespace counts). */
function dataUriSize(url: string): number {
  const comma = url.indexOf(",");
  return Math.floor(((url.length - comma - 1) * 3) / 4);
}

/** A base64 `data:` URI, under the same type and size rules as a download. */
function decodeDataUri(url: string, charge: (bytes: number) => void): { data: Uint8Array; contentType: string } {
  const match = /^data:([\w.+-]+\/[\w.+-]+)?((?:;[\w-]+=[^;,]*)*);base64,([A-Za-z0-9+/=\s_-]*)$/.exec(url);
  if (!match) throw new DownloadRefused("it is not a base64 data: URI (data:image/png;base64,...)");
  const contentType = (match[1] ?? "").toLowerCase();
  if (!isImageType(contentType)) throw new DownloadRefused(`it is not an image (${contentType || "no content type"})`);
  // Decoded size from the encoded length, before decoding anything.
  const encoded = match[3].replace(/\s/g, "");
  const size = Math.floor((encoded.length * 3) / 4);
  if (size > MAX_IMAGE_BYTES + 3) throw new DownloadRefused(`it is larger than ${MAX_IMAGE_BYTES / 1048576} MiB`);
  charge(size);
  return { data: Buffer.from(encoded, "base64"), contentType };
}
