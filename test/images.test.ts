/** Image generation and image input through the whole path, with the official openai SDK. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { promptPng } from "../lib/simulator/png.ts";
import { chatBody, json, readSse, startStack, type Stack } from "./harness.ts";

const IMAGE = "image-test";
const CHAT = "chat-test";
let stack: Stack;
let images: Bun.Server<unknown>;

beforeAll(async () => {
  stack = await startStack({
    entries: [
      { model: IMAGE, coze: 0 },
      { model: IMAGE, coze: 1 },
      { model: IMAGE, coze: 2 },
      { model: CHAT, coze: 3 },
    ],
    // The image server below is on loopback, as a homelab's would be: ALLOW_PRIVATE_IMAGE_URLS lets the
    // service fetch from it (test/image-safety.test.ts proves that without it, nothing private is reached).
    settings: { replyQuietMs: 400, allowPrivateImageUrls: true },
  });
  // A web server with an image on it, for image_url parts given as http URLs.
  images = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) =>
      new URL(req.url).pathname === "/cat.png" ? new Response(promptPng("a cat"), { headers: { "content-type": "image/png" } }) : new Response("no", { status: 404 }),
  });
});
afterAll(async () => {
  images.stop(true);
  await stack.stop();
});

const bytesAt = async (url: string) => new Uint8Array(await (await fetch(url)).arrayBuffer());
/** What the simulated Coze draws for a prompt: a PNG derived from the prompt text it received. */
const drawn = (postContent: string) => promptPng(postContent.replace(/<@!?\d+>/g, "").trim());
const lastPost = () => stack.sim.posts.at(-1)!;

describe("images/generations", () => {
  test("url: the service's own URL to the image Coze posted as an embed, with revised_prompt", async () => {
    for (const coze of stack.cozes.slice(0, 3)) stack.sim.script(coze, { text: "Here is your fox.", image: "embed" });
    const result = await stack.openai.images.generate({ model: IMAGE, prompt: "a red fox in the snow", size: "1024x1024", quality: "hd" });
    expect(result.data).toHaveLength(1);
    const [item] = result.data!;
    expect(item.url).toMatch(new RegExp(`^${stack.base}/images/[0-9a-f]{32}\\.png$`));
    expect(item.b64_json).toBeUndefined();
    expect(item.revised_prompt).toBe("Here is your fox.");
    expect(lastPost().content).toEndWith("a red fox in the snow\n(size 1024x1024, quality hd)");
    expect(await bytesAt(item.url!)).toEqual(drawn(lastPost().content));
    for (const coze of stack.cozes) coze.queue.length = 0;
  });

  test("b64_json: exactly the image's bytes, base64 without a data: prefix", async () => {
    for (const coze of stack.cozes.slice(0, 3)) stack.sim.script(coze, { image: "attachment", text: "done" });
    const result = await stack.openai.images.generate({ model: IMAGE, prompt: "a lighthouse", response_format: "b64_json" });
    const b64 = result.data![0].b64_json!;
    expect(b64).not.toStartWith("data:");
    expect(new Uint8Array(Buffer.from(b64, "base64"))).toEqual(drawn(lastPost().content));
    for (const coze of stack.cozes) coze.queue.length = 0;
  });

  test("an image given as a markdown link in the text is found too", async () => {
    for (const coze of stack.cozes.slice(0, 3)) stack.sim.script(coze, { image: "markdown", text: "Drawn:" });
    const result = await stack.openai.images.generate({ model: IMAGE, prompt: "a teapot" });
    expect(await bytesAt(result.data![0].url!)).toEqual(drawn(lastPost().content));
    expect(result.data![0].revised_prompt).toBe("Drawn:");
    for (const coze of stack.cozes) coze.queue.length = 0;
  });

  test("n = 3 is three requests spread over the model's three bots", async () => {
    for (const coze of stack.cozes.slice(0, 3)) stack.sim.script(coze, { image: "embed", text: "one of three" });
    const since = stack.sim.posts.length;
    const result = await stack.openai.images.generate({ model: IMAGE, prompt: "three moons", n: 3 });
    expect(result.data).toHaveLength(3);
    const posts = stack.sim.posts.slice(since);
    expect(new Set(posts.map((p) => stack.sim.parentOf(p.channelId))).size).toBe(3);
    expect(new Set(result.data!.map((d) => d.url)).size).toBe(3);
  });

  test("a reply without an image is a 502 naming what Coze said", async () => {
    for (const coze of stack.cozes.slice(0, 3)) stack.sim.script(coze, { text: "I cannot draw that, sorry." });
    const error = await stack.openai.images.generate({ model: IMAGE, prompt: "the impossible" }).catch((e: any) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(502);
    expect(error.code).toBe("no_image");
    expect(error.message).toContain("I cannot draw that, sorry.");
    for (const coze of stack.cozes) coze.queue.length = 0;
  });
});

describe("images in chat", () => {
  const chat = () => stack.cozes[3];

  test("a reply's image is appended as markdown, whole and streamed", async () => {
    stack.sim.script(chat(), { text: "A picture for you.", image: "embed" });
    const completion = await stack.openai.chat.completions.create({ model: CHAT, messages: [{ role: "user", content: "show me" }] });
    const content = completion.choices[0].message.content!;
    expect(content).toMatch(/^A picture for you\.\n\n!\[image\]\(http:\/\/127\.0\.0\.1:\d+\/images\/[0-9a-f]{32}\.png\)$/);

    stack.sim.script(chat(), { text: "Streamed picture.", image: "attachment" });
    const { events } = await readSse(await stack.fetch("/v1/chat/completions", { method: "POST", body: chatBody(CHAT, "show me", { stream: true }) }));
    const streamed = events.map((e) => e.choices[0]?.delta.content ?? "").join("");
    expect(streamed).toMatch(/^Streamed picture\.\n\n!\[image\]\(http:\/\/127\.0\.0\.1:\d+\/images\/[0-9a-f]{32}\.png\)$/);
  });

  test("image_url parts reach Coze as attachments of the prompt message, bytes intact (a loopback image with ALLOW_PRIVATE_IMAGE_URLS=true)", async () => {
    const png = promptPng("input image");
    stack.sim.script(chat(), { text: "I see two images." });
    const completion = await stack.openai.chat.completions.create({
      model: CHAT,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is in these?" },
            { type: "image_url", image_url: { url: `data:image/png;base64,${Buffer.from(png).toString("base64")}` } },
            { type: "image_url", image_url: { url: `http://127.0.0.1:${images.port}/cat.png` } },
          ],
        },
      ],
    });
    expect(completion.choices[0].message.content).toBe("I see two images.");
    const post = lastPost();
    expect(post.content).toBe(`<@${chat().user.id}> What is in these?`);
    expect(post.files.map((f) => [f.filename, f.contentType])).toEqual([
      ["image-1.png", "image/png"],
      ["image-2.png", "image/png"],
    ]);
    expect(new Uint8Array(post.files[0].data)).toEqual(png);
    expect(new Uint8Array(post.files[1].data)).toEqual(promptPng("a cat"));
  });

  test("an image post that meets a rate limit or a 5xx is sent again whole: the body can be read twice", async () => {
    const png = promptPng("sent twice");
    for (const status of [429, 500]) {
      stack.sim.failPosts(1, status);
      stack.sim.script(chat(), { text: "Got it." });
      const completion = await stack.openai.chat.completions.create({
        model: CHAT,
        messages: [{ role: "user", content: [{ type: "text", text: `again after ${status}` }, { type: "image_url", image_url: { url: `data:image/png;base64,${Buffer.from(png).toString("base64")}` } }] }],
      });
      expect(completion.choices[0].message.content).toBe("Got it.");
      expect(new Uint8Array(lastPost().files[0].data)).toEqual(png);
    }
  });

  test.each([
    ["a data: URI that is not base64", "data:image/png,rawbytes"],
    ["a data: URI that is not an image", `data:text/plain;base64,${btoa("hello")}`],
    ["an unreachable URL", "http://127.0.0.1:9/nothing.png"],
    ["a URL that answers 404", "IMAGES/missing.png"],
  ])("%s is a 400 naming the part", async (_name, url) => {
    const res = await stack.fetch("/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({
        model: CHAT,
        messages: [{ role: "user", content: [{ type: "text", text: "look" }, { type: "image_url", image_url: { url: url.replace("IMAGES", `http://127.0.0.1:${images.port}`) } }] }],
      }),
    });
    expect(res.status).toBe(400);
    const { error } = await json(res);
    expect(error.param).toBe("messages[0].content[1]");
    expect(error.type).toBe("invalid_request_error");
  });

  test("more images than Discord's attachment limit is a 400", async () => {
    const part = { type: "image_url", image_url: { url: `data:image/png;base64,${Buffer.from(promptPng("x")).toString("base64")}` } };
    const res = await stack.fetch("/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: CHAT, messages: [{ role: "user", content: Array.from({ length: 11 }, () => part) }] }),
    });
    expect(res.status).toBe(400);
    expect((await json(res)).error.param).toBe("messages[0].content[10]");
  });
});
