import { AudioFormatError, hasAscii } from "./bytes.ts";

/** Opus always counts time in samples at 48 kHz, whatever rate it was recorded at. */
export const OPUS_RATE = 48_000;

// Frame length in 48 kHz samples by TOC config (RFC 6716 §3.1): SILK 0–11, hybrid 12–15, CELT 16–31.
const FRAME_SAMPLES = [
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880,
  480, 960, 480, 960,
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960,
];

/** How many 48 kHz samples an Opus packet decodes to, read from its TOC byte (and frame count byte): no decoding. */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length === 0) return 0; // a lost-packet marker: nothing to decode
  const toc = packet[0];
  const perFrame = FRAME_SAMPLES[toc >> 3];
  const code = toc & 3;
  if (code === 0) return perFrame;
  if (code === 1 || code === 2) return 2 * perFrame;
  if (packet.length < 2) throw new AudioFormatError("an Opus packet of code 3 has no frame count");
  return (packet[1] & 0x3f) * perFrame;
}

/** The identification header (RFC 7845 §5.1) fields that the remux and the join need. */
export interface OpusHead {
  channels: number;
  preSkip: number;
  inputRate: number;
}

export function isOpusHead(packet: Uint8Array): boolean {
  return hasAscii(packet, 0, "OpusHead") && packet.length >= 19;
}

export function parseOpusHead(packet: Uint8Array): OpusHead {
  if (!isOpusHead(packet)) throw new AudioFormatError("not an OpusHead packet");
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  return { channels: packet[9], preSkip: view.getUint16(10, true), inputRate: view.getUint32(12, true) };
}

/** An OpusHead for mono or stereo (channel mapping 0), for WebM files that carry none in CodecPrivate. */
export function buildOpusHead({ channels, preSkip, inputRate }: OpusHead): Uint8Array {
  if (channels < 1 || channels > 2) throw new AudioFormatError(`an Opus stream of ${channels} channels needs its own channel mapping, which the WebM file does not carry`);
  const out = new Uint8Array(19);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode("OpusHead"));
  out[8] = 1;
  out[9] = channels;
  view.setUint16(10, preSkip, true);
  view.setUint32(12, inputRate, true);
  return out;
}

/** A comment header (RFC 7845 §5.2) with a vendor string and no comments. */
export function buildOpusTags(vendor: string): Uint8Array {
  const name = new TextEncoder().encode(vendor);
  const out = new Uint8Array(8 + 4 + name.length + 4);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode("OpusTags"));
  view.setUint32(8, name.length, true);
  out.set(name, 12);
  return out;
}
