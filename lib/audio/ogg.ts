import { AudioFormatError, concatBytes } from "./bytes.ts";
import { CONTINUED, FIRST_PAGE, LAST_PAGE, oggPackets, parseOggPages, writeOggPage, type OggPage } from "./ogg-page.ts";
import { isOpusHead, OPUS_RATE, opusPacketSamples, parseOpusHead } from "./opus.ts";

/** An Ogg stream split into its header pages and its audio pages, with the sound each audio page ends at. */
interface Stream {
  headers: OggPage[];
  audio: OggPage[];
  /** Samples decoded by the end of each audio page (Opus: counted from the packets; else the page's granule). */
  decodedAt: bigint[];
  /** Samples the whole stream decodes to. */
  decoded: bigint;
  /** Samples per second of the granule positions, when known (48 kHz for Opus). */
  rate: number | undefined;
}

/**
 * Reads one Ogg file as one logical stream. Header pages are the leading
 * pages with granule position 0 (OpusHead and OpusTags; Vorbis's three).
 * For Opus the sound is counted from each packet's TOC byte, so positions
 * come out right even where an encoder trimmed the end of a piece.
 */
function readStream(bytes: Uint8Array): Stream {
  const pages = parseOggPages(bytes);
  const serial = pages[0].serial;
  if (pages.some((p) => p.serial !== serial)) throw new AudioFormatError("the Ogg file holds more than one logical stream");
  let split = 0;
  while (split < pages.length && pages[split].granule === 0n) split++;
  const headers = pages.slice(0, split);
  const audio = pages.slice(split);
  const packets = oggPackets(pages);
  const opus = packets.length > 0 && isOpusHead(packets[0].data);
  const decodedAt: bigint[] = [];
  if (opus) {
    const perPage = new Array<number>(pages.length).fill(0);
    // Packets that end on a header page are headers; the others are sound.
    for (const packet of packets) if (packet.page >= split) perPage[packet.page] += opusPacketSamples(packet.data);
    let total = 0n;
    for (let i = split; i < pages.length; i++) decodedAt.push((total += BigInt(perPage[i])));
  } else {
    let last = 0n;
    for (const page of audio) decodedAt.push((last = page.granule >= 0n ? page.granule : last));
  }
  const rate = opus ? OPUS_RATE : undefined;
  return { headers, audio, decodedAt, decoded: decodedAt.at(-1) ?? 0n, rate };
}

/** Seconds of sound in an Ogg Opus file (granule position minus pre-skip); undefined for other codecs. */
export function oggDuration(bytes: Uint8Array): number | undefined {
  const pages = parseOggPages(bytes);
  const packets = oggPackets(pages.slice(0, 1));
  if (!packets[0] || !isOpusHead(packets[0].data)) return undefined;
  const last = pages.findLast((p) => p.granule >= 0n)?.granule ?? 0n;
  return Math.max(0, Number(last) - parseOpusHead(packets[0].data).preSkip) / OPUS_RATE;
}

/**
 * Several Ogg files of one codec as one logical stream: the first file's
 * header pages, then every file's audio pages, all with the first file's
 * serial number, numbered anew, their granule positions continued from the
 * sound before them (an encoder's trim of a piece's end is kept only on the
 * last page of the last piece), one first and one last page, each page's
 * checksum computed again.
 */
export function joinOgg(files: readonly Uint8Array[]): Uint8Array {
  if (files.length === 0) throw new AudioFormatError("no Ogg files to join");
  const streams = files.map(readStream);
  const serial = streams[0].headers[0]?.serial ?? streams[0].audio[0].serial;
  const out: OggPage[] = streams[0].headers.map((p) => ({ ...p }));
  let before = 0n;
  streams.forEach((stream, k) => {
    const lastPiece = k === streams.length - 1;
    stream.audio.forEach((page, i) => {
      const lastPage = i === stream.audio.length - 1;
      let granule = page.granule < 0n ? -1n : before + stream.decodedAt[i];
      // An end trim (a granule short of the sound decoded) belongs only at the very end of the stream.
      if (lastPiece && lastPage && page.granule >= 0n && stream.rate !== undefined && page.granule < stream.decodedAt[i]) granule = before + page.granule;
      out.push({ ...page });
      out[out.length - 1].granule = granule;
    });
    before += stream.decoded;
  });
  return concatBytes(renumber(out, serial).map(writeOggPage));
}

/**
 * Cuts an Ogg file into files of at most `maxBytes` and (for Opus)
 * `maxSeconds` each, at page boundaries: every piece repeats the header
 * pages, starts at a page that begins a packet, counts its granule positions
 * from its own start, and ends with a last page. A file within both limits
 * comes back as it was.
 */
export function cutOgg(bytes: Uint8Array, maxBytes: number, maxSeconds = Infinity): Uint8Array[] {
  const stream = readStream(bytes);
  const seconds = (samples: bigint) => (stream.rate ? Number(samples) / stream.rate : 0);
  if (bytes.length <= maxBytes && seconds(stream.decoded) <= maxSeconds) return [bytes];
  const pageSize = (p: OggPage) => 27 + p.lacing.length + p.body.length;
  const headerBytes = stream.headers.reduce((sum, p) => sum + pageSize(p), 0);
  const pieces: Uint8Array[] = [];
  let start = 0;
  while (start < stream.audio.length) {
    const base = start === 0 ? 0n : stream.decodedAt[start - 1];
    let end = start;
    let size = headerBytes;
    let lastCut = -1; // the last place where a piece may end: before a page that starts a packet
    while (end < stream.audio.length) {
      const page = stream.audio[end];
      if (size + pageSize(page) > maxBytes || seconds(stream.decodedAt[end] - base) > maxSeconds) break;
      size += pageSize(page);
      end++;
      if (end === stream.audio.length || !(stream.audio[end].flags & CONTINUED)) lastCut = end;
    }
    if (lastCut <= start) throw new AudioFormatError(`an Ogg piece of ${maxBytes} bytes cannot hold the header pages and one whole packet`);
    const audio = stream.audio.slice(start, lastCut).map((p, i) => ({ ...p, granule: p.granule < 0n ? -1n : stream.decodedAt[start + i] - base }));
    pieces.push(concatBytes(renumber([...stream.headers.map((p) => ({ ...p })), ...audio], stream.headers[0]?.serial ?? audio[0].serial).map(writeOggPage)));
    start = lastCut;
  }
  return pieces;
}

/** Sequence numbers from 0, one serial, the first-page flag on the first page only and the last-page flag on the last only. */
function renumber(pages: OggPage[], serial: number): OggPage[] {
  return pages.map((page, i) => ({
    ...page,
    serial,
    sequence: i,
    flags: (page.flags & CONTINUED) | (i === 0 ? FIRST_PAGE : 0) | (i === pages.length - 1 ? LAST_PAGE : 0),
  }));
}
