/**
 * `bun run build`: the one executable. The flags live here and nowhere else
 * (release, bench and the Dockerfile build through this file):
 *
 * - `--minify --sourcemap`: the sourcemap is embedded (readable stack
 *   traces) for +2 MiB; `--bytecode` would start faster but adds 5.3 MiB,
 *   over the size budget (README, "Performance").
 * - `--no-compile-autoload-dotenv --no-compile-autoload-bunfig`: the binary
 *   reads only the .env files the service loads itself, and no bunfig.toml.
 *
 * bun scripts/build.ts [--target=bun-linux-arm64] [--outfile PATH]
 */
import { rmSync } from "node:fs";
import { join } from "node:path";

export const COMPILE_FLAGS = ["--compile", "--minify", "--sourcemap", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"];
const ROOT = join(import.meta.dir, "..");

/** Builds the service into `outfile`; true on success. */
export function buildBinary(outfile: string, target?: string, output: "inherit" | "ignore" = "inherit"): boolean {
  const args = ["bun", "build", ...COMPILE_FLAGS, ...(target ? [`--target=${target}`] : []), join(ROOT, "index.ts"), "--outfile", outfile];
  const ok = Bun.spawnSync(args, { cwd: ROOT, stdout: output, stderr: "inherit" }).exitCode === 0;
  rmSync(`${outfile}.map`, { force: true }); // embedded in the binary; the file beside it is a leftover
  return ok;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const target = args.find((a) => a.startsWith("--target="))?.slice("--target=".length);
  const at = args.indexOf("--outfile");
  const outfile = at === -1 ? join(ROOT, "dist", "coze-chat-proxy") : args[at + 1];
  process.exit(buildBinary(outfile, target) ? 0 : 1);
}
