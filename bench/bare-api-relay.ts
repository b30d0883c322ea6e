/**
 * The API path's no-logic baseline: Bun.serve and fetch and nothing else.
 * For each POST it makes one streamed `/v3/chat` call to Coze's API, reads
 * it to the end chunk by chunk (as any relay that forwards an answer while it
 * streams must) and answers with a small JSON. What the proxy adds over this
 * is its own logic; what this adds over a bare fetch loop is one HTTP hop.
 *
 * bun bench/bare-api-relay.ts API_BASE TOKEN BOT_ID  (prints its port)
 */
const [apiBase, token, botId] = process.argv.slice(2);
const body = JSON.stringify({ bot_id: botId, user_id: "bench", stream: true, auto_save_history: true, additional_messages: [{ role: "user", type: "question", content: "ping", content_type: "text" }] });
const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    await req.arrayBuffer();
    const reader = (await fetch(`${apiBase}/v3/chat`, { method: "POST", headers, body })).body!.getReader();
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
    }
    return Response.json({ ok: true, bytes });
  },
});
console.log(server.port);
