/**
 * A second process holding the service's SQLite database with BEGIN
 * IMMEDIATE (as a backup tool or a second instance would) for `ms`. It prints
 * "locked" once it holds the lock; a line "healthz" on its stdin notes that
 * the service answered /healthz meanwhile; on release it prints
 * "released healthz-first=<true|false>": the order of the two, seen by the
 * process that holds the lock (an ordering, not a timing).
 *
 * Usage: bun sqlite-locker.ts <database file> <ms>
 */
import { Database } from "bun:sqlite";

const [file, ms] = process.argv.slice(2);
const db = new Database(file);
db.run("PRAGMA busy_timeout = 5000");
db.run("BEGIN IMMEDIATE");
db.run("CREATE TABLE IF NOT EXISTS locker_probe (x INTEGER)");
db.run("INSERT INTO locker_probe (x) VALUES (1)");
let healthzFirst = false;
process.stdin.on("data", (chunk) => {
  if (String(chunk).includes("healthz")) healthzFirst = true;
});
console.log("locked");
setTimeout(() => {
  db.run("ROLLBACK");
  db.close();
  console.log(`released healthz-first=${healthzFirst}`);
  process.exit(0);
}, Number(ms));
