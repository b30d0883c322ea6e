/**
 * The streamed multipart body (lib/multipart-body.ts): what a standard
 * multipart parser reads back from it, its declared size, and that it can be
 * read twice (a retry after a rate limit sends it again).
 */
import { expect, test } from "bun:test";
import { MultipartBody } from "../lib/multipart-body.ts";

const read = async (body: MultipartBody) => {
  const pieces: Uint8Array[] = [];
  for await (const piece of body) pieces.push(piece);
  return Buffer.concat(pieces);
};

test("a standard parser reads back the field and the files, bytes intact; the size is the bytes'; it reads twice alike", async () => {
  const big = new Uint8Array(700_000).map((_, i) => i % 251);
  const body = new MultipartBody([{ name: "payload_json", value: '{"content":"hi \\"there\\""}', contentType: "application/json" }], [
    { field: "files[0]", name: "a.png", data: big, contentType: "image/png" },
    { field: "files[1]", name: 'we"ird\r\n.png', data: new Uint8Array([1, 2, 3]), contentType: "image/gif" },
  ]);
  const first = await read(body);
  expect(first.byteLength).toBe(body.size);
  expect((await read(body)).equals(first)).toBe(true);
  const form = await new Response(first, { headers: { "content-type": body.contentType } }).formData();
  expect(form.get("payload_json")).toBe('{"content":"hi \\"there\\""}');
  const a = form.get("files[0]") as File;
  expect([a.name, a.type]).toEqual(["a.png", "image/png"]);
  expect(new Uint8Array(await a.arrayBuffer())).toEqual(big);
  const b = form.get("files[1]") as File;
  expect(b.name).toBe("we_ird__.png");
  expect(new Uint8Array(await b.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
});
