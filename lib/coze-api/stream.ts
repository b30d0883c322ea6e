import { SseDecoder } from "../sse-decoder.ts";

/**
 * Coze's chat stream: server-sent events (`event:NAME` and `data:JSON`,
 * with or without a space after the colon; Coze Studio ends with an empty
 * `data:` line). `done`'s data is the JSON string `"[DONE]"`, never an
 * object. A body that is no event stream at all but ends inside a line is
 * an error whose data is that rest, as the official SDK treats it.
 */
export interface CozeStreamEvent {
  /** The event's name; null when it named none (a client reads it as "message"). */
  event: string | null;
  data: string;
}

const FIELD_LINE = /^(?:event|data|id|retry)?:/;

export class CozeStreamParser {
  private readonly decoder = new SseDecoder();

  /** The events completed by `chunk`. */
  push(chunk: string): CozeStreamEvent[] {
    // The decoder's events as they are: no copy of each with its name filled in.
    return this.decoder.push(chunk);
  }

  /** At the end of the body: the event it completes, or what was left unterminated, as an error event. */
  end(): CozeStreamEvent[] {
    const rest = this.decoder.pending.trim();
    if (rest !== "" && !FIELD_LINE.test(rest)) {
      this.decoder.push("\n");
      return [...this.decoder.end(), { event: "error", data: rest }];
    }
    return this.decoder.end();
  }
}

