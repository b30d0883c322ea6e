import { deflateSync } from "node:zlib";

/**
 * A small deterministic PNG for the simulated Coze image bot: a two-colour
 * gradient whose colours come from a hash of the prompt, so the same prompt
 * always yields the same bytes and tests can compare them.
 */
export function promptPng(prompt: string, size = 64): Uint8Array<ArrayBuffer> {
  const hash = Bun.hash.crc32(prompt);
  const from = [hash & 0xff, (hash >>> 8) & 0xff, (hash >>> 16) & 0xff];
  const to = [255 - from[0], 255 - from[1], 255 - from[2]];
  const rows = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) {
    const row = y * (size * 3 + 1);
    rows[row] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const t = (x + y) / (2 * size - 2);
      for (let c = 0; c < 3; c++) rows[row + 1 + x * 3 + c] = Math.round(from[c] + (to[c] - from[c]) * t);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  return new Uint8Array(Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0)),
  ]));
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(Bun.hash.crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
