/**
 * The deferred SSE stream behind a real Bun.serve: headers wait for the first
 * event, an early error keeps its HTTP status, and a client that stops
 * reading is dropped once its backlog passes the bound (a Coze reply is far
 * too small to show that through the relay: the kernel buffers megabytes).
 */
import { expect, test } from "bun:test";
import { connect } from "node:net";
import { DeferredSse } from "../lib/http/deferred-sse.ts";
import { upstreamError } from "../lib/openai/api-error.ts";

function serve(make: (signal: AbortSignal) => DeferredSse) {
  let sse: DeferredSse | undefined;
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (sse = make(req.signal)).response });
  return { server, get sse() { return sse!; } };
}

test("an error before the first event is a plain HTTP error with its status", async () => {
  const { server } = serve((signal) => {
    const s = new DeferredSse({ keepaliveMs: 60_000, maxBacklogBytes: 1 << 20, signal, opening: () => [], onClose: () => {} });
    queueMicrotask(() => s.fail(upstreamError("Coze said no", "coze_error")));
    return s;
  });
  const response = await fetch(`http://127.0.0.1:${server.port}/`);
  expect(response.status).toBe(502);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe("coze_error");
  server.stop(true);
});

test("nothing is sent before the first keepalive's time; then keepalives at their pace", async () => {
  const { server } = serve((signal) => new DeferredSse({ keepaliveMs: 100, firstKeepaliveMs: 400, maxBacklogBytes: 1 << 20, signal, opening: () => [new TextEncoder().encode("data: opened\n\n")], onClose: () => {} }));
  const started = performance.now();
  const response = await fetch(`http://127.0.0.1:${server.port}/`);
  const headersAfter = performance.now() - started;
  expect(headersAfter).toBeGreaterThanOrEqual(380);
  const reader = response.body!.getReader();
  let text = "";
  while (text.split(": keepalive").length < 4) text += new TextDecoder().decode((await reader.read()).value);
  // The opening, then the first keepalive, then two more about 100 ms apart: well before another 400 ms.
  expect(text).toStartWith("data: opened\n\n: keepalive");
  expect(performance.now() - started - headersAfter).toBeLessThan(380);
  await reader.cancel();
  server.stop(true);
});

test("a client that stops reading is dropped once its backlog passes the bound", async () => {
  let closed = 0;
  const served = serve((signal) => new DeferredSse({ keepaliveMs: 60_000, maxBacklogBytes: 256 * 1024, signal, opening: () => [], onClose: () => closed++ }));
  const socket = connect(served.server.port!, "127.0.0.1");
  socket.write("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
  socket.pause(); // reads nothing from now on
  for (let i = 0; i < 100 && !served.sse; i++) await Bun.sleep(10);
  const chunk = new Uint8Array(64 * 1024).fill(97);
  let sent = 0;
  while (!served.sse.signal.aborted && sent < 256 * 1024 * 1024) {
    served.sse.send(chunk);
    sent += chunk.byteLength;
    if (sent % (4 * 1024 * 1024) === 0) await Bun.sleep(5); // let the socket fill
  }
  expect(served.sse.signal.aborted).toBe(true);
  expect(closed).toBe(1);
  // Dropped after the kernel's buffers and the bound, long before the 256 MiB this test would send.
  expect(sent).toBeLessThan(64 * 1024 * 1024);
  socket.destroy();
  served.server.stop(true);
});
