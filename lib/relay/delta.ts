/**
 * What of a growing reply is new since the last chunk. Coze edits its reply
 * in place, so each edit carries the whole text so far; a chunk must carry
 * only what the client has not seen. When Coze rewrites instead of extending
 * (the new text does not start with what was sent), nothing of the rewrite
 * can be sent safely: what was sent stays, and only text that again extends
 * it goes out.
 */
export class DeltaTracker {
  /** The text the client has received so far. */
  sent = "";
  /** How many edits did not extend what was sent. */
  rewrites = 0;

  /** The new text to send for `full`; "" when there is nothing safe to send. */
  next(full: string): string {
    if (full.length > this.sent.length && full.startsWith(this.sent)) {
      const delta = full.slice(this.sent.length);
      this.sent = full;
      return delta;
    }
    if (!this.sent.startsWith(full)) this.rewrites++;
    return "";
  }
}
