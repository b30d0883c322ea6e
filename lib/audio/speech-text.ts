/**
 * Splitting text to be spoken into pieces Coze accepts: at most 1,024 UTF-8
 * bytes each. A cut prefers the end of a sentence (. ! ? ; and their
 * full-width forms 。！？；, an ellipsis, a line break), then a space,
 * then the boundary between two characters (grapheme clusters: never inside
 * an emoji or between a letter and its accents), so that each piece is spoken
 * as a whole.
 */

const encoder = new TextEncoder();
const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** Coze's limit on one speech input. */
export const SPEECH_INPUT_BYTES = 1024;

/** After these a sentence ends; the Latin ones only when a space or the end follows (not "3.14"). */
const FULL_WIDTH_ENDS = new Set(["。", "！", "？", "；", "…", "\n"]);
const LATIN_ENDS = new Set([".", "!", "?", ";"]);
/** Closing marks that stay with the sentence they close. */
const CLOSERS = new Set(['"', "'", "”", "’", "」", "』", ")", "）", "》"]);

/** The pieces of `text`, each of at most `maxBytes` UTF-8 bytes, whitespace at their edges trimmed, none empty. */
export function splitSpeechInput(text: string, maxBytes = SPEECH_INPUT_BYTES): string[] {
  const pieces: string[] = [];
  let rest = text.trim();
  while (encoder.encode(rest).length > maxBytes) {
    const at = cutPoint(rest, maxBytes);
    const piece = rest.slice(0, at).trim();
    if (piece !== "") pieces.push(piece);
    rest = rest.slice(at).trim();
  }
  if (rest !== "") pieces.push(rest);
  return pieces;
}

/** Where to cut `text` so that its first part fits in `maxBytes`: a sentence end, else a space, else a character boundary. */
function cutPoint(text: string, maxBytes: number): number {
  let bytes = 0;
  let sentence = 0;
  let space = 0;
  let character = 0;
  // Every character takes at least a byte: the piece lies within the first maxBytes characters. The window's
  // last cluster may be cut short by the window, so it only counts when the window is the whole text.
  const window = text.slice(0, maxBytes + 1);
  const clusters = [...graphemes.segment(window)];
  const usable = window.length < text.length ? clusters.length - 1 : clusters.length;
  for (let i = 0; i < usable; i++) {
    const { segment, index } = clusters[i];
    const size = encoder.encode(segment).length;
    if (bytes + size > maxBytes) break;
    bytes += size;
    const end = index + segment.length;
    character = end;
    const next = clusters[i + 1]?.segment;
    if (/^\s+$/.test(segment)) space = index;
    if (FULL_WIDTH_ENDS.has(segment) || (LATIN_ENDS.has(segment) && (next === undefined || /^\s/.test(next)))) sentence = end;
    else if (CLOSERS.has(segment) && sentence === index) sentence = end;
  }
  // A cluster larger than the limit (absurd, but possible): cut between its code points rather than loop forever.
  if (character === 0) return String.fromCodePoint(text.codePointAt(0)!).length;
  return sentence || space || character;
}
