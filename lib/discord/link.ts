import type { Answer, Attempt, CheckVerdict, Link, LinkState, ProbeVerdict, ReplyTimings } from "../pool/seam.ts";
import { attemptOnDiscord } from "./attempt.ts";
import type { DiscordChannel } from "./channel.ts";
import { askProbe, checkDiscordEntry } from "./check.ts";
import { CozeErrorText } from "./coze-errors.ts";

/** A Discord entry as the pool sees it: through the seam. */
export class DiscordLink implements Link {
  constructor(readonly channel: DiscordChannel) {}

  get state(): LinkState {
    return this.channel.connection.state;
  }

  get problem(): string | undefined {
    return this.channel.connection.problem;
  }

  /** Ready or resuming: replies still arrive (a resume replays what was missed). */
  get usable(): boolean {
    return this.channel.connection.usable;
  }

  /** A channel without threads holds every conversation of the entry: Coze reads it as one context. */
  get sharesContext(): boolean {
    return !this.channel.entry.threads;
  }

  /** While the gateway reconnects or recovers, silence says nothing about Coze. */
  get quietHeld(): boolean {
    return this.channel.connection.state !== "ready";
  }

  get queued(): number {
    return this.channel.queued;
  }

  attempt(attempt: Attempt): Promise<Answer> {
    return attemptOnDiscord(this.channel, attempt);
  }

  async archive(threadId: string): Promise<void> {
    if (this.channel.connection.usable) await this.channel.connection.setArchived(threadId, true);
  }

  check(timings: ReplyTimings): Promise<CheckVerdict> {
    return checkDiscordEntry(this.channel, timings);
  }

  /** A user can make Coze repeat a quota text: the entry is suspect until `check`'s neutral probe meets one too. */
  async probe(timings: ReplyTimings): Promise<ProbeVerdict> {
    try {
      await askProbe(this.channel, timings);
      return "answered";
    } catch (error) {
      return error instanceof CozeErrorText && error.errorKind === "quota" ? "quota" : "failed";
    }
  }
}
