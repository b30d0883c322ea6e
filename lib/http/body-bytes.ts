import { readLimited } from "../read-limited.ts";
import { bodyTimeout, bodyTooLarge } from "../openai/api-error.ts";

/**
 * Reads a request body as bytes (a multipart upload), refusing more than
 * `limit` (413) before buffering it and a body that has not fully arrived
 * within `timeoutMs` (408), as JSON bodies are.
 */
export async function readBodyBytes(req: Request, limit: number, timeoutMs: number): Promise<Uint8Array> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(bodyTimeout(timeoutMs / 1000)), timeoutMs);
  });
  try {
    return await Promise.race([readLimited(req, limit, () => bodyTooLarge(limit)), late]);
  } finally {
    clearTimeout(timer);
  }
}
