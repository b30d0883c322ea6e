import { log } from "../log.ts";
import type { UpstreamFailure } from "../pool/failure.ts";

/**
 * Logs a failed try on an entry at warn. Coze's own error text (up to a few
 * hundred characters) may be the user's prompt, which a prompt can make Coze
 * echo as its quota text: above debug only its kind and length are logged,
 * the text itself at debug. The service's own words (a refused connection, a
 * timeout) carry no prompt and are logged as they are.
 */
export function logFailure(message: string, fields: { request: string; entry: number }, error: UpstreamFailure): void {
  if (!error.fromCoze) {
    log.warn(message, { ...fields, kind: error.kind, error: error.message });
    return;
  }
  log.warn(message, { ...fields, kind: error.kind, length: error.message.length });
  log.debug("coze's error text", { ...fields, error: error.message });
}
