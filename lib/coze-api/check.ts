import { isChatflow } from "../config/bots.ts";
import { errorText } from "../error-text.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import { PROBE, type CheckVerdict, type PlaceBook, type ReplyTimings } from "../pool/seam.ts";
import { attemptOnApi } from "./attempt.ts";
import type { CozeApiClient } from "./client.ts";
import { CozeApiFailure } from "./failure.ts";

const fail = (problem: string, fix: string): CheckVerdict => ({ ok: false, problem, fix });

/** A probe's conversation is Coze's own and left there: nothing to keep. */
const NO_PLACES: PlaceBook = { touch: async () => {}, oldest: async () => [], archived: async () => {}, serialize: (_name, work) => work() };

/**
 * `check` for an entry on Coze's API: the token and the bot's publication
 * (checked when the pool started), then the probe asked as any request is
 * (for a chatflow, the first sign that it is found and published), its
 * first answer text timed.
 */
export async function checkApiEntry(client: CozeApiClient, timings: ReplyTimings): Promise<CheckVerdict> {
  const chatflow = isChatflow(client.entry);
  if (!client.usable) return fail(client.problem ?? "Coze's API refused the entry", "see the problem above: the token needs chat permission, the bot must be published to the API");
  const started = performance.now();
  let firstReplyMs: number | undefined;
  const turn = [{ role: "user" as const, text: PROBE, images: [] }];
  try {
    const answer = await attemptOnApi(client, {
      request: { model: "", history: turn, newTurns: turn, files: [], user: "coze-chat-proxy-check", title: "check", wantImage: false, signal: new AbortController().signal, requestId: "check", receivedAt: Date.now() },
      home: undefined,
      entryKey: "",
      emit: () => (firstReplyMs ??= performance.now() - started),
      emitReasoning: () => {},
      timings,
      places: NO_PLACES,
    });
    if (answer.text !== "") return { ok: true, firstReplyMs: firstReplyMs ?? performance.now() - started };
    return fail("Coze's API answered the probe without any text", "try the bot in Coze's own debug chat");
  } catch (error) {
    if (error instanceof CozeApiFailure) {
      if (error.apiKind === "quota") return fail(`Coze's API reports a quota problem: ${error.msg} (code ${error.code})`, "top up Coze credits or wait for the quota to reset");
      if (error.apiKind === "other" && error.cause !== undefined) return fail(`Coze's API could not be reached: ${errorText(error.cause)}`, "check api_base, PROXY_URL and the network");
      if (error.apiKind === "entry" || error.apiKind === "gone") {
        return fail(error.message, chatflow ? "check the token's permissions, workflow_id, and that the chatflow is published" : "check the token's permissions and that the bot is published to the API");
      }
      return fail(error.message, chatflow ? "check workflow_id, that the chatflow is published, and its app_id or bot_id; try it in Coze's own debug chat" : "run check again later");
    }
    if (error instanceof UpstreamFailure && error.kind === "start-timeout") {
      return fail(`no answer over Coze's API within REPLY_START_TIMEOUT (${timings.replyStartTimeoutMs / 1000} s)`, "try the bot in Coze's own debug chat; it may be slow or broken");
    }
    return fail(`Coze's API could not be reached: ${errorText(error)}`, "check api_base, PROXY_URL and the network");
  }
}
