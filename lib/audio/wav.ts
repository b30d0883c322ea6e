import { AudioFormatError, concatBytes, hasAscii } from "./bytes.ts";

/** A WAV file read as its format chunk and where its samples are. */
export interface Wav {
  /** The `fmt ` chunk's body as it was (PCM, float, extensible: kept, not interpreted beyond the fields below). */
  fmt: Uint8Array;
  channels: number;
  sampleRate: number;
  byteRate: number;
  /** Bytes per sample frame (all channels): cuts fall on multiples of it. */
  blockAlign: number;
  bitsPerSample: number;
  data: Uint8Array;
}

/**
 * Reads a RIFF/WAVE file: its `fmt ` and `data` chunks, other chunks
 * skipped. A data size of 0 or 0xFFFFFFFF (written by streaming encoders
 * that did not know the length) or past the end means "to the end of the file".
 */
export function parseWav(bytes: Uint8Array): Wav {
  if (!hasAscii(bytes, 0, "RIFF") || !hasAscii(bytes, 8, "WAVE")) throw new AudioFormatError("not a RIFF/WAVE file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Uint8Array | undefined;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (hasAscii(bytes, at, "fmt ")) {
      if (size < 16 || body + size > bytes.length) throw new AudioFormatError("the WAV format chunk is cut short");
      fmt = bytes.subarray(body, body + size);
    } else if (hasAscii(bytes, at, "data")) {
      if (!fmt) throw new AudioFormatError("the WAV data chunk comes before its format chunk");
      const end = size === 0 || size === 0xffffffff || body + size > bytes.length ? bytes.length : body + size;
      const f = new DataView(fmt.buffer, fmt.byteOffset, fmt.byteLength);
      const blockAlign = f.getUint16(12, true);
      if (blockAlign === 0) throw new AudioFormatError("the WAV format chunk says 0 bytes per sample frame");
      const data = bytes.subarray(body, body + Math.floor((end - body) / blockAlign) * blockAlign);
      return { fmt, channels: f.getUint16(2, true), sampleRate: f.getUint32(4, true), byteRate: f.getUint32(8, true), blockAlign, bitsPerSample: f.getUint16(14, true), data };
    }
    at = body + size + (size & 1); // chunks are padded to an even length
  }
  throw new AudioFormatError("the WAV file has no data chunk");
}

/** A WAV file of `fmt` around `data`: one header whose sizes are the data's. */
export function writeWav(fmt: Uint8Array, data: Uint8Array): Uint8Array {
  const header = new Uint8Array(12 + 8 + fmt.length + (fmt.length & 1) + 8);
  const view = new DataView(header.buffer);
  const ascii = (at: number, text: string) => [...text].forEach((c, i) => (header[at + i] = c.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, header.length - 8 + data.length + (data.length & 1), true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, fmt.length, true);
  header.set(fmt, 20);
  const dataAt = 20 + fmt.length + (fmt.length & 1);
  ascii(dataAt, "data");
  view.setUint32(dataAt + 4, data.length, true);
  return concatBytes(data.length & 1 ? [header, data, new Uint8Array(1)] : [header, data]);
}

/** Several WAV files of one format as one: their samples in order under one header. */
export function joinWav(files: readonly Uint8Array[]): Uint8Array {
  if (files.length === 0) throw new AudioFormatError("no WAV files to join");
  const parsed = files.map(parseWav);
  const first = parsed[0];
  for (const [i, wav] of parsed.entries()) {
    if (wav.channels !== first.channels || wav.sampleRate !== first.sampleRate || wav.bitsPerSample !== first.bitsPerSample || wav.blockAlign !== first.blockAlign) {
      throw new AudioFormatError(`WAV piece ${i} is ${wav.channels} ch ${wav.sampleRate} Hz ${wav.bitsPerSample} bit; piece 0 is ${first.channels} ch ${first.sampleRate} Hz ${first.bitsPerSample} bit`);
    }
  }
  return writeWav(first.fmt, concatBytes(parsed.map((w) => w.data)));
}

/** Seconds of sound in a WAV file. */
export function wavDuration(wav: Wav): number {
  return wav.byteRate > 0 ? wav.data.length / wav.byteRate : 0;
}

/**
 * Cuts a WAV file into files of at most `maxBytes` each (header included)
 * and at most `maxSeconds` of sound, at sample frame boundaries, each with a
 * header of its own. A file within both limits comes back as it was.
 */
export function cutWav(bytes: Uint8Array, maxBytes: number, maxSeconds = Infinity): Uint8Array[] {
  const wav = parseWav(bytes);
  if (bytes.length <= maxBytes && wavDuration(wav) <= maxSeconds) return [bytes];
  const headerSize = writeWav(wav.fmt, new Uint8Array(0)).length;
  const bySize = maxBytes - headerSize - 1;
  const byTime = wav.byteRate > 0 && Number.isFinite(maxSeconds) ? Math.floor(maxSeconds * wav.byteRate) : Infinity;
  const step = Math.floor(Math.min(bySize, byTime) / wav.blockAlign) * wav.blockAlign;
  if (step <= 0) throw new AudioFormatError(`a WAV piece of ${maxBytes} bytes cannot hold one sample frame`);
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < wav.data.length; at += step) pieces.push(writeWav(wav.fmt, wav.data.subarray(at, at + step)));
  return pieces;
}
