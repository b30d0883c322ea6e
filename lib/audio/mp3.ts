import { AudioFormatError, concatBytes, hasAscii } from "./bytes.ts";
import { isMpegAudioHeader } from "./sniff.ts";

/** One MPEG audio frame: where it is, and how much sound it holds. */
export interface Mp3Frame {
  offset: number;
  length: number;
  samples: number;
  sampleRate: number;
}

// Bitrates in kbit/s by [MPEG-1?][layer 1..3][index]; MPEG-2 and 2.5 share a table.
const BITRATES = {
  v1: [
    [],
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ],
  v2: [
    [],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  ],
};
const SAMPLE_RATES = [44100, 48000, 32000];

/** The frame whose header is at `at`, or undefined when no valid header is there. */
export function mp3FrameAt(bytes: Uint8Array, at: number): Mp3Frame | undefined {
  if (!isMpegAudioHeader(bytes, at)) return undefined;
  const b1 = bytes[at + 1];
  const b2 = bytes[at + 2];
  const version = (b1 >> 3) & 3; // 0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1
  const layer = 4 - ((b1 >> 1) & 3); // 1, 2 or 3
  const mpeg1 = version === 3;
  const kbps = (mpeg1 ? BITRATES.v1 : BITRATES.v2)[layer][b2 >> 4];
  const sampleRate = SAMPLE_RATES[(b2 >> 2) & 3] / (mpeg1 ? 1 : version === 2 ? 2 : 4);
  const padding = (b2 >> 1) & 1;
  const bitrate = kbps * 1000;
  let length: number;
  let samples: number;
  if (layer === 1) {
    length = (Math.floor((12 * bitrate) / sampleRate) + padding) * 4;
    samples = 384;
  } else {
    samples = layer === 3 && !mpeg1 ? 576 : 1152;
    length = Math.floor(((samples / 8) * bitrate) / sampleRate) + padding;
  }
  return { offset: at, length, samples, sampleRate };
}

/** Bytes an ID3v2 tag at the start takes (0 when there is none). */
export function id3Size(bytes: Uint8Array): number {
  if (!hasAscii(bytes, 0, "ID3") || bytes.length < 10) return 0;
  const size = ((bytes[6] & 0x7f) << 21) | ((bytes[7] & 0x7f) << 14) | ((bytes[8] & 0x7f) << 7) | (bytes[9] & 0x7f);
  return 10 + size + (bytes[5] & 0x10 ? 10 : 0);
}

/**
 * The audio frames of an MP3 file, in order: an ID3v2 tag at the start and
 * an ID3v1 tag at the end are skipped, and so are bytes between frames that
 * are no frame (junk, APE tags) until the next header that is followed by
 * another (or ends the file). A Xing/Info/VBRI frame, which holds no sound
 * but the file's frame count, is left out: after a join or a cut its count
 * would be wrong.
 */
export function parseMp3(bytes: Uint8Array): Mp3Frame[] {
  const frames: Mp3Frame[] = [];
  let end = bytes.length;
  if (end >= 128 && hasAscii(bytes, end - 128, "TAG")) end -= 128;
  let at = id3Size(bytes);
  while (at + 4 <= end) {
    const frame = mp3FrameAt(bytes, at);
    const fits = frame && frame.length > 4 && at + frame.length <= end;
    // A header counts when the next one follows where it says, or when it ends the file: four bytes of junk can look like a header.
    if (fits && (at + frame.length === end || mp3FrameAt(bytes, at + frame.length) || frames.length > 0)) {
      if (!isInfoFrame(bytes, frame)) frames.push(frame);
      at += frame.length;
    } else at++;
  }
  if (frames.length === 0) throw new AudioFormatError("the MP3 file has no audio frames");
  return frames;
}

/** A frame that carries a VBR header (Xing, Info, VBRI) instead of sound. */
function isInfoFrame(bytes: Uint8Array, frame: Mp3Frame): boolean {
  const limit = Math.min(frame.offset + 40, frame.offset + frame.length - 4);
  for (let at = frame.offset + 4; at <= limit; at++) if (hasAscii(bytes, at, "Xing") || hasAscii(bytes, at, "Info") || hasAscii(bytes, at, "VBRI")) return true;
  return false;
}

/** Seconds of sound in these frames. */
export function mp3Duration(frames: readonly Mp3Frame[]): number {
  return frames.reduce((sum, f) => sum + f.samples / f.sampleRate, 0);
}

/** Several MP3 files as one: their audio frames in order, tags and VBR header frames dropped. */
export function joinMp3(files: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  if (files.length === 0) throw new AudioFormatError("no MP3 files to join");
  return concatBytes(files.flatMap((file) => parseMp3(file).map((f) => file.subarray(f.offset, f.offset + f.length))));
}

/**
 * Cuts an MP3 file into files of at most `maxBytes` and `maxSeconds` each,
 * between whole frames. A file within both limits comes back as it was.
 */
export function cutMp3(bytes: Uint8Array, maxBytes: number, maxSeconds = Infinity): Uint8Array[] {
  const frames = parseMp3(bytes);
  if (bytes.length <= maxBytes && mp3Duration(frames) <= maxSeconds) return [bytes];
  const pieces: Uint8Array[] = [];
  let current: Mp3Frame[] = [];
  let size = 0;
  let seconds = 0;
  const flush = () => {
    if (current.length > 0) pieces.push(concatBytes(current.map((f) => bytes.subarray(f.offset, f.offset + f.length))));
    current = [];
    size = 0;
    seconds = 0;
  };
  for (const frame of frames) {
    if (frame.length > maxBytes) throw new AudioFormatError(`an MP3 frame of ${frame.length} bytes is larger than a piece of ${maxBytes}`);
    const length = frame.samples / frame.sampleRate;
    if (size + frame.length > maxBytes || seconds + length > maxSeconds) flush();
    current.push(frame);
    size += frame.length;
    seconds += length;
  }
  flush();
  return pieces;
}
