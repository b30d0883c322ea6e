/**
 * The service's one bounded body reader, for request bodies and for what it
 * downloads: it never holds more than `limit` DECODED bytes.
 *
 * Content-Length counts the bytes on the wire. For a body that is not
 * encoded it is the body's size, so a declared length over the limit is
 * refused before anything is read, and one within it is read in one call
 * (Bun's fast path: no chunks to copy and leave behind for the collector).
 * For an encoded body (`fetch` inflates gzip, deflate, br and zstd as it
 * reads) it says nothing about what inflating costs, so such a body, like a
 * body of unknown length, is counted as it streams and refused as soon as
 * it passes the limit: a compression bomb stops there.
 *
 * `tooLarge` makes the error to throw. `charge`, when given, is told every
 * decoded byte before it is kept and may throw to stop the read (a memory
 * budget shared by several readers); its error is thrown as it is.
 */
export async function readLimited(
  message: Request | Response,
  limit: number,
  tooLarge: () => Error,
  charge?: (bytes: number) => void,
): Promise<Uint8Array> {
  const encoded = (message.headers.get("content-encoding") ?? "identity").trim().toLowerCase() !== "identity";
  const declared = encoded ? NaN : Number(message.headers.get("content-length") ?? NaN);
  if (Number.isInteger(declared)) {
    if (declared > limit) {
      await message.body?.cancel().catch(() => {});
      throw tooLarge();
    }
    try {
      charge?.(declared);
    } catch (error) {
      await message.body?.cancel().catch(() => {});
      throw error;
    }
    return new Uint8Array(await message.arrayBuffer());
  }
  if (!message.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = message.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > limit) throw tooLarge();
      charge?.(value.byteLength);
      chunks.push(value);
      size += value.byteLength;
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}
