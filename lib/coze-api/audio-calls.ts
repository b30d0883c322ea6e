import type { ApiEntry } from "../config/bots.ts";
import { AudioFormatError } from "../audio/bytes.ts";
import { splitSpeechInput } from "../audio/speech-text.ts";
import { invalidRequest } from "../openai/api-error.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import type { AudioCalls, InputFile, SpeechFormat } from "../pool/seam.ts";
import { CozeAudio } from "./audio.ts";
import { SPEECH_FORMATS, transcriptionPieces } from "./audio-pieces.ts";
import type { CozeApiClient } from "./client.ts";
import { CozeApiFailure, entryProblem } from "./failure.ts";
import { VoiceList, voiceFor } from "./voices.ts";

/** Coze's speed range; OpenAI's (0.25–4) is clamped into it. */
const MIN_SPEED = 0.2;
const MAX_SPEED = 3;
/** OpenAI's `pcm` is 24 kHz 16-bit mono, which is Coze's default rate too. */
const SAMPLE_RATE = 24_000;
/** Pieces of a long input asked of Coze at once. */
const PIECES_AT_ONCE = 3;
/** How long an entry whose Coze has no audio routes is passed over before it is asked again (Coze may be upgraded). */
const NO_AUDIO_RECHECK_MS = 10 * 60_000;

/**
 * Voice through one Coze API entry: speech of any length (split under Coze's
 * 1,024 bytes at sentence ends, the pieces' audio joined into one file),
 * transcription of up to 25 MB (WebM remuxed, files over Coze's 10 MB cut,
 * the texts joined), the voices the entry knows. A refused token takes the
 * entry down as a chat's would; Coze's parameter codes are the client's 400;
 * a Coze without audio routes (Studio) leaves the entry unavailable for
 * audio for a while, and up for chat.
 */
export class ApiAudio implements AudioCalls {
  private config: ApiEntry;
  private readonly api: CozeAudio;
  private readonly voiceList: VoiceList;
  private noAudioUntil = 0;

  constructor(
    private readonly client: CozeApiClient,
    proxyUrl?: string,
  ) {
    this.config = client.entry;
    this.api = new CozeAudio(client.entry, proxyUrl);
    this.voiceList = new VoiceList((signal) => this.guard(() => this.api.voices(signal)));
  }

  /** A reload that keeps the entry (same token, bot and base) may still change its voices. */
  configure(config: ApiEntry): void {
    this.config = config;
  }

  get available(): boolean {
    return this.noAudioUntil <= Date.now();
  }

  async speech(request: { input: string; voice: string | undefined; format: SpeechFormat; speed?: number }, signal: AbortSignal): Promise<{ audio: Uint8Array; contentType: string }> {
    const format = SPEECH_FORMATS[request.format];
    const pieces = splitSpeechInput(request.input);
    if (pieces.length === 0) throw invalidRequest("'input' has nothing to speak.", "input");
    const voice_id = await voiceFor(request.voice, this.config, () => this.voiceList.get());
    const speed = Math.min(MAX_SPEED, Math.max(MIN_SPEED, request.speed ?? 1));
    const parts: Uint8Array[] = new Array(pieces.length);
    // One piece failing stops the others: the request moves to another entry, or ends, without them.
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < pieces.length; i = next++) {
        parts[i] = await this.guard(() => this.api.speech({ input: pieces[i], voice_id, response_format: format.coze, speed, sample_rate: SAMPLE_RATE }, both));
      }
    };
    await Promise.all(Array.from({ length: Math.min(PIECES_AT_ONCE, pieces.length) }, () => worker().catch((error) => (stop.abort(), Promise.reject(error)))));
    try {
      // One piece is Coze's file as it came; several become one file.
      return { audio: parts.length === 1 ? parts[0] : format.join(parts), contentType: format.type };
    } catch (error) {
      if (!(error instanceof AudioFormatError)) throw error;
      throw new CozeApiFailure("other", undefined, `Coze's speech pieces could not be joined into one ${request.format} file: ${error.message}`, undefined, error);
    }
  }

  async transcribe(file: InputFile, signal: AbortSignal): Promise<{ text: string; durationSeconds?: number }> {
    const { pieces, format, contentType, duration } = transcriptionPieces(file.data);
    const texts: string[] = [];
    for (const [i, data] of pieces.entries()) {
      const text = await this.guard(() => this.api.transcribe({ name: `audio-${i + 1}.${format}`, data, contentType }, signal));
      if (text.trim() !== "") texts.push(text.trim());
    }
    return { text: texts.join(" "), durationSeconds: duration };
  }

  async voices(): Promise<{ id: string; name: string }[]> {
    const named = Object.keys(this.config.voices ?? {}).map((name) => ({ id: name, name }));
    return [...named, ...(await this.voiceList.listing()).map((v) => ({ id: v.voice_id, name: v.name }))];
  }

  /** What a failed call means for the entry, before it reaches the relay. */
  private async guard<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof UpstreamFailure && error.kind === "unsupported") this.noAudioUntil = Date.now() + NO_AUDIO_RECHECK_MS;
      if (error instanceof CozeApiFailure) {
        if (error.apiKind === "entry") this.client.markDown(entryProblem(error.code, error.msg));
        // Coze's parameter codes: the text or the audio was refused, no fault of the entry.
        if (error.apiKind === "other" && error.code !== undefined && error.code >= 4000 && error.code < 5000) {
          throw invalidRequest(`Coze refused the audio request: ${error.msg} (code ${error.code})`, null, "coze_refused");
        }
      }
      throw error;
    }
  }
}
