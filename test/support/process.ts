import type { Subprocess } from "bun";
import { join } from "node:path";

/** `bun index.ts`: the service's command line from source. */
export const FROM_SOURCE = ["bun", join(import.meta.dir, "..", "..", "index.ts")];

/**
 * The service's command line as a child process, as a user runs it: one
 * helper for every test that does (startup errors, --demo, SIGHUP, check,
 * the binary), so that each reads its output the same way.
 */
export interface Child {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Resolves with everything printed once stdout contains `text`; rejects if the process ends first. */
  until(text: string): Promise<string>;
  /** Waits for the end (killing the process after `timeoutMs`): its exit code, stdout and stderr. */
  finished(timeoutMs?: number): Promise<{ code: number; out: string; err: string }>;
}

export function spawnCli(args: string[], options: { cwd: string; env: Record<string, string>; command?: string[] }): Child {
  const proc = Bun.spawn([...(options.command ?? FROM_SOURCE), ...args], { cwd: options.cwd, env: options.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  // Bun types getReader() with an extra readMany(); the plain reader interface is all this needs.
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const decoder = new TextDecoder();
  return {
    proc,
    async until(text) {
      const lines = (reader ??= proc.stdout.getReader() as ReadableStreamDefaultReader<Uint8Array>);
      while (!out.includes(text)) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the process ended before printing ${JSON.stringify(text)}; it printed: ${out}`);
        out += decoder.decode(value, { stream: true });
      }
      return out;
    },
    async finished(timeoutMs = 20_000) {
      const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
      if (reader) {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          out += decoder.decode(value, { stream: true });
        }
      } else out += await new Response(proc.stdout).text();
      const [code, err] = [await proc.exited, await new Response(proc.stderr).text()];
      clearTimeout(timer);
      return { code, out, err };
    },
  };
}
