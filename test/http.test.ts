import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { json, KEY, SECOND_KEY, startStack, type Stack } from "./harness.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ entries: [{ model: "gpt-test" }, { model: "org/model-b" }], settings: { maxBodyBytes: 64 * 1024 } });
});
afterAll(() => stack.stop());

describe("models", () => {
  test("the SDK lists the configured models in OpenAI's shape", async () => {
    const models = [];
    for await (const model of stack.openai.models.list()) models.push(model);
    expect(models.map((m) => m.id)).toEqual(["gpt-test", "org/model-b"]);
    for (const m of models) {
      expect(m.object).toBe("model");
      expect(m.owned_by).toBe("coze");
      expect(typeof m.created).toBe("number");
    }
  });

  test("one model by id, slashes included", async () => {
    expect((await stack.openai.models.retrieve("org/model-b")).id).toBe("org/model-b");
    const res = await stack.fetch("/v1/models/gpt-test");
    expect(await json(res)).toMatchObject({ id: "gpt-test", object: "model" });
  });

  test("an unknown model is the SDK's NotFoundError with code model_not_found", async () => {
    const error = await stack.openai.models.retrieve("nope").catch((e: any) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error.code).toBe("model_not_found");
    const chat = await stack.openai.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "hi" }] }).catch((e: any) => e);
    expect(chat).toBeInstanceOf(OpenAI.NotFoundError);
    expect(chat.code).toBe("model_not_found");
    expect(chat.param).toBe("model");
  });
});

describe("auth", () => {
  const wrong = (authorization?: string) =>
    stack.fetch("/v1/models", { headers: authorization === undefined ? { authorization: "" } : { authorization } });

  test("a wrong key is the SDK's AuthenticationError", async () => {
    const client = new OpenAI({ baseURL: `${stack.base}/v1`, apiKey: "wrong", maxRetries: 0 });
    const error = await client.models.list().catch((e: any) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.code).toBe("invalid_api_key");
  });

  test.each([
    ["no header", ""],
    ["wrong scheme", `Basic ${KEY}`],
    ["no scheme", KEY],
    ["wrong key", "Bearer nope"],
    ["substring of a key", `Bearer ${KEY.slice(0, -1)}`],
    ["key with more after it", `Bearer ${KEY}x`],
    ["header that merely contains the key", `Bearer x${KEY}`],
    ["two keys in one header", `Bearer ${KEY},${SECOND_KEY}`],
    ["extra space", `Bearer  ${KEY}`],
  ])("refuses %s", async (_name, header) => {
    const res = await wrong(header);
    expect(res.status).toBe(401);
    expect((await json(res)).error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key" });
    expect(res.headers.get("x-should-retry")).toBe("false");
  });

  test("accepts every key of the list, and the scheme in any case", async () => {
    expect((await wrong(`Bearer ${KEY}`)).status).toBe(200);
    expect((await wrong(`Bearer ${SECOND_KEY}`)).status).toBe(200);
    expect((await wrong(`bearer ${SECOND_KEY}`)).status).toBe(200);
  });

  // Every keyed route of lib/routes/server.ts: one left out here could lose its key unnoticed.
  test("every keyed route refuses a wrong key", async () => {
    const keyed: [string, string][] = [
      ["GET", "/v1/models"],
      ["GET", "/v1/models/gpt-test"],
      ["POST", "/v1/chat/completions"],
      ["POST", "/v1/images/generations"],
      ["POST", "/v1/responses"],
      ["POST", "/v1/audio/speech"],
      ["POST", "/v1/audio/transcriptions"],
    ];
    for (const [method, path] of keyed) {
      const res = await stack.fetch(path, { method, body: method === "POST" ? "{}" : undefined, headers: { authorization: "Bearer nope" } });
      expect([path, res.status]).toEqual([path, 401]);
      expect((await json(res)).error.code).toBe("invalid_api_key");
    }
  });
});

describe("service routes", () => {
  test("/healthz, /readyz and / need no key", async () => {
    const health = await fetch(`${stack.base}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${stack.base}/readyz`);
    expect(ready.status).toBe(200);
    const body = await json(ready);
    expect(body.status).toBe("ready");
    expect(body.models.map((m: any) => [m.model, m.ready, m.entries[0].state])).toEqual([
      ["gpt-test", true, "ready"],
      ["org/model-b", true, "ready"],
    ]);
    const root = await json(await fetch(`${stack.base}/`));
    expect(root).toMatchObject({ name: "coze-chat-proxy", api: "/v1" });
    expect(root.models).toHaveLength(2);
  });

  test("without a key, /readyz and / show model names and states and nothing more; with it, the details", async () => {
    const open = await json(await fetch(`${stack.base}/readyz`));
    expect(open.models[0].entries[0]).toEqual({ state: "ready", resting: false });
    expect(JSON.stringify(await json(await fetch(`${stack.base}/`)))).not.toContain("in_flight");
    const keyed = await json(await stack.fetch("/readyz"));
    expect(keyed.models[0].entries[0]).toMatchObject({ index: 0, state: "ready", in_flight: 0, cooling_down_seconds: 0 });
    expect(await json(await stack.fetch("/"))).toHaveProperty("conversations");
  });

  test("CORS preflight on any path: 204 allowing the requested headers", async () => {
    for (const path of ["/v1/chat/completions", "/anything/else"]) {
      const res = await fetch(stack.base + path, {
        method: "OPTIONS",
        headers: { origin: "https://chat.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, x-stainless-os" },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("access-control-allow-headers")).toBe("authorization, x-stainless-os");
    }
    const res = await stack.fetch("/v1/models");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });

  test("unknown paths and methods answer OpenAI-shaped errors", async () => {
    const missing = await stack.fetch("/v1/nothing");
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe("unknown_url");
    const method = await stack.fetch("/v1/models", { method: "DELETE" });
    expect(method.status).toBe(405);
    expect((await json(method)).error.type).toBe("invalid_request_error");
  });

  test("X-Request-Id is echoed when sane and generated otherwise", async () => {
    const echoed = await stack.fetch("/v1/models", { headers: { "x-request-id": "abc-123" } });
    expect(echoed.headers.get("x-request-id")).toBe("abc-123");
    const generated = await stack.fetch("/v1/models", { headers: { "x-request-id": "bad id\twith spaces" } });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(stack.logs.some((l) => l.includes("request=abc-123") && l.includes("status=200") && l.includes("path=/v1/models"))).toBe(true);
  });
});

describe("request validation", () => {
  const post = (body: string, path = "/v1/chat/completions") => stack.fetch(path, { method: "POST", body });
  const expectBadRequest = async (res: Response, param: string | null) => {
    expect(res.status).toBe(400);
    expect(res.headers.get("x-should-retry")).toBe("false");
    const { error } = await json(res);
    expect(error.type).toBe("invalid_request_error");
    expect(error.param).toBe(param);
    expect(error.message.length).toBeGreaterThan(10);
  };

  test.each([
    ["not JSON", "{nope", null],
    ["empty body", "", null],
    ["an array", "[]", null],
    ["no model", JSON.stringify({ messages: [{ role: "user", content: "x" }] }), "model"],
    ["model not a string", JSON.stringify({ model: 3, messages: [{ role: "user", content: "x" }] }), "model"],
    ["no messages", JSON.stringify({ model: "gpt-test" }), "messages"],
    ["empty messages", JSON.stringify({ model: "gpt-test", messages: [] }), "messages"],
    ["bad role", JSON.stringify({ model: "gpt-test", messages: [{ role: "robot", content: "x" }] }), "messages[0].role"],
    ["content a number", JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: 5 }] }), "messages[0].content"],
    ["bad part type", JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: [{ type: "audio" }] }] }), "messages[0].content[0].type"],
    ["text part without text", JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: [{ type: "text" }] }] }), "messages[0].content[0].text"],
    ["image part with a bad url", JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "ftp://x" } }] }] }), "messages[0].content[0].image_url"],
    ["only blank text", JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: "  " }] }), "messages"],
    ["stream not boolean", JSON.stringify({ model: "gpt-test", stream: "yes", messages: [{ role: "user", content: "x" }] }), "stream"],
    ["include_usage not boolean", JSON.stringify({ model: "gpt-test", stream_options: { include_usage: 1 }, messages: [{ role: "user", content: "x" }] }), "stream_options.include_usage"],
    ["deeply nested", `{"model":"gpt-test","x":${"[".repeat(100)}${"]".repeat(100)}}`, null],
  ])("chat: %s is a 400 naming the field", async (_name, body, param) => {
    await expectBadRequest(await post(body), param);
  });

  test.each([
    ["no prompt", { model: "gpt-test" }, "prompt"],
    ["n zero", { model: "gpt-test", prompt: "x", n: 0 }, "n"],
    ["n fractional", { model: "gpt-test", prompt: "x", n: 1.5 }, "n"],
    ["n over the maximum", { model: "gpt-test", prompt: "x", n: 99 }, "n"],
    ["bad response_format", { model: "gpt-test", prompt: "x", response_format: "png" }, "response_format"],
    ["size not a string", { model: "gpt-test", prompt: "x", size: 1024 }, "size"],
  ])("images: %s is a 400 naming the field", async (_name, body, param) => {
    await expectBadRequest(await post(JSON.stringify(body), "/v1/images/generations"), param);
  });

  test("a body over the limit is a 413, declared or streamed", async () => {
    const big = JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: "x".repeat(70 * 1024) }] });
    const declared = await post(big);
    expect(declared.status).toBe(413);
    expect((await json(declared)).error.code).toBe("request_too_large");
    const chunked = await stack.fetch("/v1/chat/completions", {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(big));
          c.close();
        },
      }),
    });
    expect(chunked.status).toBe(413);
  });

  test("fields with no effect (temperature, top_p, user, seed…) are accepted", async () => {
    const res = await post(
      JSON.stringify({
        model: "gpt-test",
        messages: [{ role: "user", content: "hello", name: "me" }],
        temperature: 0.2,
        top_p: 1,
        user: "u1",
        logprobs: false,
        presence_penalty: 0,
        stream_options: null,
        seed: 4,
      }),
    );
    expect(res.status).toBe(200);
    expect((await json(res)).choices[0].message.content).toContain("You said: User (me): hello") // a name is kept, even on a lone message;
  });
});
