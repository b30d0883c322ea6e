/**
 * Prometheus text exposition, hand-written: a few counters, gauges and
 * histograms need no client library. Label values are escaped; nothing a
 * request holds is ever a label.
 */

type Labels = Record<string, string | number>;

const escape = (value: string | number) => String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labelText = (labels: Labels) => {
  const keys = Object.keys(labels);
  return keys.length === 0 ? "" : `{${keys.map((k) => `${k}="${escape(labels[k])}"`).join(",")}}`;
};

export class Counter {
  private readonly values = new Map<string, number>();
  /** Label values, one map level per label → rendered label text: counting on the request path builds no strings. */
  private readonly keys = new Map<unknown, unknown>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = this.key(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /** Every series as its rendered labels (`{kind="quota"}`) and count, for the status page. */
  series(): [string, number][] {
    return [...this.values];
  }


  private key(labels: Labels): string {
    let node = this.keys;
    for (const name in labels) {
      let next = node.get(labels[name]) as Map<unknown, unknown> | undefined;
      if (!next) node.set(labels[name], (next = new Map()));
      node = next;
    }
    let key = node.get(Counter.TEXT) as string | undefined;
    if (key === undefined) node.set(Counter.TEXT, (key = labelText(labels)));
    return key;
  }

  private static readonly TEXT = Symbol("label text");

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const [labels, value] of this.values) out += `${this.name}${labels} ${value}\n`;
    return out;
  }
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds in seconds, ascending. */
    readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]) this.counts[i]++;
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    this.buckets.forEach((le, i) => (out += `${this.name}_bucket{le="${le}"} ${this.counts[i]}\n`));
    out += `${this.name}_bucket{le="+Inf"} ${this.count}\n${this.name}_sum ${this.sum}\n${this.name}_count ${this.count}\n`;
    return out;
  }
}

/** A gauge whose samples are read when scraped. */
export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => { labels?: Labels; value: number }[],
  ) {}

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    for (const { labels, value } of this.read()) out += `${this.name}${labelText(labels ?? {})} ${value}\n`;
    return out;
  }
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];

/** One service's metrics; gauges that read live state are added by whoever owns that state. */
export class Metrics {
  readonly requests = new Counter("coze_proxy_requests_total", "HTTP requests by route and status.");
  readonly firstToken = new Histogram("coze_proxy_time_to_first_token_seconds", "From request to the first reply text Coze wrote.", LATENCY_BUCKETS);
  readonly reply = new Histogram("coze_proxy_reply_seconds", "From request to the complete reply.", LATENCY_BUCKETS);
  readonly cozeErrors = new Counter("coze_proxy_coze_errors_total", "Error replies from Coze by kind (quota, failure).");
  readonly discordRateLimits = new Counter("coze_proxy_discord_rate_limits_total", "Rate-limit waits Discord imposed on our calls (each waited out or given up).");
  readonly rateLimitedCalls = new Counter("coze_proxy_discord_rate_limited_calls_total", "Discord calls given up because the rate limit outlasted the request's start deadline.");
  readonly postFailures = new Counter("coze_proxy_discord_post_failures_total", "Discord calls (posts, threads) Discord refused or could not take, by status; rate limits not included.");
  readonly gauges: Gauge[] = [];

  render(): string {
    const all = [this.requests, this.firstToken, this.reply, this.cozeErrors, this.discordRateLimits, this.rateLimitedCalls, this.postFailures, ...this.gauges];
    return all.map((m) => m.render()).join("");
  }
}
