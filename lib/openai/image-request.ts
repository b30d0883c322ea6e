import { invalidRequest } from "./api-error.ts";
import { asObject, optionalString, requiredString } from "./validate.ts";

export interface ImageRequest {
  model: string;
  prompt: string;
  n: number;
  size?: string;
  quality?: string;
  style?: string;
  responseFormat: "url" | "b64_json";
}

/** Validates a `/v1/images/generations` body; `maxImages` caps `n`. */
export function parseImageRequest(raw: unknown, maxImages: number): ImageRequest {
  const body = asObject(raw, null);
  const model = requiredString(body, "model");
  const prompt = requiredString(body, "prompt");
  const n = body.n ?? 1;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw invalidRequest("'n' must be a whole number of at least 1.", "n");
  }
  if (n > maxImages) throw invalidRequest(`'n' must be at most ${maxImages} (MAX_IMAGES).`, "n");
  const format = body.response_format ?? "url";
  if (format !== "url" && format !== "b64_json") {
    throw invalidRequest("'response_format' must be 'url' or 'b64_json'.", "response_format");
  }
  return {
    model,
    prompt,
    n,
    size: optionalString(body, "size"),
    quality: optionalString(body, "quality"),
    style: optionalString(body, "style"),
    responseFormat: format,
  };
}
