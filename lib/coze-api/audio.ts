import type { ApiEntry } from "../config/bots.ts";
import { MultipartBody } from "../multipart-body.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import type { InputFile } from "../pool/seam.ts";
import { readLimited } from "../read-limited.ts";
import { CozeApiFailure, failureKind } from "./failure.ts";

/** A voice from Coze's list (`GET /v1/audio/voices`). */
export interface CozeVoice {
  voice_id: string;
  name: string;
}

/** Coze's speech formats: OpenAI's `opus` is its Ogg Opus. */
export type CozeSpeechFormat = "mp3" | "wav" | "pcm" | "ogg_opus";

export interface SpeechBody {
  input: string;
  voice_id: string;
  response_format: CozeSpeechFormat;
  speed: number;
  sample_rate: number;
}

/** Longest speech answer read: 1,024 bytes of text at the slowest speed and WAV at 48 kHz stay far below it. */
const MAX_AUDIO_BYTES = 64 * 1024 * 1024;
const MAX_JSON_BYTES = 4 * 1024 * 1024;
/** Coze's page size limit for the voice list. */
const VOICE_PAGE = 100;
/** Pages of voices read at most: a runaway `has_more` must not loop forever. */
const MAX_VOICE_PAGES = 50;

/**
 * Coze's audio API for one `bot.json` entry's token (the calls the official
 * SDK makes as `audio.speech.create`, `audio.transcriptions.create` and
 * `audio.voices.list`). A refusal throws a CozeApiFailure of the kind its
 * code says; a 404 (Coze Studio registers no audio routes) an
 * UpstreamFailure of kind `unsupported`.
 */
export class CozeAudio {
  constructor(
    private readonly entry: Pick<ApiEntry, "api_base" | "coze_api_token" | "index">,
    private readonly proxyUrl?: string,
  ) {}

  /** `POST /v1/audio/speech`: the audio's bytes. */
  async speech(body: SpeechBody, signal: AbortSignal): Promise<Uint8Array> {
    const response = await this.request("/v1/audio/speech", { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" }, signal });
    // Audio comes as audio; an error (with HTTP 200 too) as Coze's JSON envelope.
    if (response.ok && !(response.headers.get("content-type") ?? "").includes("json")) {
      return readLimited(response, MAX_AUDIO_BYTES, () => new CozeApiFailure("other", undefined, `Coze's speech answer is larger than ${MAX_AUDIO_BYTES} bytes`));
    }
    const envelope = await this.envelope(response);
    throw refusal(envelope, response);
  }

  /** `POST /v1/audio/transcriptions` with the file as multipart field `file`: the text. */
  async transcribe(file: InputFile, signal: AbortSignal): Promise<string> {
    const form = new MultipartBody([], [{ field: "file", ...file }]);
    const headers = { "content-type": form.contentType, "content-length": String(form.size) };
    const response = await this.request("/v1/audio/transcriptions", { method: "POST", body: form as never, headers, signal });
    const envelope = await this.envelope(response);
    if (response.ok && envelope.code === 0 && typeof envelope.data?.text === "string") return envelope.data.text;
    throw refusal(envelope, response);
  }

  /** `GET /v1/audio/voices`, every page: the voices the token may use (system voices and the account's own). */
  async voices(signal: AbortSignal): Promise<CozeVoice[]> {
    const voices: CozeVoice[] = [];
    for (let page = 1; page <= MAX_VOICE_PAGES; page++) {
      const response = await this.request(`/v1/audio/voices?page_num=${page}&page_size=${VOICE_PAGE}`, { method: "GET", signal });
      const envelope = await this.envelope(response);
      if (!response.ok || envelope.code !== 0 || !Array.isArray(envelope.data?.voice_list)) throw refusal(envelope, response);
      for (const v of envelope.data.voice_list) if (typeof v?.voice_id === "string" && v.voice_id !== "") voices.push({ voice_id: v.voice_id, name: String(v.name ?? v.voice_id) });
      if (envelope.data.has_more !== true) break;
    }
    return voices;
  }

  private async request(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.entry.api_base}${path}`, {
        ...init,
        proxy: this.proxyUrl,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.entry.coze_api_token}` },
      });
    } catch (error) {
      if (error instanceof Error && error.name === "AbortError") throw error;
      throw new CozeApiFailure("other", undefined, `Coze's API could not be reached (${error instanceof Error ? error.message : String(error)})`, undefined, error);
    }
  }

  /** Coze's JSON envelope `{code, msg, data}`; an answer that is not one reads as its HTTP status. */
  private async envelope(response: Response): Promise<{ code: number | undefined; msg: string; data?: any }> {
    const bytes = await readLimited(response, MAX_JSON_BYTES, () => new Error("too large")).catch(() => new Uint8Array());
    try {
      const body = JSON.parse(new TextDecoder().decode(bytes));
      return { code: typeof body.code === "number" ? body.code : undefined, msg: String(body.msg ?? `HTTP ${response.status}`).slice(0, 300), data: body.data };
    } catch {
      return { code: undefined, msg: `HTTP ${response.status}` };
    }
  }
}

/** The error for a refused audio call: a 404 says the routes are missing; anything else is Coze's code. */
function refusal(envelope: { code: number | undefined; msg: string }, response: Response): Error {
  if (response.status === 404) {
    return new UpstreamFailure("unsupported", "Audio needs a Coze API entry on coze.com or coze.cn: this model's Coze (Coze Studio?) has no audio routes.", { openaiCode: "audio_unsupported" });
  }
  const seconds = Number(response.headers.get("retry-after"));
  return new CozeApiFailure(failureKind(envelope.code, response.status), envelope.code, envelope.msg, seconds > 0 ? seconds * 1000 : undefined);
}
