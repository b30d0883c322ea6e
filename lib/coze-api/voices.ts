import type { ApiEntry } from "../config/bots.ts";
import { invalidRequest } from "../openai/api-error.ts";
import type { CozeVoice } from "./audio.ts";

/** How long Coze's voice list is kept before it is asked again (voices change rarely: a clone, a new system voice). */
const VOICE_LIST_TTL_MS = 10 * 60_000;
/**
 * How long the open voice listing remembers a failed list: it takes callers
 * without a key, and each of them must not cost a call to Coze.
 */
const FAILED_LIST_TTL_MS = 60_000;
/** A list is shared by every request waiting for it, so it runs on its own clock, not on one client's. */
const VOICE_LIST_TIMEOUT_MS = 15_000;

/**
 * One account's voice list on Coze, kept for a while: a speech request that
 * names a voice by name should not cost a list call each time. A failed
 * fetch is not kept for speech (a busy answer is waited out and asked
 * again), but the open listing (`listing`) is given the failure for a
 * minute instead of asking again.
 */
export class VoiceList {
  private kept: { at: number; voices: Promise<CozeVoice[]> } | undefined;
  private failed: { at: number; error: unknown } | undefined;

  constructor(private readonly fetchList: (signal: AbortSignal) => Promise<CozeVoice[]>) {}

  get(): Promise<CozeVoice[]> {
    if (this.kept && Date.now() - this.kept.at < VOICE_LIST_TTL_MS) return this.kept.voices;
    const voices = this.fetchList(AbortSignal.timeout(VOICE_LIST_TIMEOUT_MS));
    const kept = (this.kept = { at: Date.now(), voices });
    voices.then(
      () => (this.failed = undefined),
      (error) => {
        if (this.kept === kept) this.kept = undefined;
        this.failed = { at: Date.now(), error };
      },
    );
    return voices;
  }

  /** The list for callers without a key: a failure of the last minute is given again without asking Coze. */
  listing(): Promise<CozeVoice[]> {
    if (!this.kept && this.failed && Date.now() - this.failed.at < FAILED_LIST_TTL_MS) return Promise.reject(this.failed.error);
    return this.get();
  }
}

/**
 * The Coze voice_id for the voice a client asked for: a name of the entry's
 * `voices` map, a voice_id of Coze's list, or a name on that list (letter
 * case aside). A voice that matches nothing (Open WebUI sends `alloy` unless
 * told otherwise) takes the entry's `default_voice`, else Coze's first
 * voice: a client's default is never refused.
 */
export async function voiceFor(requested: string | undefined, entry: ApiEntry, list: () => Promise<CozeVoice[]>): Promise<string> {
  const map = entry.voices ?? {};
  const byMap = (name: string) => map[name] ?? Object.entries(map).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const wanted = requested?.trim() || undefined;
  if (wanted !== undefined) {
    const mapped = byMap(wanted);
    if (mapped) return mapped;
  }
  const voices = await list();
  const onList = (name: string) => voices.find((v) => v.voice_id === name)?.voice_id ?? voices.find((v) => v.name.toLowerCase() === name.toLowerCase())?.voice_id;
  if (wanted !== undefined) {
    const listed = onList(wanted);
    if (listed) return listed;
  }
  if (entry.default_voice) return byMap(entry.default_voice) ?? onList(entry.default_voice) ?? entry.default_voice;
  if (voices[0]) return voices[0].voice_id;
  throw invalidRequest(`Coze lists no voices for bot.json entry ${entry.index}'s token; set "default_voice" on the entry to a Coze voice_id.`, "voice");
}
