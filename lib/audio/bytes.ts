/** Byte helpers shared by the container readers: none of them decodes audio. */

/** Whether `bytes` holds the ASCII text `tag` at `at`. */
export function hasAscii(bytes: Uint8Array, at: number, tag: string): boolean {
  if (at < 0 || at + tag.length > bytes.length) return false;
  for (let i = 0; i < tag.length; i++) if (bytes[at + i] !== tag.charCodeAt(i)) return false;
  return true;
}

/** One array holding every part in order. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A file the readers cannot make sense of; the message says what was wrong and where. */
export class AudioFormatError extends Error {
  override name = "AudioFormatError";
}
