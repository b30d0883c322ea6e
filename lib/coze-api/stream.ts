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
    this.buffer += chunk;
    const lines = this.buffer.split("\n");
    this.buffer = lines.pop()!;
    const events: CozeStreamEvent[] = [];
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon === -1) continue;
      const field = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (field === "event") this.event = value;
      else if (field === "data") events.push({ event: this.event, data: value });
    }
    return events;
  }

  /** At the end of the body: what was left unterminated, as an error event. */
  end(): CozeStreamEvent[] {
    const rest = this.buffer.trim();
    this.buffer = "";
    return rest === "" ? [] : [{ event: "error", data: rest }];
  }
}
