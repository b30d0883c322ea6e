/**
 * Makes `controller` abort, with the same reason, when `source` does, and
 * returns what undoes the link. One controller and one listener cost half of
 * what `AbortSignal.any` does, which a request would otherwise pay at every
 * layer that adds reasons of its own to stop (a timer, a shutdown).
 */
export function abortWhen(source: AbortSignal, controller: AbortController): () => void {
  const follow = () => controller.abort(source.reason);
  if (source.aborted) {
    follow();
    return () => {};
  }
  source.addEventListener("abort", follow, { once: true });
  return () => source.removeEventListener("abort", follow);
}
