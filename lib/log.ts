/**
 * One-line logger with levels. Fields are rendered as `key=value` so a log
 * line stays greppable. Callers never pass tokens, API keys or prompt text
 * to anything above `debug`; this module does not try to guess secrets.
 */

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
type Fields = Record<string, string | number | boolean | undefined | null>;

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold = rank.info;

/**
 * Standard output, written once per turn of the event loop: one write per
 * request line would cost a system call each on the request path.
 */
let pending = "";
function flush(): void {
  if (pending === "") return;
  const text = pending;
  pending = "";
  process.stdout.write(text);
}
process.on("exit", flush);
const stdoutSink = (line: string) => {
  if (pending === "") setImmediate(flush);
  pending += line + "\n";
};
let sink: (line: string) => void = stdoutSink;

export function setLogLevel(level: LogLevel): void {
  threshold = rank[level];
}

/** Redirects log lines, for tests that read what a run logged. Returns the previous sink. */
export function setLogSink(next: (line: string) => void): (line: string) => void {
  const previous = sink;
  sink = next;
  return previous;
}

function render(value: string | number | boolean): string {
  // Numbers and booleans never need quotes; only strings are looked at.
  if (typeof value !== "string") return String(value);
  return value === "" || /[\s"=]/.test(value) ? JSON.stringify(value) : value;
}

const LABELS: Record<LogLevel, string> = { debug: "DEBUG", info: "INFO ", warn: "WARN ", error: "ERROR" };

/** The ISO time of the last line, reused within its millisecond: a busy service logs several lines per one. */
let stampMs = 0;
let stamp = "";
function now(): string {
  const ms = Date.now();
  if (ms !== stampMs) {
    stampMs = ms;
    stamp = new Date(ms).toISOString();
  }
  return stamp;
}

function write(level: LogLevel, message: string, fields?: Fields): void {
  if (rank[level] < threshold) return;
  let line = `${now()} ${LABELS[level]} ${message}`;
  if (fields) {
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined && value !== null) line += ` ${key}=${render(value)}`;
    }
  }
  sink(line);
}

export const log = {
  debug: (message: string, fields?: Fields) => write("debug", message, fields),
  info: (message: string, fields?: Fields) => write("info", message, fields),
  warn: (message: string, fields?: Fields) => write("warn", message, fields),
  error: (message: string, fields?: Fields) => write("error", message, fields),
};
