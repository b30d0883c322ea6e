import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * Parses `.env` text: `KEY=value` lines, `export` prefixes, `#` comments,
 * single or double quotes (double quotes understand `\n`).
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2];
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.lastIndexOf(quote) > 0) {
      value = value.slice(1, value.lastIndexOf(quote));
      if (quote === '"') value = value.replace(/\\n/g, "\n");
    } else {
      value = value.replace(/\s+#.*$/, "").trim();
    }
    out[match[1]] = value;
  }
  return out;
}

/**
 * The environment the service reads: the process environment wins over
 * `.env` in the working directory, which wins over `.env` beside the
 * executable (the compiled binary, or `index.ts` when run from source).
 */
export function loadEnvironment(env: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = {};
  const places = [join(process.cwd(), ".env"), join(executableDir(), ".env")];
  for (const file of places.reverse()) {
    if (existsSync(file)) Object.assign(merged, parseDotenv(readFileSync(file, "utf8")));
  }
  for (const key in env) if (env[key] !== undefined) merged[key] = env[key];
  return merged;
}

/** Where the running program lives: beside the compiled binary, or beside `index.ts`. */
export function executableDir(): string {
  return Bun.main.startsWith("/$bunfs/") || Bun.main.includes("~BUN") ? dirname(process.execPath) : dirname(Bun.main);
}
