/** The one SSE decoder (service, tests and bench read streams with it), against the standard's rules as openai-node reads them. */
import { expect, test } from "bun:test";
import { decodeSse, SseDecoder } from "../lib/sse-decoder.ts";

const chunked = (text: string, size: number) => {
  const decoder = new SseDecoder();
  const events = [];
  for (let i = 0; i < text.length; i += size) events.push(...decoder.push(text.slice(i, i + size)));
  return [...events, ...decoder.end()];
};

test("a blank line dispatches; several data lines join with a newline; one space after the colon is dropped", () => {
  expect(decodeSse("event: a\ndata: one\ndata:  two\n\ndata:three\n\n")).toEqual([
    { event: "a", data: "one\n two" },
    { event: null, data: "three" },
  ]);
});

test("lines end with \\n, \\r\\n or a lone \\r, whatever the chunking, a \\r\\n split between chunks included", () => {
  const text = "event:x\r\ndata:1\r\n\r\nevent:y\rdata:2\r\rdata:3\n\n";
  const whole = decodeSse(text);
  expect(whole).toEqual([
    { event: "x", data: "1" },
    { event: "y", data: "2" },
    { event: null, data: "3" },
  ]);
  for (const size of [1, 2, 3, 5, 8]) expect(chunked(text, size)).toEqual(whole);
});

test("comments and unknown fields are no events; blank lines alone dispatch nothing", () => {
  expect(decodeSse(": keepalive\n\n\n\nfoo: bar\n\ndata: x\n\n")).toEqual([{ event: null, data: "x" }]);
});

test("an empty data line is an event with empty data (Coze Studio's last one); the end flushes an unterminated event", () => {
  expect(decodeSse("event:conversation.stream.done\ndata:\n\n")).toEqual([{ event: "conversation.stream.done", data: "" }]);
  expect(decodeSse('event:done\ndata:"[DONE]"')).toEqual([{ event: "done", data: '"[DONE]"' }]);
});
