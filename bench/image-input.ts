/** Image input: many requests with large images at once, bounded by IMAGE_INPUT_MEMORY. */
import { MODEL, headers, results, rows, rssMb, sim, startService, world } from "./setup.ts";

/**
 * Memory for one chat request carrying ten 9.9 MiB images (Discord's limit of
 * attachments, just under the 10 MiB rule), fetched from an image server on
 * loopback (ALLOW_PRIVATE_IMAGE_URLS) and uploaded to Discord: the service's
 * peak RSS over its idle RSS, against the images' own 99 MiB.
 */
export async function measureImageInput(command: string[]) {
  const image = new Uint8Array(Math.floor(9.9 * 1024 * 1024));
  image.set([0x89, 0x50, 0x4e, 0x47]);
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(image, { headers: { "content-type": "image/png" } }) });
  const w = world(1, 1);
  for (const coze of w.cozes) coze.behaviour = () => ({ text: "I see ten images.", steps: 1, firstDelayMs: 0 });
  const service = await startService(command, w.entries, sim, { ALLOW_PRIVATE_IMAGE_URLS: "true", MAX_BODY_SIZE: String(1 << 20) });
  await Bun.sleep(500);
  const idle = rssMb(service.pid);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(service.pid))), 5);
  const parts = Array.from({ length: 10 }, (_, i) => ({ type: "image_url", image_url: { url: `http://127.0.0.1:${server.port}/image-${i}.png` } }));
  const res = await fetch(`${service.base}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: [{ type: "text", text: "look" }, ...parts] }] }) });
  const status = res.status;
  await res.arrayBuffer();
  clearInterval(sampler);
  await service.stop();
  server.stop(true);
  const images = (10 * image.byteLength) / 1048576;
  results.image_input = { status, idle_rss_mb: idle, peak_rss_mb: peak, images_mb: images };
  rows.push({
    figure: "RSS for one request with ten 9.9 MiB images",
    value: peak - idle,
    unit: "MB",
    budget: `near ${images.toFixed(0)} MB (< 1.5×)`,
    holds: status === 200 && peak - idle < 1.5 * images,
    detail: `peak ${peak.toFixed(0)} MB over ${idle.toFixed(0)} MB idle; ${status === 200 ? "answered" : `status ${status}`}`,
  });
}
