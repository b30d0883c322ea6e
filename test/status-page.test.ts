/**
 * The status page at `/`, rendered by a real headless browser (Debian's
 * chromium, which .ci/run installs; where none is, that one test is skipped
 * with a line saying so, unless CI=true, where it is required), and its login: without a key a browser
 * sees model names and states; with the key, the details. Other clients keep
 * getting JSON.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { json, KEY, SECOND_KEY, startStack, type Stack } from "./harness.ts";

const CHROMIUM = process.env.CHROMIUM ?? Bun.which("chromium") ?? Bun.which("chromium-browser");
/** CI installs chromium: there a missing browser fails the test instead of skipping it. */
const REQUIRED = process.env.CI === "true";
const browserTest = CHROMIUM || REQUIRED ? test : test.skip;
if (!CHROMIUM && !REQUIRED) console.warn("status page: browser test skipped, no chromium on PATH (apt-get install chromium; CI=true requires it)");
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
  browserTest("a browser sees the models and their entries' states, and nothing more without a key", async () => {
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
    const wrong = await fetch(`${stack.base}/login`, { method: "POST", headers: { origin: stack.base }, body: new URLSearchParams({ key: "not-a-key" }), redirect: "manual" });
    expect(wrong.status).toBe(303);
    expect(wrong.headers.get("location")).toBe("/?login-failed");
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const right = await fetch(`${stack.base}/login`, { method: "POST", headers: { origin: stack.base }, body: new URLSearchParams({ key: KEY }), redirect: "manual" });
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
    expect(JSON.stringify(await json(await fetch(`${stack.base}/readyz`, { headers: { cookie: `coze_chat_proxy_session=${"0".repeat(32)}` } })))).not.toContain("close 4014");
  });
});

/** Logs in as a browser on `origin` would; returns the response (303) and the cookie's `name=value`. */
async function logIn(base: string, key: string, headers: Record<string, string> = { origin: base }) {
  const response = await fetch(`${base}/login`, { method: "POST", headers, body: new URLSearchParams({ key }), redirect: "manual" });
  const setCookie = response.headers.get("set-cookie");
  return { response, setCookie, cookie: setCookie?.split(";")[0] };
}
/** Whether a cookie unlocks the details (an entry's problem in words shows only to a key or a live session). */
const unlocks = async (base: string, cookie: string) => JSON.stringify(await json(await fetch(`${base}/readyz`, { headers: { cookie } }))).includes("close 4014");

describe("status-page sessions", () => {
  test("each login is a new random session, never derived from the key; logout revokes it and only it", async () => {
    const first = await logIn(stack.base, KEY);
    const second = await logIn(stack.base, KEY);
    expect(first.cookie).toMatch(/^coze_chat_proxy_session=[0-9a-f]{32}$/);
    expect(second.cookie).not.toBe(first.cookie);
    // The old cookie was a digest of the key, computable offline: it opens nothing now.
    const derived = new Bun.CryptoHasher("sha256").update(`coze-chat-proxy session\u0000${KEY}`).digest("hex");
    expect(await unlocks(stack.base, `coze_chat_proxy_session=${derived}`)).toBe(false);
    expect(await unlocks(stack.base, first.cookie!)).toBe(true);
    const out = await fetch(`${stack.base}/logout`, { method: "POST", headers: { cookie: first.cookie! }, redirect: "manual" });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    // A copy of the cookie kept after logout is dead; the other login lives on.
    expect(await unlocks(stack.base, first.cookie!)).toBe(false);
    expect(await unlocks(stack.base, second.cookie!)).toBe(true);
  });

  test("a login from another origin, or with no origin at all, is refused and opens nothing", async () => {
    for (const headers of [{ origin: "http://evil.example" }, { referer: "http://evil.example/page" }, {} as Record<string, string>, { origin: "null" }]) {
      const { response, setCookie } = await logIn(stack.base, KEY, headers);
      expect([JSON.stringify(headers), response.status]).toEqual([JSON.stringify(headers), 403]);
      expect((await json(response)).error.code).toBe("cross_origin_login");
      expect(setCookie).toBeNull();
    }
    // A browser that sends no Origin but a Referer of the page itself is the page.
    expect((await logIn(stack.base, KEY, { referer: `${stack.base}/` })).response.status).toBe(303);
  });
});

describe("status-page sessions across restarts and proxies", () => {
  test("a session survives a restart; removing its key from AUTH_TOKEN revokes it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "coze-sessions-"));
    const first = await startStack({ dataDir, bots: 2, botOptions: [{}, { messageContentAllowed: false }], entries: [{ model: "gpt-test", bot: 0 }, { model: "gpt-test", bot: 1, coze: 1 }] });
    const kept = (await logIn(first.base, KEY)).cookie!;
    const removed = (await logIn(first.base, SECOND_KEY)).cookie!;
    await first.stop();
    const second = await startStack({ dataDir, bots: 2, botOptions: [{}, { messageContentAllowed: false }], entries: [{ model: "gpt-test", bot: 0 }, { model: "gpt-test", bot: 1, coze: 1 }], settings: { authTokens: [KEY] } });
    try {
      expect(await unlocks(second.base, kept)).toBe(true);
      expect(await unlocks(second.base, removed)).toBe(false);
    } finally {
      await second.stop();
    }
  });

  test("behind a TLS proxy: Secure and the origin per X-Forwarded-* only with TRUST_PROXY; PUBLIC_URL's origin wins", async () => {
    const forwarded = { "x-forwarded-proto": "https", "x-forwarded-host": "status.example.net", origin: "https://status.example.net" };
    const trusted = await startStack({ settings: { trustProxy: true } });
    const untrusted = await startStack();
    const behindPublicUrl = await startStack({ settings: { publicUrl: "https://ai.example.net/proxy" } });
    try {
      const viaProxy = await logIn(trusted.base, KEY, forwarded);
      expect(viaProxy.response.status).toBe(303);
      expect(viaProxy.setCookie).toEndWith("; Secure");
      // Direct to a trusting service, a plain http login is not Secure.
      expect((await logIn(trusted.base, KEY)).setCookie).not.toContain("Secure");
      // Without TRUST_PROXY anyone could send those headers: they change nothing, and that Origin is foreign.
      expect((await logIn(untrusted.base, KEY, forwarded)).response.status).toBe(403);
      // With PUBLIC_URL, only its origin may log in, and the cookie is Secure.
      expect((await logIn(behindPublicUrl.base, KEY)).response.status).toBe(403);
      const viaPublic = await logIn(behindPublicUrl.base, KEY, { origin: "https://ai.example.net" });
      expect(viaPublic.response.status).toBe(303);
      expect(viaPublic.setCookie).toEndWith("; Secure");
    } finally {
      await Promise.all([trusted.stop(), untrusted.stop(), behindPublicUrl.stop()]);
    }
  });
});
