/**
 * Coze's chat stream, read the way the official `@coze/api` SDK reads it
 * (its `fetchAPI().stream()`): lines of `field:value` (no space after the
 * colon in real streams, so values are trimmed), an event yielded on each
 * `data` line with the `event` named before it. `done`'s data is the JSON
 * string `"[DONE]"`, never an object; a stream that ends inside a line ended
 * in an error, and that rest is its data (as the SDK treats it).
 */
export interface CozeStreamEvent {
  event: string;
  data: string;
}

export class CozeStreamParser {
  private buffer = "";
  private event = "";

  /** The events completed by `chunk`. */
  push(chunk: string): CozeStreamEvent[] {
    const text = this.buffer === "" ? chunk : this.buffer + chunk;
    const events: CozeStreamEvent[] = [];
    // Line by line with indexOf, not split: no array of every line, and the rest stays one slice.
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; start = end + 1, end = text.indexOf("\n", start)) {
      const colon = text.indexOf(":", start);
      if (colon === -1 || colon > end) continue;
      const field = text.slice(start, colon).trim();
      if (field === "event") this.event = text.slice(colon + 1, end).trim();
      else if (field === "data") events.push({ event: this.event, data: text.slice(colon + 1, end).trim() });
    }
    this.buffer = start === 0 ? text : text.slice(start);
    return events;
  }

  /** At the end of the body: what was left unterminated, as an error event. */
  end(): CozeStreamEvent[] {
    const rest = this.buffer.trim();
    this.buffer = "";
    return rest === "" ? [] : [{ event: "error", data: rest }];
  }
}
