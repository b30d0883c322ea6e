/**
 * `bun run release`: the release binaries for linux x64 and arm64, glibc and
 * musl, cross-compiled by this Bun (it fetches each target's runtime from the
 * npm registry), with a SHA256SUMS file beside them in dist/release/.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { VERSION } from "../lib/version.ts";
import { buildBinary } from "./build.ts";

const TARGETS = ["bun-linux-x64", "bun-linux-arm64", "bun-linux-x64-musl", "bun-linux-arm64-musl"];
const root = join(import.meta.dir, "..");
const out = join(root, "dist", "release");
mkdirSync(out, { recursive: true });

const sums: string[] = [];
for (const target of TARGETS) {
  const file = join(out, `coze-chat-proxy-${VERSION}-${target.replace(/^bun-/, "")}`);
  if (!buildBinary(file, target)) {
    console.error(`release: building ${target} failed`);
    process.exit(1);
  }
  const hash = new Bun.CryptoHasher("sha256").update(readFileSync(file)).digest("hex");
  sums.push(`${hash}  ${basename(file)}`);
  console.log(`${basename(file)}  ${hash}`);
}
writeFileSync(join(out, "SHA256SUMS"), sums.join("\n") + "\n");
console.log(`release: ${TARGETS.length} binaries and SHA256SUMS in ${out}`);
