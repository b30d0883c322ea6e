import { AudioFormatError, concatBytes, hasAscii } from "./bytes.ts";

/** One Ogg page (RFC 3533), its body kept as a view of the file. */
export interface OggPage {
  /** 1: the page continues a packet from the page before; 2: first page of the stream; 4: last page. */
  flags: number;
  /** Codec-defined position after the last packet that ends on the page; -1n when none ends on it. */
  granule: bigint;
  serial: number;
  sequence: number;
  /** The lacing values: a packet is the run of segments up to one shorter than 255. */
  lacing: Uint8Array;
  body: Uint8Array;
}

export const CONTINUED = 1;
export const FIRST_PAGE = 2;
export const LAST_PAGE = 4;

// Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial 0, no final xor.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

export function oggCrc(bytes: Uint8Array, crc = 0): number {
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]) & 0xff]) >>> 0;
  return crc >>> 0;
}

/**
 * Every page of an Ogg file, in order. A page whose checksum does not match
 * is an error: the file is damaged, and a piece cut from it would be too.
 */
export function parseOggPages(bytes: Uint8Array): OggPage[] {
  const pages: OggPage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (!hasAscii(bytes, at, "OggS") || at + 27 > bytes.length) throw new AudioFormatError(`no Ogg page at byte ${at}`);
    const count = bytes[at + 26];
    const lacing = bytes.subarray(at + 27, at + 27 + count);
    const bodySize = lacing.reduce((sum, v) => sum + v, 0);
    const end = at + 27 + count + bodySize;
    if (end > bytes.length) throw new AudioFormatError(`the Ogg page at byte ${at} is cut short`);
    const stored = view.getUint32(at + 22, true);
    const copy = bytes.slice(at, end);
    copy.fill(0, 22, 26);
    if (oggCrc(copy) !== stored) throw new AudioFormatError(`the Ogg page at byte ${at} fails its checksum`);
    pages.push({
      flags: bytes[at + 5],
      granule: view.getBigInt64(at + 6, true),
      serial: view.getUint32(at + 14, true),
      sequence: view.getUint32(at + 18, true),
      lacing,
      body: bytes.subarray(at + 27 + count, end),
    });
    at = end;
  }
  if (pages.length === 0) throw new AudioFormatError("the Ogg file has no pages");
  return pages;
}

/** The bytes of a page, its checksum computed. */
export function writeOggPage(page: OggPage): Uint8Array {
  const out = new Uint8Array(27 + page.lacing.length + page.body.length);
  const view = new DataView(out.buffer);
  out.set([0x4f, 0x67, 0x67, 0x53, 0, page.flags]);
  view.setBigInt64(6, page.granule, true);
  view.setUint32(14, page.serial, true);
  view.setUint32(18, page.sequence, true);
  out[26] = page.lacing.length;
  out.set(page.lacing, 27);
  out.set(page.body, 27 + page.lacing.length);
  view.setUint32(22, oggCrc(out), true);
  return out;
}

/** A packet put back together from its pages, and the page it ends on. */
export interface OggPacket {
  data: Uint8Array;
  /** Index in the page list of the page where the packet ends. */
  page: number;
}

/** The packets that the pages carry, joined across page boundaries. */
export function oggPackets(pages: readonly OggPage[]): OggPacket[] {
  const packets: OggPacket[] = [];
  let parts: Uint8Array[] = [];
  pages.forEach((page, index) => {
    let at = 0;
    for (const value of page.lacing) {
      parts.push(page.body.subarray(at, at + value));
      at += value;
      if (value < 255) {
        packets.push({ data: parts.length === 1 ? parts[0] : concatBytes(parts), page: index });
        parts = [];
      }
    }
  });
  return packets;
}

/** Pages for packets of one stream; `granules[i]` is the position after packet i. Each packet list starts on a new page. */
export function pagesFor(packets: readonly Uint8Array[], granules: readonly bigint[], serial: number, firstSequence: number, flags = 0, maxBody = 4096): OggPage[] {
  const pages: OggPage[] = [];
  let lacing: number[] = [];
  let parts: Uint8Array[] = [];
  let size = 0;
  let granule = -1n;
  let continued = false;
  const flush = (nextContinues: boolean) => {
    pages.push({ flags: (continued ? CONTINUED : 0) | (pages.length === 0 ? flags : 0), granule, serial, sequence: firstSequence + pages.length, lacing: Uint8Array.from(lacing), body: concatBytes(parts) });
    continued = nextContinues;
    lacing = [];
    parts = [];
    size = 0;
    granule = -1n;
  };
  packets.forEach((packet, i) => {
    let at = 0;
    for (;;) {
      if (lacing.length === 255) flush(at > 0);
      const value = Math.min(255, packet.length - at);
      lacing.push(value);
      parts.push(packet.subarray(at, at + value));
      size += value;
      at += value;
      if (value < 255) break;
    }
    granule = granules[i];
    if (size >= maxBody) flush(false);
  });
  if (lacing.length > 0) flush(false);
  return pages;
}
