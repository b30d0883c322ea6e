import { hasAscii } from "./bytes.ts";

/** The containers told apart by their first bytes. */
export type AudioContainer = "wav" | "mp3" | "ogg" | "webm" | "mp4" | "flac";

/**
 * The container of an audio file, read from its first bytes, never its name
 * (browsers call WebM `audio.webm` but apps rename files freely):
 * RIFF…WAVE, an ID3 tag or an MPEG audio frame header, OggS, the EBML magic
 * of WebM and Matroska, an ISO `ftyp` box (m4a, mp4), fLaC. Undefined when
 * nothing matches.
 */
export function sniffAudio(bytes: Uint8Array): AudioContainer | undefined {
  if (hasAscii(bytes, 0, "RIFF") && hasAscii(bytes, 8, "WAVE")) return "wav";
  if (hasAscii(bytes, 0, "OggS")) return "ogg";
  if (hasAscii(bytes, 0, "fLaC")) return "flac";
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return "webm";
  if (hasAscii(bytes, 4, "ftyp")) return "mp4";
  if (hasAscii(bytes, 0, "ID3")) return "mp3";
  if (isMpegAudioHeader(bytes, 0)) return "mp3";
  return undefined;
}

/** An MPEG audio frame header at `at`: the 11-bit sync, a known version and layer, a usable bitrate and sample rate. */
export function isMpegAudioHeader(bytes: Uint8Array, at: number): boolean {
  if (at + 4 > bytes.length) return false;
  const b1 = bytes[at + 1];
  const b2 = bytes[at + 2];
  return bytes[at] === 0xff && (b1 & 0xe0) === 0xe0 && (b1 & 0x18) !== 0x08 && (b1 & 0x06) !== 0 && (b2 & 0xf0) !== 0xf0 && (b2 & 0xf0) !== 0 && (b2 & 0x0c) !== 0x0c;
}
