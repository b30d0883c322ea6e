/**
 * Audio files for tests, written byte by byte here rather than by the code
 * under test: WAV, MPEG audio frames, Opus packets, and WebM recordings laid
 * out as a browser's MediaRecorder writes them (Segment and Clusters of
 * unknown size, Opus in SimpleBlocks, OpusHead in CodecPrivate).
 */

const ascii = (text: string) => new TextEncoder().encode(text);

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}

/** A 16-bit PCM WAV file whose samples are a counting pattern (so any cut or join shows). */
export function wavFile(frames: number, { rate = 16_000, channels = 1, extraChunk = false } = {}): Uint8Array {
  const data = new Uint8Array(frames * channels * 2);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < frames * channels; i++) dv.setInt16(i * 2, (i * 7) % 65536 - 32768, true);
  const list = extraChunk ? concat([ascii("LIST"), u32(4), ascii("INFO")]) : new Uint8Array(0);
  const header = concat([ascii("RIFF"), u32(36 + list.length + data.length), ascii("WAVE"), ascii("fmt "), u32(16), u16(1), u16(channels), u32(rate), u32(rate * channels * 2), u16(channels * 2), u16(16), list, ascii("data"), u32(data.length)]);
  return concat([header, data]);
}

/** MPEG-1 Layer III frames at 128 kbit/s and 44.1 kHz (417 bytes each), each body filled with its own number. */
export function mp3Frames(count: number, { id3 = false, xing = false } = {}): Uint8Array {
  const frames: Uint8Array[] = [];
  if (id3) frames.push(concat([ascii("ID3"), new Uint8Array([4, 0, 0, 0, 0, 0, 20]), new Uint8Array(20)]));
  if (xing) {
    const f = new Uint8Array(417).fill(0);
    f.set([0xff, 0xfb, 0x90, 0x00]);
    f.set(ascii("Xing"), 36);
    frames.push(f);
  }
  for (let i = 0; i < count; i++) {
    const f = new Uint8Array(417).fill(i % 251);
    f.set([0xff, 0xfb, 0x90, 0x00]);
    frames.push(f);
  }
  return concat(frames);
}

/** An Opus packet of `frames` CELT 20 ms frames (960 samples each at 48 kHz) with a recognisable body. */
export function opusPacket(n: number, frames = 1, size = 60): Uint8Array {
  const p = new Uint8Array(size).fill(n % 256);
  if (frames === 1) p[0] = 0xf8; // config 31, code 0
  else {
    p[0] = 0xf8 | 3; // code 3: the count follows
    p[1] = frames;
  }
  return p;
}

export function opusHead(channels = 1, preSkip = 312): Uint8Array {
  return concat([ascii("OpusHead"), new Uint8Array([1, channels]), u16(preSkip), u32(48_000), u16(0), new Uint8Array([0])]);
}

/** An EBML element: its id bytes, its size as an 8-byte vint (or unknown), its body. */
function element(id: number[], body: Uint8Array | undefined): Uint8Array {
  const size = new Uint8Array(8);
  if (body === undefined) size.set([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  else {
    size[0] = 0x01;
    let v = body.length;
    for (let i = 7; i > 0; i--, v = Math.floor(v / 256)) size[i] = v & 0xff;
  }
  return concat([new Uint8Array(id), size, body ?? new Uint8Array(0)]);
}

const uintBody = (v: number) => new Uint8Array([(v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);

/**
 * A browser-style WebM recording of `packets` on track 1 (Opus) with a
 * second, video track 2 whose blocks must be left out; clusters of unknown
 * size every `perCluster` packets. `laced` puts pairs of packets in
 * Xiph-laced BlockGroups instead.
 */
export function webmRecording(packets: Uint8Array[], { perCluster = 25, head = opusHead(), laced = false } = {}): Uint8Array {
  const ebml = element([0x1a, 0x45, 0xdf, 0xa3], concat([element([0x42, 0x82], ascii("webm"))]));
  const float64 = new Uint8Array(8);
  new DataView(float64.buffer).setFloat64(0, 48_000);
  const audioTrack = element([0xae], concat([element([0xd7], uintBody(1)), element([0x86], ascii("A_OPUS")), element([0x63, 0xa2], head), element([0x56, 0xaa], uintBody(6_500_000)), element([0xe1], concat([element([0xb5], float64), element([0x9f], uintBody(1))]))]));
  const videoTrack = element([0xae], concat([element([0xd7], uintBody(2)), element([0x86], ascii("V_VP8"))]));
  const tracks = element([0x16, 0x54, 0xae, 0x6b], concat([audioTrack, videoTrack]));
  const info = element([0x15, 0x49, 0xa9, 0x66], element([0x2a, 0xd7, 0xb1], uintBody(1_000_000)));
  const clusters: Uint8Array[] = [];
  for (let c = 0; c < packets.length; c += perCluster) {
    const blocks: Uint8Array[] = [element([0xe7], uintBody(c * 20))];
    const batch = packets.slice(c, c + perCluster);
    for (let i = 0; i < batch.length; ) {
      const time = new Uint8Array([0, (i * 20) & 0xff]);
      if (laced && i + 1 < batch.length) {
        const lacing = [];
        let size = batch[i].length;
        while (size >= 255) (lacing.push(255), (size -= 255));
        lacing.push(size);
        const block = concat([new Uint8Array([0x81]), time, new Uint8Array([0x02, 1, ...lacing]), batch[i], batch[i + 1]]);
        blocks.push(element([0xa0], element([0xa1], block)));
        i += 2;
      } else {
        blocks.push(element([0xa3], concat([new Uint8Array([0x81]), time, new Uint8Array([0x80]), batch[i]])));
        i += 1;
      }
      blocks.push(element([0xa3], concat([new Uint8Array([0x82]), time, new Uint8Array([0x80]), new Uint8Array([9, 9, 9])])));
    }
    clusters.push(concat([new Uint8Array([0x1f, 0x43, 0xb6, 0x75]), new Uint8Array([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), ...blocks]));
  }
  const segment = concat([new Uint8Array([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), info, tracks, ...clusters]);
  return concat([ebml, segment]);
}

/** The bytes of a minimal MP4/M4A file's first box (what the format is told by). */
export function m4aFile(): Uint8Array {
  return concat([u32BE(24), ascii("ftypM4A "), u32BE(0), ascii("M4A mp42"), new Uint8Array(64)]);
}

function u16(v: number) {
  return new Uint8Array([v & 0xff, (v >> 8) & 0xff]);
}
function u32(v: number) {
  return new Uint8Array([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff]);
}
function u32BE(v: number) {
  return new Uint8Array([(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]);
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, i) => {
  let r = i << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  return r >>> 0;
});

/** One Ogg page of whole packets (each under 255 bytes), its checksum computed. */
function oggPage(flags: number, granule: number, sequence: number, packets: Uint8Array[]): Uint8Array {
  const body = concat(packets);
  const page = concat([ascii("OggS"), new Uint8Array([0, flags]), new Uint8Array(20), new Uint8Array([packets.length, ...packets.map((p) => p.length)]), body]);
  const view = new DataView(page.buffer);
  view.setBigInt64(6, BigInt(granule), true);
  view.setUint32(14, 0x5eed, true);
  view.setUint32(18, sequence, true);
  let crc = 0;
  for (const b of page) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  view.setUint32(22, crc, true);
  return page;
}

/** An Ogg Opus file of `packets` 20 ms packets of a few bytes each: long in time, small in bytes. */
export function longOggOpus(packets: number): Uint8Array {
  const pages = [oggPage(2, 0, 0, [opusHead()]), oggPage(0, 0, 1, [concat([ascii("OpusTags"), new Uint8Array(8)])])];
  for (let i = 0; i < packets; i += 250) {
    const count = Math.min(250, packets - i);
    const batch = Array.from({ length: count }, (_, k) => new Uint8Array([0xf8, (i + k) & 0xff, ((i + k) >> 8) & 0xff]));
    pages.push(oggPage(i + count >= packets ? 4 : 0, (i + count) * 960, pages.length, batch));
  }
  return concat(pages);
}
