import type { AppContext } from "./context.ts";

/**
 * `GET /` for a browser: a small page a person can act on. Rendered on the
 * server, no script, no external asset (it works offline and behind any
 * proxy), and it refreshes itself. Without a key it shows model names and
 * states and nothing more; with one (the login form sets a cookie, or an
 * Authorization header) entry details, problems in words, conversations and
 * recent errors by kind. Never a prompt, token or key.
 */
export function statusPage(ctx: AppContext, authorized: boolean, loginFailed: boolean, conversations?: number): string {
  const models = ctx.pool.status();
  const ready = models.every((m) => m.ready);
  const uptime = Math.floor(Date.now() / 1000) - ctx.startedAt;
  const now = Date.now();
  const rows = models.flatMap(({ model, entries }) =>
    entries.map((e) => {
      const suspect = e.reason?.startsWith("suspect") ? "suspect: a probe checks Coze's quota" : "";
      const resting = e.cooling_down_seconds > 0 ? `resting until ${new Date(now + e.cooling_down_seconds * 1000).toISOString().slice(11, 19)} UTC` : suspect;
      const cells = [model, e.state === "ready" ? "connected" : e.state, resting];
      if (authorized) cells.push(String(e.index), e.via === "api" ? "Coze API" : "Discord", String(e.in_flight), e.problem ?? ("shared_context" in e ? String(e.shared_context) : ""));
      return `<tr class="${e.state}">${cells.map((c) => `<td>${escape(c)}</td>`).join("")}</tr>`;
    }),
  );
  const head = ["model", "state", "rest"].concat(authorized ? ["entry", "via", "in flight", "problem"] : []);
  const errors = authorized ? recentErrors(ctx) : [];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10"><title>coze-chat-proxy: ${ready ? "ready" : "not ready"}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}
.ready td:nth-child(2){color:#176b2c}.down td:nth-child(2),.reconnecting td:nth-child(2),.connecting td:nth-child(2){color:#a4161a}
.badge{padding:.1rem .5rem;border-radius:.3rem;background:${ready ? "#d8f3dc" : "#ffd6d6"}}small{color:#666}form{margin:1rem 0}
</style></head><body>
<h1>coze-chat-proxy <small>${escape(ctx.version)}</small> <span class="badge" id="readiness">${ready ? "ready" : "not ready"}</span></h1>
<p>Up for ${formatDuration(uptime)}. OpenAI base URL: <code>/v1</code>.${authorized ? ` Conversations remembered: <b id="conversations">${conversations ?? "unknown"}</b>.` : ""}</p>
${storeLine(ctx, authorized)}
<table id="entries"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>
${authorized ? `<h2>Recent errors</h2>${errors.length === 0 ? "<p>None since the service started.</p>" : `<table id="errors">${errors.map(([kind, n]) => `<tr><td>${escape(kind)}</td><td>${n}</td></tr>`).join("")}</table>`}
<form method="post" action="/logout"><button>Log out</button></form>` : `<form method="post" action="/login"><label>API key for the details <input type="password" name="key" autocomplete="current-password"></label> <button>Show details</button>${loginFailed ? ' <span role="alert">That key is not one of AUTH_TOKEN.</span>' : ""}</form>`}
<h2>Set-up checklist</h2>
<ol>
<li>bot-02 has <b>Message Content Intent</b> on (README: Setting up Discord and Coze).</li>
<li>In each channel bot-02 may View Channel, Send Messages, Send Messages in Threads, Create Public Threads, Read Message History, Attach Files.</li>
<li>The Coze bot answers messages from other bots, is published to Discord, and has Long-term memory off.</li>
<li>Or, for a Coze bot that ignores bots: an entry on Coze's API (a personal access token, the bot published to the API; README: Two ways in).</li>
<li>Run <code>coze-chat-proxy check</code>: it tests each entry and says what to fix (README: Troubleshooting).</li>
</ol>
</body></html>
`;
}

/**
 * The store, when it fails: answers still go out, but conversations may start
 * anew and writes wait. The operator (with a key) sees what failed.
 */
function storeLine(ctx: AppContext, authorized: boolean): string {
  const health = ctx.store.health();
  if (health.state === "ok") return "";
  const detail = authorized ? ` ${escape(health.problem ?? "")} (${health.queued} writes waiting${health.dropped ? `, ${health.dropped} dropped` : ""}).` : "";
  return `<p id="store" role="alert"><b>Store degraded</b> since ${new Date(health.since!).toISOString().slice(11, 19)} UTC: answers are delivered, conversations may start anew, and writes are retried in the background.${detail}</p>`;
}

/** Errors since start, by kind: Coze's error texts, Discord calls refused, rate limits given up on. No request's content. */
function recentErrors(ctx: AppContext): [string, number][] {
  const { cozeErrors, postFailures, rateLimitedCalls } = ctx.metrics;
  return [
    ...cozeErrors.series().map(([labels, n]): [string, number] => [`Coze error ${labels.replace(/[{}"]/g, "")}`, n]),
    ...postFailures.series().map(([labels, n]): [string, number] => [`Discord call failed ${labels.replace(/[{}"]/g, "")}`, n]),
    ...rateLimitedCalls.series().map(([, n]): [string, number] => ["Discord rate limit outlasted the start deadline", n]),
  ];
}

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
