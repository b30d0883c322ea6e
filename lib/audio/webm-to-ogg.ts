import { AudioFormatError, concatBytes } from "./bytes.ts";
import { FIRST_PAGE, LAST_PAGE, pagesFor, writeOggPage } from "./ogg-page.ts";
import { buildOpusHead, buildOpusTags, isOpusHead, OPUS_RATE, opusPacketSamples } from "./opus.ts";
import { parseWebm } from "./webm.ts";

/** The serial number of remuxed streams: any value will do, a fixed one keeps the output reproducible. */
const SERIAL = 0x436f7a65;
/** About a second of sound per page, as Opus encoders write them. */
const PAGE_BYTES = 4096;

/**
 * Moves the Opus packets of a WebM recording (a browser's MediaRecorder,
 * LibreChat's `audio.webm`) into an Ogg Opus file, without decoding: the
 * OpusHead from the track's CodecPrivate (or built from its channels and
 * codec delay), an OpusTags page, then the packets in order on pages whose
 * granule positions count the 48 kHz samples decoded so far, the last page
 * marked as such.
 */
export function webmToOggOpus(bytes: Uint8Array): Uint8Array {
  const webm = parseWebm(bytes);
  const track = webm.tracks.find((t) => t.codecId === "A_OPUS");
  if (!track) {
    const codecs = webm.tracks.map((t) => t.codecId).join(", ") || "no tracks";
    throw new AudioFormatError(`the WebM file has no Opus audio track (${codecs})`);
  }
  const head =
    track.codecPrivate && isOpusHead(track.codecPrivate)
      ? track.codecPrivate
      : buildOpusHead({ channels: track.channels, preSkip: Math.round((track.codecDelay * OPUS_RATE) / 1e9), inputRate: Math.round(track.sampleRate) });
  const packets = webm.blocks.filter((b) => b.track === track.number).flatMap((b) => b.frames);
  if (packets.length === 0) throw new AudioFormatError("the WebM file's Opus track holds no audio");
  const granules: bigint[] = [];
  let decoded = 0n;
  for (const packet of packets) granules.push((decoded += BigInt(opusPacketSamples(packet))));
  const pages = [
    ...pagesFor([head], [0n], SERIAL, 0, FIRST_PAGE),
    ...pagesFor([buildOpusTags("coze-chat-proxy")], [0n], SERIAL, 1),
  ];
  pages.push(...pagesFor(packets, granules, SERIAL, pages.length, 0, PAGE_BYTES));
  pages[pages.length - 1].flags |= LAST_PAGE;
  return concatBytes(pages.map(writeOggPage));
}
