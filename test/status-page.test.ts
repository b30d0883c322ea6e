/**
 * The status page at `/`, rendered by a real headless browser (Debian's
 * chromium, which .ci/run installs), and its login: without a key a browser
 * sees model names and states; with the key, the details. Other clients keep
 * getting JSON.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { json, KEY, startStack, type Stack } from "./harness.ts";

const CHROMIUM = process.env.CHROMIUM ?? Bun.which("chromium") ?? Bun.which("chromium-browser");
let stack: Stack;
beforeAll(async () => {
  // Two entries of one model; the second's bot is refused the MessageContent intent, so it is down with a problem.
  stack = await startStack({ bots: 2, botOptions: [{}, { messageContentAllowed: false }], entries: [{ model: "gpt-test", bot: 0 }, { model: "gpt-test", bot: 1, coze: 1 }] });
});
afterAll(() => stack.stop());

/** The page as headless Chromium renders it (its DOM after loading). Asynchronous: the service answers from this process. */
async function render(url: string): Promise<string> {
  if (!CHROMIUM) throw new Error("chromium is not installed: .ci/run installs Debian's chromium; locally, apt-get install chromium");
  const profile = mkdtempSync(join(tmpdir(), "coze-chromium-"));
  const run = Bun.spawn([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", `--user-data-dir=${profile}`, "--dump-dom", url], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: 30_000,
  });
  const [code, dom, err] = [await run.exited, await new Response(run.stdout).text(), await new Response(run.stderr).text()];
  if (code !== 0) throw new Error(`chromium failed: ${err.slice(0, 500)}`);
  return dom;
}

describe("the status page", () => {
  test("a browser sees the models and their entries' states, and nothing more without a key", async () => {
    const dom = await render(`${stack.base}/`);
    expect(dom).toContain("<title>coze-chat-proxy: ready</title>");
    expect(dom).toMatch(/<tr class="ready"><td>gpt-test<\/td><td>connected<\/td>/);
    expect(dom).toMatch(/<tr class="down"><td>gpt-test<\/td><td>down<\/td>/);
    expect(dom).toContain("Set-up checklist");
    expect(dom).toContain('action="/login"');
    expect(dom).not.toContain("close 4014"); // the problem in words needs the key
    expect(dom).not.toContain(stack.entries[0].bot_token);
  });

  test("other clients keep getting JSON", async () => {
    const body = await json(await fetch(`${stack.base}/`));
    expect(body).toMatchObject({ name: "coze-chat-proxy", api: "/v1" });
    expect((await fetch(`${stack.base}/`, { headers: { accept: "application/json" } })).headers.get("content-type")).toStartWith("application/json");
  });

  test("the login form sets a session cookie that shows the details; a wrong key does not", async () => {
    const wrong = await fetch(`${stack.base}/login`, { method: "POST", body: new URLSearchParams({ key: "not-a-key" }), redirect: "manual" });
    expect(wrong.status).toBe(303);
    expect(wrong.headers.get("location")).toBe("/?login-failed");
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const right = await fetch(`${stack.base}/login`, { method: "POST", body: new URLSearchParams({ key: KEY }), redirect: "manual" });
    expect(right.status).toBe(303);
    const cookie = right.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
    expect(cookie).not.toContain(KEY);
    const page = await (await fetch(`${stack.base}/`, { headers: { accept: "text/html", cookie: cookie.split(";")[0] } })).text();
    expect(page).toContain("MessageContent intent (close 4014)");
    expect(page).toContain('id="conversations"');
    expect(page).toContain('action="/logout"');
    // The same cookie unlocks /readyz's details; a forged one does not.
    expect(JSON.stringify(await json(await fetch(`${stack.base}/readyz`, { headers: { cookie: cookie.split(";")[0] } })))).toContain("close 4014");
    expect(JSON.stringify(await json(await fetch(`${stack.base}/readyz`, { headers: { cookie: `coze_chat_proxy_session=${"0".repeat(64)}` } })))).not.toContain("close 4014");
  });
});
