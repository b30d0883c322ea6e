/**
 * Server-sent events, decoded as the HTML standard and openai-node's
 * `SSEDecoder` do: lines end with `\n`, `\r\n` or a lone `\r`; a blank line
 * dispatches the event gathered so far; a line starting with `:` is a comment;
 * one space after a field's colon is dropped; several `data` lines join with
 * `\n`. The service reads Coze's chat stream with it, and the tests and the
 * bench read the service's own streams with it.
 */
export interface SseEvent {
  /** The `event` field, or null when the event named none. */
  event: string | null;
  data: string;
}

export class SseDecoder {
  private buffer = "";
  private event: string | null = null;
  /** The data lines so far, joined with `\n`; `undefined` before the first (most events have one). */
  private data: string | undefined;
  /** The block so far had a field: a blank line after it dispatches, one after nothing does not. */
  private open = false;
  /** The last chunk ended with `\r`: a `\n` opening the next one ends no further line. */
  private afterCr = false;

  /** The events that `chunk` completes. */
  push(chunk: string): SseEvent[] {
    if (this.afterCr && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.afterCr = chunk.endsWith("\r");
    const text = this.buffer === "" ? chunk : this.buffer + chunk;
    const events: SseEvent[] = [];
    const crs = text.includes("\r");
    let start = 0;
    // Line by line with indexOf, not split: no array of every line, and the rest stays one slice.
    for (;;) {
      let end = text.indexOf("\n", start);
      let next = end + 1;
      if (crs) {
        const cr = text.indexOf("\r", start);
        if (cr !== -1 && (end === -1 || cr < end)) {
          end = cr;
          next = text[cr + 1] === "\n" ? cr + 2 : cr + 1;
        }
      }
      if (end === -1) break;
      const event = this.line(text, start, end);
      if (event) events.push(event);
      start = next;
    }
    this.buffer = start === 0 ? text : text.slice(start);
    return events;
  }

  /** Text after the last line end: a line the stream has not finished (yet). */
  get pending(): string {
    return this.buffer;
  }

  /** At the end of the stream: its unfinished last line taken as a line, and the event it completes, if any. */
  end(): SseEvent[] {
    const events: SseEvent[] = [];
    const rest = this.buffer;
    this.buffer = "";
    const last = rest === "" ? undefined : this.line(rest, 0, rest.length);
    if (last) events.push(last);
    const flushed = this.line("", 0, 0);
    if (flushed) events.push(flushed);
    return events;
  }

  private line(text: string, start: number, end: number): SseEvent | undefined {
    if (start === end) {
      if (!this.open) return undefined;
      const event = { event: this.event, data: this.data ?? "" };
      this.event = null;
      this.data = undefined;
      this.open = false;
      return event;
    }
    if (text.charCodeAt(start) === 58 /* : */) return undefined;
    let colon = text.indexOf(":", start);
    if (colon === -1 || colon > end) colon = end;
    let from = colon + 1;
    if (text.charCodeAt(from) === 32 /* space */ && from < end) from++;
    const value = from >= end ? "" : text.slice(from, end);
    if (fieldIs(text, start, colon, "event")) this.event = value;
    else if (fieldIs(text, start, colon, "data")) this.data = this.data === undefined ? value : `${this.data}\n${value}`;
    else if (!fieldIs(text, start, colon, "id") && !fieldIs(text, start, colon, "retry")) return undefined;
    this.open = true;
    return undefined;
  }
}

/** Whether the field from `start` to `colon` is `name`, matched where it stands: no string of its own per line. */
const fieldIs = (text: string, start: number, colon: number, name: string) => colon - start === name.length && text.startsWith(name, start);

/** Every event of a whole SSE text. */
export function decodeSse(text: string): SseEvent[] {
  const decoder = new SseDecoder();
  return [...decoder.push(text), ...decoder.end()];
}
