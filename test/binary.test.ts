/**
 * The compiled binary as users run it: alone in an empty directory, and
 * chrooted in a root filesystem holding only the binary and the shared
 * libraries `ldd` lists (what the Docker image's final stage adds to a
 * distroless glibc base). Builds with `bun run build`, the README's command.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import OpenAI from "openai";
import { freePort } from "./support/ports.ts";
import { buildScenario } from "../lib/simulator/scenario.ts";
import { DiscordSimulator } from "../lib/simulator/simulator.ts";
import { promptPng } from "../lib/simulator/png.ts";
import { VERSION } from "../lib/version.ts";

const ROOT = join(import.meta.dir, "..");
let binary: string;
let sim: DiscordSimulator;
let botJson: string;

beforeAll(() => {
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`bun run build failed: ${build.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), "coze-bin-"));
  binary = join(dir, "coze-chat-proxy");
  copyFileSync(join(ROOT, "dist", "coze-chat-proxy"), binary);
  Bun.spawnSync(["chmod", "+x", binary]);

  sim = new DiscordSimulator({ rateLimit: null }).start();
  const world = buildScenario(sim, { entries: [{ model: "chat", coze: 0 }, { model: "img", coze: 1 }] });
  world.cozes[1].behaviour = () => ({ text: "drawn", image: "attachment" });
  botJson = JSON.stringify(world.entries);
});
afterAll(() => sim.stop());


async function waitReady(base: string, proc: { exitCode: number | null }): Promise<void> {
  const deadline = performance.now() + 15_000;
  while ((await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) !== 200) {
    if (proc.exitCode !== null) throw new Error(`the binary exited with ${proc.exitCode}`);
    if (performance.now() > deadline) throw new Error("the binary did not become ready");
    await Bun.sleep(20);
  }
}

describe("the binary alone in an empty directory", () => {
  test("--version, --help, and --healthcheck without a running service", () => {
    const version = Bun.spawnSync([binary, "--version"], { cwd: tmpdir() });
    expect(version.stdout.toString().trim()).toBe(VERSION);
    expect(Bun.spawnSync([binary, "--help"]).stdout.toString()).toContain("--healthcheck");
    const port = String(1 + Math.floor(Math.random() * 1000) + 40000);
    expect(Bun.spawnSync([binary, "--healthcheck"], { env: { SERVER_PORT: port } }).exitCode).toBe(1);
  });

  test("serves chat, streams and b64_json images; reads .env beside itself, not bunfig.toml or .env.local", async () => {
    // The binary lives in one directory, runs in another that has no node_modules.
    const work = mkdtempSync(join(tmpdir(), "coze-bin-cwd-"));
    writeFileSync(join(work, "bot.json"), botJson);
    writeFileSync(join(dirname(binary), ".env"), "AUTH_TOKEN=key-from-dotenv-beside-binary\n");
    writeFileSync(join(work, ".env.local"), "AUTH_TOKEN=key-from-env-local\n");
    writeFileSync(join(work, "bunfig.toml"), 'preload = ["./preload.ts"]\n');
    writeFileSync(join(work, "preload.ts"), `require("node:fs").writeFileSync(${JSON.stringify(join(work, "preloaded"))}, "yes");\n`);
    expect(existsSync(join(work, "node_modules"))).toBe(false);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const proc = Bun.spawn([binary], {
      cwd: work,
      env: { SERVER_HOST: "127.0.0.1", SERVER_PORT: String(port), DISCORD_API_URL: sim.apiUrl, PATH: "/usr/bin:/bin" },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      await waitReady(base, proc);
      expect(existsSync(join(work, "preloaded"))).toBe(false);
      const refused = new OpenAI({ baseURL: `${base}/v1`, apiKey: "key-from-env-local", maxRetries: 0 });
      expect(await refused.models.list().catch((e: any) => e.status)).toBe(401);

      const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "key-from-dotenv-beside-binary", maxRetries: 0 });
      const whole = await client.chat.completions.create({ model: "chat", messages: [{ role: "user", content: "from the binary" }] });
      expect(whole.choices[0].message.content).toStartWith("You said: from the binary");
      let streamed = "";
      for await (const chunk of await client.chat.completions.create({ model: "chat", stream: true, messages: [{ role: "user", content: "stream" }] })) {
        streamed += chunk.choices[0]?.delta.content ?? "";
      }
      expect(streamed).toStartWith("You said: stream");
      const image = await client.images.generate({ model: "img", prompt: "a kite", response_format: "b64_json" });
      expect(new Uint8Array(Buffer.from(image.data![0].b64_json!, "base64"))).toEqual(promptPng("a kite"));

      expect(Bun.spawnSync([binary, "--healthcheck"], { env: { SERVER_PORT: String(port) } }).exitCode).toBe(0);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      proc.kill("SIGKILL");
      rmSync(join(dirname(binary), ".env"), { force: true });
    }
  });
});

/** Whether this machine lets us chroot and mount /proc (root, and not a sandbox that forbids them). */
function chrootProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "not running as root";
  if (!Bun.which("chroot") || !Bun.which("ldd")) return "chroot or ldd is missing";
  const probe = mkdtempSync(join(tmpdir(), "coze-chroot-probe-"));
  mkdirSync(join(probe, "proc"));
  const mounted = Bun.spawnSync(["mount", "-t", "proc", "proc", join(probe, "proc")]);
  if (mounted.exitCode !== 0) return `mounting /proc is not allowed here: ${mounted.stderr.toString().trim()}`;
  Bun.spawnSync(["umount", "-l", join(probe, "proc")]);
  return undefined;
}

describe("the image's root filesystem", () => {
  const problem = chrootProblem();
  if (problem) console.log(`chroot test skipped: ${problem}`);

  test.skipIf(problem !== undefined)("the binary plus exactly the libraries ldd lists answers /healthz and a demo chat, chrooted", async () => {
    const root = mkdtempSync(join(tmpdir(), "coze-rootfs-"));
    copyFileSync(binary, join(root, "coze-chat-proxy"));
    Bun.spawnSync(["chmod", "+x", join(root, "coze-chat-proxy")]);
    const libraries = [...Bun.spawnSync(["ldd", binary]).stdout.toString().matchAll(/(\/\S+)/g)].map((m) => m[1]);
    expect(libraries.some((l) => l.includes("libc.so"))).toBe(true);
    for (const library of libraries) {
      mkdirSync(join(root, dirname(library)), { recursive: true });
      copyFileSync(library, join(root, library));
    }
    // What a container runtime mounts into every container; the image itself holds none of it.
    mkdirSync(join(root, "proc"));
    expect(Bun.spawnSync(["mount", "-t", "proc", "proc", join(root, "proc")]).exitCode).toBe(0);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const chroot = Bun.which("chroot")!;
    const proc = Bun.spawn([chroot, root, "/coze-chat-proxy", "--demo"], {
      env: { SERVER_HOST: "127.0.0.1", SERVER_PORT: String(port), AUTH_TOKEN: "chroot-key" },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      await waitReady(base, proc);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "chroot-key", maxRetries: 0 });
      const reply = await client.chat.completions.create({ model: "coze-demo", messages: [{ role: "user", content: "inside the image" }] });
      expect(reply.choices[0].message.content).toStartWith("You said: inside the image");
      const check = Bun.spawnSync([chroot, root, "/coze-chat-proxy", "--healthcheck"], { env: { SERVER_PORT: String(port) } });
      expect(check.exitCode).toBe(0);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
      // Lazy: detaches at once even if the kernel still holds it a moment; never delete into a live /proc.
      Bun.spawnSync(["umount", "-l", join(root, "proc")]);
      const stillMounted = (await Bun.file("/proc/mounts").text()).includes(root);
      if (!stillMounted) rmSync(root, { recursive: true, force: true });
      expect(stillMounted).toBe(false);
    }
  });
});
