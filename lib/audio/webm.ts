import { AudioFormatError } from "./bytes.ts";

/** A track of a WebM/Matroska file, as far as an audio remux needs it. */
export interface WebmTrack {
  number: number;
  codecId: string;
  codecPrivate: Uint8Array | undefined;
  /** Nanoseconds the codec needs to prime (Opus: its pre-skip). */
  codecDelay: number;
  sampleRate: number;
  channels: number;
}

/** The frames of one SimpleBlock or Block, in order (a laced block holds several). */
export interface WebmBlock {
  track: number;
  frames: Uint8Array[];
}

export interface Webm {
  tracks: WebmTrack[];
  blocks: WebmBlock[];
}

// Element ids, with their length marker, as Matroska's specification lists them.
const ID = {
  ebml: 0x1a45dfa3,
  segment: 0x18538067,
  tracks: 0x1654ae6b,
  trackEntry: 0xae,
  trackNumber: 0xd7,
  codecId: 0x86,
  codecPrivate: 0x63a2,
  codecDelay: 0x56aa,
  audio: 0xe1,
  samplingFrequency: 0xb5,
  channels: 0x9f,
  cluster: 0x1f43b675,
  simpleBlock: 0xa3,
  blockGroup: 0xa0,
  block: 0xa1,
};
/** Elements whose children are read; every other element is stepped over by its size. */
const MASTERS = new Set([ID.segment, ID.tracks, ID.trackEntry, ID.audio, ID.cluster, ID.blockGroup]);

/** A variable-length integer at `at`: its value (marker bit kept for ids, cleared for sizes) and its length. */
function vint(bytes: Uint8Array, at: number, keepMarker: boolean): { value: number; length: number; unknown: boolean } {
  const first = bytes[at];
  if (first === undefined || first === 0) throw new AudioFormatError(`no valid EBML number at byte ${at}`);
  const length = Math.clz32(first) - 23;
  if (at + length > bytes.length) throw new AudioFormatError(`the EBML number at byte ${at} is cut short`);
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    value = value * 256 + bytes[at + i];
    if (bytes[at + i] !== 0xff) allOnes = false;
  }
  return { value, length, unknown: !keepMarker && allOnes };
}

const uint = (bytes: Uint8Array) => bytes.reduce((v, b) => v * 256 + b, 0);

function float(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return bytes.length === 4 ? view.getFloat32(0) : bytes.length === 8 ? view.getFloat64(0) : 0;
}

/**
 * Reads the tracks and blocks of a WebM/Matroska file. Browsers' recorders
 * (MediaRecorder) write the Segment and each Cluster with an unknown size, so
 * containers are not skipped by size: their children are read in a flat
 * pass, and every other element is stepped over. Nothing is decoded.
 */
export function parseWebm(bytes: Uint8Array): Webm {
  const tracks: WebmTrack[] = [];
  const blocks: WebmBlock[] = [];
  let track: WebmTrack | undefined;
  let at = 0;
  while (at < bytes.length) {
    let id: ReturnType<typeof vint>;
    let size: ReturnType<typeof vint>;
    try {
      id = vint(bytes, at, true);
      size = vint(bytes, at + id.length, false);
    } catch (error) {
      // Bytes after the last element that are no element (padding, a cut-off write) end a recording that has sound.
      if (blocks.length > 0) break;
      throw error;
    }
    const body = at + id.length + size.length;
    if (MASTERS.has(id.value)) {
      if (id.value === ID.trackEntry) tracks.push((track = { number: 0, codecId: "", codecPrivate: undefined, codecDelay: 0, sampleRate: 48_000, channels: 1 }));
      at = body;
      continue;
    }
    if (size.unknown) throw new AudioFormatError(`the WebM element 0x${id.value.toString(16)} at byte ${at} has an unknown size`);
    const end = body + size.value;
    // A recording cut off mid-block (a browser stopped early) ends at its last whole element.
    if (end > bytes.length) break;
    const data = bytes.subarray(body, end);
    if (id.value === ID.simpleBlock || id.value === ID.block) blocks.push(parseBlock(data));
    else if (track) {
      if (id.value === ID.trackNumber) track.number = uint(data);
      else if (id.value === ID.codecId) track.codecId = new TextDecoder().decode(data).replace(/\0+$/, "");
      else if (id.value === ID.codecPrivate) track.codecPrivate = data;
      else if (id.value === ID.codecDelay) track.codecDelay = uint(data);
      else if (id.value === ID.samplingFrequency) track.sampleRate = float(data);
      else if (id.value === ID.channels) track.channels = uint(data);
    }
    at = end;
  }
  return { tracks, blocks };
}

/** A (Simple)Block's track and frames; laced blocks (Xiph, fixed-size, EBML) are unlaced. */
function parseBlock(data: Uint8Array): WebmBlock {
  const track = vint(data, 0, false);
  let at = track.length + 2; // the timecode, relative to the cluster: positions come from the packets
  const flags = data[at++];
  const lacing = (flags >> 1) & 3;
  if (lacing === 0) return { track: track.value, frames: [data.subarray(at)] };
  const count = data[at++] + 1;
  const sizes: number[] = [];
  if (lacing === 1) {
    for (let i = 0; i < count - 1; i++) {
      let size = 0;
      let b: number;
      do size += b = data[at++];
      while (b === 255);
      sizes.push(size);
    }
  } else if (lacing === 3) {
    const first = vint(data, at, false);
    at += first.length;
    sizes.push(first.value);
    for (let i = 1; i < count - 1; i++) {
      const raw = vint(data, at, false);
      at += raw.length;
      // A signed difference from the previous size, biased by half the range of its length.
      sizes.push(sizes[i - 1] + raw.value - (2 ** (7 * raw.length - 1) - 1));
    }
  } else {
    const each = (data.length - at) / count;
    if (!Number.isInteger(each)) throw new AudioFormatError("a fixed-size laced WebM block does not divide evenly");
    for (let i = 0; i < count - 1; i++) sizes.push(each);
  }
  const frames: Uint8Array[] = [];
  for (const size of sizes) {
    frames.push(data.subarray(at, at + size));
    at += size;
  }
  if (at > data.length) throw new AudioFormatError("a laced WebM block is shorter than its frame sizes say");
  frames.push(data.subarray(at));
  return { track: track.value, frames };
}
