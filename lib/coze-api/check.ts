import { errorText } from "../error-text.ts";
import { PROBE, type CheckVerdict, type ReplyTimings } from "../pool/seam.ts";
import { CozeAnswer } from "./answer.ts";
import type { CozeApiClient } from "./client.ts";
import { CozeApiFailure, failureKind } from "./failure.ts";

const fail = (problem: string, fix: string): CheckVerdict => ({ ok: false, problem, fix });

/**
 * `check` for an entry on Coze's API: the token and the bot's publication
 * (checked when the pool started), then a probe chat whose first answer
 * text is timed. The probe's conversation is Coze's own and left there.
 */
export async function checkApiEntry(client: CozeApiClient, timings: ReplyTimings): Promise<CheckVerdict> {
  if (!client.usable) return fail(client.problem ?? "Coze's API refused the entry", "see the problem above: the token needs chat permission, the bot must be published to the API");
  const started = performance.now();
  const answer = new CozeAnswer();
  const signal = AbortSignal.timeout(timings.replyStartTimeoutMs);
  try {
    let answered = false;
    const probe = { user_id: "coze-chat-proxy-check", additional_messages: [{ role: "user" as const, type: "question" as const, content: PROBE, content_type: "text" as const }] };
    await client.chat(probe, undefined, { deadline: Date.now() + timings.replyStartTimeoutMs, signal }, (event) => {
      const step = answer.step(event);
      if (step.kind === "failed") throw new CozeApiFailure(failureKind(step.code), step.code, step.msg);
      answered = step.kind === "text";
      return answered || step.kind === "done" || step.kind === "completed";
    });
    if (answered) return { ok: true, firstReplyMs: performance.now() - started };
    return fail("Coze's API answered the probe without any text", "try the bot in Coze's own debug chat");
  } catch (error) {
    if (signal.aborted) return fail(`no answer over Coze's API within REPLY_START_TIMEOUT (${timings.replyStartTimeoutMs / 1000} s)`, "try the bot in Coze's own debug chat; it may be slow or broken");
    if (error instanceof CozeApiFailure) {
      if (error.apiKind === "quota") return fail(`Coze's API reports a quota problem: ${error.msg} (code ${error.code})`, "top up Coze credits or wait for the quota to reset");
      return fail(error.message, error.apiKind === "entry" ? "check the token's permissions and that the bot is published to the API" : "run check again later");
    }
    return fail(`Coze's API could not be reached: ${errorText(error)}`, "check api_base, PROXY_URL and the network");
  }
}
