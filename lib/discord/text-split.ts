/**
 * Cutting text for Discord without cutting a character: never between the
 * halves of a surrogate pair, never between a letter and its combining marks
 * or inside an emoji sequence. A cut prefers the last line break, then the
 * last space, in the final stretch before the limit.
 */

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });
const PREFER_WINDOW = 200;
const GRAPHEME_WINDOW = 64;

/** The largest index ≤ `max` (and > 0 when possible) where `text` may be cut. */
export function cutIndex(text: string, max: number): number {
  if (max >= text.length) return text.length;
  const floor = Math.max(1, max - PREFER_WINDOW);
  const newline = text.lastIndexOf("\n", max);
  if (newline >= floor) return newline;
  const space = text.lastIndexOf(" ", max);
  if (space >= floor) return space;
  return graphemeBoundary(text, max);
}

/** The last grapheme boundary at or before `max`; a code point boundary when a cluster is absurdly long. */
export function graphemeBoundary(text: string, max: number): number {
  const start = Math.max(0, max - GRAPHEME_WINDOW);
  let best = -1;
  for (const { index } of graphemes.segment(text.slice(start, Math.min(text.length, max + GRAPHEME_WINDOW)))) {
    const at = start + index;
    if (at > max) break;
    if (at > start || start === 0) best = at;
  }
  if (best > 0) return best;
  const code = text.charCodeAt(max);
  return code >= 0xdc00 && code <= 0xdfff ? max - 1 : max;
}

/** Splits `text` into pieces of at most `limit` UTF-16 units, cutting only where `cutIndex` allows. */
export function splitText(text: string, limit: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    const at = cutIndex(rest, limit);
    pieces.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  if (rest !== "" || pieces.length === 0) pieces.push(rest);
  return pieces.filter((p, i) => p !== "" || i === pieces.length - 1);
}
