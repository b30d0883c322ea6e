import type { Answer, Attempt, CheckVerdict, Link, LinkState, ReplyTimings } from "../pool/seam.ts";
import { attemptOnApi } from "./attempt.ts";
import { ApiAudio } from "./audio-calls.ts";
import { checkApiEntry } from "./check.ts";
import type { CozeApiClient } from "./client.ts";

/** An entry on Coze's API as the pool sees it: through the seam. */
export class ApiLink implements Link {
  /** Every conversation is a Coze conversation of its own. */
  readonly sharesContext = false;
  /** The stream's own events tell when an answer is done: no quiet timer to hold. */
  readonly quietHeld = false;
  readonly queued = 0;
  /** Speech and transcription through the entry's token. */
  readonly audio: ApiAudio;

  constructor(
    readonly client: CozeApiClient,
    proxyUrl?: string,
  ) {
    this.audio = new ApiAudio(client, proxyUrl);
  }

  get state(): LinkState {
    return this.client.state;
  }

  get problem(): string | undefined {
    return this.client.problem;
  }

  get usable(): boolean {
    return this.client.usable;
  }

  attempt(attempt: Attempt): Promise<Answer> {
    return attemptOnApi(this.client, attempt);
  }

  check(timings: ReplyTimings): Promise<CheckVerdict> {
    return checkApiEntry(this.client, timings);
  }
}
