import { abortWhen } from "../abort-link.ts";
import type { ApiError } from "../openai/api-error.ts";
import { SSE_HEADERS, SSE_KEEPALIVE, sseData } from "../openai/sse.ts";

export interface DeferredSseOptions {
  /** How often a waiting stream sends `: keepalive`, once it is open. */
  keepaliveMs: number;
  /**
   * How long a stream with nothing to send waits before its first keepalive
   * opens it (REPLY_QUIET + 5 s): a failure known by then (Coze's error
   * texts and codes, a quota, a rate limit) still gets its HTTP status, and
   * the SDKs' retry rules apply to it. `keepaliveMs` when not given.
   */
  firstKeepaliveMs?: number;
  /** Bytes a client may leave unread before it is dropped: a reader that stopped must not grow the service's memory. */
  maxBacklogBytes: number;
  /** The request's own signal: the client left, or shutdown ended the request. */
  signal: AbortSignal;
  /** The bytes every stream opens with (the role chunk, `response.created`…). */
  opening: () => Uint8Array[];
  /** Called once, after the last event or when the client is gone. */
  onClose: () => void;
}

/**
 * An SSE response whose headers wait for its first event. Until then an
 * error is a plain HTTP error with its status (a 429 or a 504 keeps its
 * meaning for the SDKs); after it, errors are `data: {"error":…}` events and
 * the stream ends. The first keepalive (`firstKeepaliveMs`) opens the stream
 * too, so a long wait for Coze never looks dead. `signal` aborts when the
 * client cancels, drops, or stops reading.
 */
export class DeferredSse {
  readonly response: Promise<Response>;
  readonly signal: AbortSignal;
  private readonly resolve: (response: Response) => void;
  private readonly abort = new AbortController();
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private keepalive: Timer;
  private closed = false;

  constructor(private readonly options: DeferredSseOptions) {
    const { promise, resolve } = Promise.withResolvers<Response>();
    this.response = promise;
    this.resolve = resolve;
    abortWhen(options.signal, this.abort);
    this.signal = this.abort.signal;
    this.keepalive = setTimeout(() => {
      this.send(SSE_KEEPALIVE);
      if (!this.closed) this.keepalive = setInterval(() => this.send(SSE_KEEPALIVE), options.keepaliveMs);
    }, options.firstKeepaliveMs ?? options.keepaliveMs);
  }

  get opened(): boolean {
    return this.controller !== undefined;
  }

  send(bytes: Uint8Array): void {
    if (this.closed) return;
    if (!this.controller) this.open();
    const controller = this.controller!;
    controller.enqueue(bytes);
    if ((controller.desiredSize ?? 0) < -this.options.maxBacklogBytes) {
      // The client stopped reading: drop it rather than buffer the rest of the reply for nobody.
      this.closed = true;
      controller.error(new Error("the client stopped reading"));
      this.abort.abort(new DOMException("the client stopped reading", "AbortError"));
      this.finish();
    }
  }

  data(value: unknown): void {
    this.send(sseData(value));
  }

  /**
   * Ends the request with `error`: its HTTP status while nothing was sent;
   * after, the events `asEvents` makes (an OpenAI `data: {"error":…}` event
   * by default), then the end of the stream.
   */
  fail(error: ApiError, asEvents: () => Uint8Array[] = () => [sseData(error.toJSON())]): void {
    if (this.opened) for (const bytes of asEvents()) this.send(bytes);
    else if (!this.closed) this.resolve(error.response());
    this.close();
  }

  close(): void {
    if (this.closed) return this.finish();
    this.closed = true;
    this.controller?.close();
    this.finish();
  }

  private finish(): void {
    // One timer at a time: the first keepalive's timeout, then the interval (clearTimeout clears either).
    clearTimeout(this.keepalive);
    this.options.onClose();
  }

  private open(): void {
    const body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        cancel: () => {
          this.closed = true;
          this.abort.abort(new DOMException("the client closed the stream", "AbortError"));
          this.finish();
        },
      },
      { highWaterMark: 64 * 1024, size: (chunk) => chunk?.byteLength ?? 0 },
    );
    for (const bytes of this.options.opening()) this.controller!.enqueue(bytes);
    this.resolve(new Response(body, { headers: SSE_HEADERS }));
  }
}
