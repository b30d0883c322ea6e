/**
 * A real PostgreSQL server for tests: Debian's `postgresql` binaries (in
 * /usr/lib/postgresql/<version>/bin, not on PATH), a fresh cluster in a
 * temporary directory, started on a free 127.0.0.1 port and stopped after.
 * The server refuses to run as root, so as root it runs as `postgres` (its
 * directory owned by that user). Where no server binary is installed the
 * tests that need one skip with a one-line reason; with CI=true they fail.
 */
import type { Subprocess } from "bun";
import { SQL } from "bun";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

/**
 * Where Debian installs the server. TEST_POSTGRESQL_ROOT, read by this helper
 * alone, points it elsewhere: at a missing folder it plays a machine without
 * PostgreSQL, to check that the tests then skip.
 */
const ROOT = process.env.TEST_POSTGRESQL_ROOT || "/usr/lib/postgresql";

/** The newest installed server's bin directory, or why there is none. */
export function postgresBin(): { bin: string } | { missing: string } {
  const versions = existsSync(ROOT) ? readdirSync(ROOT).filter((v) => existsSync(join(ROOT, v, "bin", "postgres"))) : [];
  if (versions.length === 0) {
    const reason = `no PostgreSQL server in ${ROOT}/*/bin (apt-get install postgresql); the PostgreSQL store tests are skipped`;
    if (process.env.CI === "true") throw new Error(`${reason}, but CI=true requires them`);
    return { missing: reason };
  }
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return { bin: join(ROOT, newest, "bin") };
}

export interface PgServer {
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres */
  url: string;
  /** A new empty database on this server, and its URL. */
  database(name: string): Promise<string>;
  /** Stops the server (fast shutdown: sessions are ended, as a crash or a restart would). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  remove(): Promise<void>;
}

const asRoot = userInfo().uid === 0;
const run = (command: string[]) => (asRoot ? ["runuser", "-u", "postgres", "--", ...command] : command);
export const PG_PASSWORD = "test-secret-pw";

export async function startPostgres(bin: string): Promise<PgServer> {
  const dir = mkdtempSync(join(tmpdir(), "coze-pg-"));
  if (asRoot) chownSync(dir, Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim()), Number(Bun.spawnSync(["id", "-g", "postgres"]).stdout.toString().trim()));
  const data = join(dir, "data");
  const pwfile = join(dir, "pw");
  await Bun.write(pwfile, PG_PASSWORD);
  if (asRoot) chownSync(pwfile, Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim()), 0);
  const init = Bun.spawnSync(run([join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "scram-sha-256", `--pwfile=${pwfile}`, "--no-sync", "-E", "UTF8"]), { stderr: "pipe", stdout: "pipe" });
  if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);
  const port = await freePort();
  const url = `postgres://postgres:${PG_PASSWORD}@127.0.0.1:${port}/postgres`;
  let proc: Subprocess | undefined;
  const start = async () => {
    // Started twice, a second server would fail on the data directory's lock while the check below reached the
    // first, and stop() would then signal the wrong process and leave the first one running.
    if (proc && proc.exitCode === null) return;
    proc = Bun.spawn(
      run([join(bin, "postgres"), "-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=16MB"]),
      { stdout: "ignore", stderr: "ignore" },
    );
    for (let i = 0; ; i++) {
      const sql = new SQL(url, { max: 1, connectionTimeout: 1 });
      try {
        await sql`SELECT 1`;
        return;
      } catch (error) {
        if (i > 200 || proc.exitCode !== null) throw new Error(`the test PostgreSQL did not start: ${error}`);
        await Bun.sleep(50);
      } finally {
        await sql.close();
      }
    }
  };
  const stop = async () => {
    if (!proc || proc.exitCode !== null) return;
    // The server itself, not runuser in front of it (which does not pass SIGINT on): SIGINT is a fast shutdown.
    const pid = Number((await Bun.file(join(data, "postmaster.pid")).text()).split("\n")[0]);
    process.kill(pid, "SIGINT");
    await proc.exited;
  };
  await start();
  return {
    url,
    async database(name) {
      const sql = new SQL(url, { max: 1 });
      await sql.unsafe(`CREATE DATABASE "${name}"`);
      await sql.close();
      return url.replace(/\/postgres$/, `/${name}`);
    },
    stop,
    start,
    async remove() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * For a test file: the server's bin directory where one is installed (the
 * file's PostgreSQL tests then run), else `skip` with the reason printed
 * once for the run. Throws under CI=true when there is none (postgresBin does).
 */
export function postgresForTests(): { bin: string; skip: false } | { skip: true } {
  const found = postgresBin();
  if ("bin" in found) return { bin: found.bin, skip: false };
  // Once for the run, though several files ask (they share this module in one `bun test`).
  if (!warned) console.warn(`skipped: ${found.missing}`);
  warned = true;
  return { skip: true };
}
let warned = false;
