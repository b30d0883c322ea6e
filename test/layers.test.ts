/**
 * Folders are layers (README, "Development"): a folder imports only from the
 * folders below it, discord.js only from lib/discord/, and the simulator
 * nothing outside its own folder. This reads every import of lib/ and fails
 * on an edge that points the wrong way, or on a cycle between files.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const LIB = join(import.meta.dir, "..", "lib");

/** What each layer may import, besides itself. Lower layers come first. */
const MAY_IMPORT: Record<string, string[]> = {
  "lib": ["openai"], // log, metrics, version, read-limited, turns, reply-clock, sse-decoder, markdown-images
  "config": ["lib"],
  "audio": [], // audio containers and text, pure
  "openai": ["lib"],
  "store": ["config", "lib"],
  // The pool and the seam every backend implements: they know no backend.
  "pool": ["config", "openai", "lib"],
  // The backends: siblings under the relay, neither imports the other.
  "coze-api": ["pool", "config", "openai", "audio", "lib"],
  "discord": ["pool", "config", "openai", "lib"],
  // The registry of kinds, the one file that names every backend.
  "backends": ["discord", "coze-api", "pool"],
  "relay": ["pool", "store", "openai", "config", "lib"],
  // Image input, the one downloader, and keeping reply images: beside the relay, which never needs them.
  "images": ["pool", "store", "openai", "lib"],
  "http": ["openai", "config", "lib"],
  "routes": ["http", "relay", "images", "pool", "store", "openai", "config", "lib", "coze-api"], // coze-api: audio, which is no chat
  "check": ["backends", "pool", "config", "lib", "coze-api"], // coze-api: what a workspace entry stands for
  "app": ["routes", "http", "relay", "images", "pool", "backends", "store", "openai", "config", "lib", "coze-api"], // coze-api: the bots a workspace entry stands for
  "demo": ["simulator", "config", "lib"], // --demo starts the simulator in-process
  "simulator": [],
};
/** Files at the top of lib/ that compose the layers rather than sit at the bottom. */
const COMPOSITION: Record<string, string> = { "app.ts": "app", "demo.ts": "demo", "backends.ts": "backends" };
/** Files outside lib/ that lib/ may read. */
const OUTSIDE = new Set([join(LIB, "..", "package.json")]);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : []));
}

function layerOf(file: string): string {
  const rel = relative(LIB, file);
  if (!rel.includes("/")) return COMPOSITION[rel] ?? "lib";
  return rel.split("/")[0];
}

/** Every import of a file: [specifier, resolved path or undefined for a package]. */
export function importsOf(file: string, text = readFileSync(file, "utf8")): { spec: string; path: string | undefined; typeOnly: boolean }[] {
  const found: { spec: string; path: string | undefined; typeOnly: boolean }[] = [];
  const pattern = /(?:^|\n)\s*((?:import|export)\s[^;]*?)from\s+"([^"]+)"|(?:^|\n)\s*import\s+"([^"]+)"|require\("([^"]+)"\)|import\("([^"]+)"\)/g;
  for (const match of text.matchAll(pattern)) {
    const spec = match[2] ?? match[3] ?? match[4] ?? match[5];
    const typeOnly = match[1] !== undefined && /^(?:import|export)\s+type\s/.test(match[1]);
    found.push({ spec, path: spec.startsWith(".") ? resolve(dirname(file), spec) : undefined, typeOnly });
  }
  return found;
}

export function violations(all = files(LIB), read = (f: string) => readFileSync(f, "utf8")): string[] {
  const problems: string[] = [];
  for (const file of all) {
    const from = layerOf(file);
    for (const { spec, path } of importsOf(file, read(file))) {
      const where = `${relative(LIB, file)} imports ${spec}`;
      if (path === undefined) {
        if (/^discord\.js$|^@discordjs\//.test(spec) && from !== "discord") problems.push(`${where}: only lib/discord/ may use discord.js`);
        continue;
      }
      if (OUTSIDE.has(path)) continue;
      if (!path.startsWith(LIB + "/")) {
        problems.push(`${where}: outside lib/`);
        continue;
      }
      const to = layerOf(path);
      if (to === from) continue;
      if (!MAY_IMPORT[from]?.includes(to)) problems.push(`${where}: ${from}/ may not import ${to}/`);
    }
  }
  return problems;
}

function cycles(all: string[], read = (f: string) => readFileSync(f, "utf8")): string[][] {
  // Type imports too: a type that two files need from each other belongs in a third, which both import.
  const graph = new Map(all.map((f) => [f, importsOf(f, read(f)).flatMap((i) => (i.path && all.includes(i.path) ? [i.path] : []))]));
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (file: string, trail: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      found.push(trail.slice(trail.indexOf(file)).map((f) => relative(LIB, f)));
      return;
    }
    state.set(file, "open");
    for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
    state.set(file, "done");
  };
  for (const file of all) visit(file, []);
  return found;
}

test("every import of lib/ points down the layers", () => {
  expect(violations()).toEqual([]);
});

test("the rule catches a planted backwards import", () => {
  const all = files(LIB);
  const planted = join(LIB, "pool", "pool.ts");
  const read = (f: string) => (f === planted ? `import { relay } from "../relay/relay.ts";\n` + readFileSync(f, "utf8") : readFileSync(f, "utf8"));
  expect(violations(all, read)).toEqual(["pool/pool.ts imports ../relay/relay.ts: pool/ may not import relay/"]);
});

test("the two backends are siblings: a planted import of one by the other is caught, type-only too", () => {
  const all = files(LIB);
  const planted = join(LIB, "discord", "attempt.ts");
  const read = (f: string) => (f === planted ? `import type { CozeApiClient } from "../coze-api/client.ts";\n` + readFileSync(f, "utf8") : readFileSync(f, "utf8"));
  expect(violations(all, read)).toEqual(["discord/attempt.ts imports ../coze-api/client.ts: discord/ may not import coze-api/"]);
});

test("no file of lib/, the simulator's included, imports itself in a cycle, type imports included", () => {
  expect(cycles(files(LIB))).toEqual([]);
});

test("the cycle rule catches a planted type-only import back into the simulator's hub", () => {
  const all = files(LIB);
  const planted = join(LIB, "simulator", "messages.ts");
  const read = (f: string) => (f === planted ? `import type { DiscordSimulator } from "./simulator.ts";\n` + readFileSync(f, "utf8") : readFileSync(f, "utf8"));
  expect(cycles(all, read).map((cycle) => cycle.toSorted())).toEqual([["simulator/messages.ts", "simulator/simulator.ts"]]);
});
