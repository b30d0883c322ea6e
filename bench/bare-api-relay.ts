/**
 * The API path's no-logic baseline: Bun.serve and fetch and nothing else.
 * For each POST it makes one streamed `/v3/chat` call to Coze's API with the
 * last message's text (an OpenAI body, `ping` when there is none) and reads it
 * chunk by chunk, as any relay that forwards an answer while it streams must.
 * It takes the answer out of the stream as its deltas come (the least any
 * relay of the answer does): asked to stream, it writes each delta's text as
 * an SSE event (the latency baseline); otherwise it answers the text in a
 * small JSON at the end (the throughput and CPU baseline). What the proxy
 * adds is its own logic; what this adds over a bare fetch loop is one HTTP
 * hop.
 *
 * bun bench/bare-api-relay.ts API_BASE TOKEN BOT_ID  (prints its port)
 */
import { answerDeltas } from "./answer-deltas.ts";

const [apiBase, token, botId] = process.argv.slice(2);
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
const encoder = new TextEncoder();
const chat = (content: string) =>
  fetch(`${apiBase}/v3/chat`, {
    method: "POST",
    headers,
    body: JSON.stringify({ bot_id: botId, user_id: "bench", stream: true, auto_save_history: true, additional_messages: [{ role: "user", type: "question", content, content_type: "text" }] }),
  });

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const { stream = false, messages = [] } = (await req.json()) as { stream?: boolean; messages?: { content: string }[] };
    const reader = (await chat(messages.at(-1)?.content ?? "ping")).body!.getReader();
    const decoder = new TextDecoder();
    if (!stream) {
      let content = "";
      const take = answerDeltas((delta) => (content += delta));
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        take(decoder.decode(value, { stream: true }));
      }
      return Response.json({ content });
    }
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        const take = answerDeltas((content) => controller.enqueue(encoder.encode(`data: ${JSON.stringify(content)}\n\n`)));
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          take(decoder.decode(value, { stream: true }));
        }
        controller.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  },
});
console.log(server.port);
