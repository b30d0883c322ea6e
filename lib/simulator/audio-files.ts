/**
 * The simulated Coze's audio files: speech written byte by byte (WAV, PCM,
 * MP3 frames, Ogg Opus pages with their checksums) from a digest, and the
 * checks a decoder would make of an upload before transcribing it. Its own
 * code, not the product's: the simulator imports nothing of the product.
 */

export const MAX_TRANSCRIPTION_SECONDS = 30 * 60;

function digestOf(input: string, voice: string, speed: number): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(`${voice}\n${speed}\n${input}`).digest());
}

/** The simulated speech for an input: its length 10 ms a UTF-8 byte (divided by the speed), its content the digest. */
export function speechAudio(input: string, voice: string, format: "wav" | "pcm" | "ogg_opus" | "mp3", speed: number, rate: number): Uint8Array<ArrayBuffer> {
  const digest = digestOf(input, voice, speed);
  const ms = Math.max(10, Math.round((new TextEncoder().encode(input).length * 10) / speed));
  if (format === "mp3") return mp3Audio(digest, ms);
  if (format === "ogg_opus") return oggOpusAudio(digest, ms);
  const samples = new Uint8Array(Math.round((rate * ms) / 1000) * 2);
  for (let i = 0; i < samples.length; i++) samples[i] = digest[i % digest.length];
  return format === "pcm" ? samples : wav(samples, rate);
}

function wav(samples: Uint8Array, rate: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(44 + samples.length);
  const view = new DataView(out.buffer);
  const ascii = (at: number, text: string) => [...text].forEach((c, i) => (out[at + i] = c.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 36 + samples.length, true);
  ascii(8, "WAVEfmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, samples.length, true);
  out.set(samples, 44);
  return out;
}

/** MPEG-2 Layer III frames, 24 kHz, 32 kbit/s: 96 bytes and 24 ms each, with an ID3 tag before them as encoders write. */
function mp3Audio(digest: Uint8Array, ms: number): Uint8Array<ArrayBuffer> {
  const frames = Math.max(1, Math.ceil(ms / 24));
  const id3 = new Uint8Array([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0]);
  const out = new Uint8Array(id3.length + frames * 96);
  out.set(id3);
  for (let f = 0; f < frames; f++) {
    const at = id3.length + f * 96;
    out.set([0xff, 0xf3, 0x44, 0xc4], at); // MPEG-2, layer III, no CRC, 32 kbit/s, 24 kHz, mono
    for (let i = 4; i < 96; i++) out[at + i] = digest[(f + i) % digest.length];
  }
  return out;
}

/** Ogg Opus: OpusHead, OpusTags, then 20 ms SILK packets carrying the digest, 50 to a page. */
function oggOpusAudio(digest: Uint8Array, ms: number): Uint8Array<ArrayBuffer> {
  const serial = new DataView(digest.buffer).getUint32(0, true);
  const head = new Uint8Array(19);
  head.set(new TextEncoder().encode("OpusHead"));
  head[8] = 1;
  head[9] = 1;
  new DataView(head.buffer).setUint16(10, 312, true);
  new DataView(head.buffer).setUint32(12, 24000, true);
  const tags = new Uint8Array([...new TextEncoder().encode("OpusTags"), 3, 0, 0, 0, 0x73, 0x69, 0x6d, 0, 0, 0, 0]);
  const packets = Array.from({ length: Math.max(1, Math.ceil(ms / 20)) }, () => new Uint8Array([0x48, ...digest]));
  const pages = [oggPage(2, 0n, serial, 0, [head]), oggPage(0, 0n, serial, 1, [tags])];
  for (let i = 0; i < packets.length; i += 50) {
    const batch = packets.slice(i, i + 50);
    const last = i + 50 >= packets.length;
    pages.push(oggPage(last ? 4 : 0, BigInt((i + batch.length) * 960), serial, pages.length, batch));
  }
  const out = new Uint8Array(pages.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const page of pages) (out.set(page, at), (at += page.length));
  return out;
}

/** One Ogg page of whole packets, each under 255 bytes. */
function oggPage(flags: number, granule: bigint, serial: number, sequence: number, packets: Uint8Array[]): Uint8Array {
  const body = packets.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(27 + packets.length + body);
  const view = new DataView(out.buffer);
  out.set([0x4f, 0x67, 0x67, 0x53, 0, flags]);
  view.setBigInt64(6, granule, true);
  view.setUint32(14, serial, true);
  view.setUint32(18, sequence, true);
  out[26] = packets.length;
  let at = 27 + packets.length;
  packets.forEach((p, i) => {
    out[27 + i] = p.length;
    out.set(p, at);
    at += p.length;
  });
  view.setUint32(22, crc(out), true);
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, i) => {
  let r = i << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  return r >>> 0;
});

function crc(bytes: Uint8Array): number {
  let c = 0;
  for (const b of bytes) c = ((c << 8) ^ CRC_TABLE[((c >>> 24) ^ b) & 0xff]) >>> 0;
  return c;
}

const startsWith = (bytes: Uint8Array, text: string, at = 0) => [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));

/** What Coze's transcription takes: ogg, mp3 (with or without an ID3 tag) or wav. */
export function audioFormat(bytes: Uint8Array): "ogg" | "mp3" | "wav" | undefined {
  if (startsWith(bytes, "OggS")) return "ogg";
  if (startsWith(bytes, "RIFF") && startsWith(bytes, "WAVE", 8)) return "wav";
  if (startsWith(bytes, "ID3") || (bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0)) return "mp3";
  return undefined;
}

/**
 * Why a decoder would stop on this Ogg file: a page without its capture
 * pattern or with a wrong checksum, sequence numbers that skip, a second
 * stream, a first page not marked first, a stream that does not end.
 * Over 30 minutes (Opus granule positions are 48 kHz samples) counts too.
 */
export function oggProblem(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let sequence = 0;
  let serial: number | undefined;
  let flags = 0;
  let granule = 0n;
  while (at < bytes.length) {
    if (!startsWith(bytes, "OggS", at) || at + 27 > bytes.length) return `no page at byte ${at}`;
    const count = bytes[at + 26];
    let size = 27 + count;
    for (let i = 0; i < count; i++) size += bytes[at + 27 + i];
    if (at + size > bytes.length) return `page ${sequence} is cut short`;
    const page = bytes.slice(at, at + size);
    page.fill(0, 22, 26);
    if (crc(page) !== view.getUint32(at + 22, true)) return `page ${sequence} fails its checksum`;
    if (view.getUint32(at + 18, true) !== sequence) return `page ${sequence} is numbered ${view.getUint32(at + 18, true)}`;
    serial ??= view.getUint32(at + 14, true);
    if (view.getUint32(at + 14, true) !== serial) return "more than one logical stream";
    flags = bytes[at + 5];
    if (sequence === 0 && !(flags & 2)) return "the first page is not marked as the beginning of a stream";
    if (sequence > 0 && flags & 2) return `page ${sequence} begins a second stream`;
    const g = view.getBigInt64(at + 6, true);
    if (g >= 0n) granule = g;
    at += size;
    sequence++;
  }
  if (!(flags & 4)) return "the stream has no last page";
  if (startsWith(bytes, "OpusHead", 28) && Number(granule) / 48000 > MAX_TRANSCRIPTION_SECONDS) return "longer than 30 minutes";
  return undefined;
}

export function wavProblem(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const byteRate = startsWith(bytes, "fmt ", 12) ? view.getUint32(28, true) : 0;
  const declared = view.getUint32(4, true);
  if (declared + 8 !== bytes.length) return `the RIFF size says ${declared + 8} bytes, the file has ${bytes.length}`;
  if (byteRate > 0 && (bytes.length - 44) / byteRate > MAX_TRANSCRIPTION_SECONDS) return "longer than 30 minutes";
  return undefined;
}
