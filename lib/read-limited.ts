/**
 * Reads a request or response body, refusing more than `limit` bytes: a
 * declared length over the limit is refused before anything is read; a body
 * of unknown length is counted as it streams and refused as soon as it
 * passes the limit. `tooLarge` makes the error to throw.
 */
export async function readLimited(message: Request | Response, limit: number, tooLarge: () => Error): Promise<Uint8Array> {
  const declared = message.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > limit) {
      await message.body?.cancel();
      throw tooLarge();
    }
    return new Uint8Array(await message.arrayBuffer()); // one call: Bun's fast path
  }
  if (!message.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of message.body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}
