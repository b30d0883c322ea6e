/**
 * The audio routes of the simulated Coze API, as the official SDKs call them
 * (`@coze/api`: audio.speech, audio.transcriptions, audio.voices) and with
 * Coze's documented limits: speech input of at most 1,024 UTF-8 bytes in
 * `wav`, `pcm`, `ogg_opus` or `mp3` (the JS SDK spells Ogg Opus `ogg` or
 * `opus`), speed 0.2–3, its sample rates; transcription of ogg, mp3 or wav
 * only, at most 10 MB and 30 minutes, multipart field `file`, answered as
 * `{code, msg, data: {text}}`; the voice list paged with `page_num`,
 * `page_size` ≤ 100 and `has_more`.
 *
 * Speech is deterministic: the audio's samples (WAV, PCM), frame bodies
 * (MP3) or packets (Ogg Opus) repeat the SHA-256 of voice, speed and input,
 * and its length grows with the input (10 ms a byte), so a test can predict
 * the bytes. A transcription is derived from the uploaded bytes. With
 * `routes` off the simulator is like Coze Studio, which has no audio routes:
 * every one answers 404. It imports nothing of the product.
 */

import { audioFormat, oggProblem, speechAudio, wavProblem } from "./audio-files.ts";

export interface SimVoice {
  voice_id: string;
  name: string;
  language_code: string;
}

/** One speech request as it arrived, and what it answered. */
export interface SpeechRecord {
  account: string;
  input: string;
  voice_id: string;
  response_format: string;
  speed: number;
  sample_rate: number;
  audio: Uint8Array<ArrayBuffer>;
}

/** One transcription as it arrived, and the text it answered. */
export interface TranscriptionRecord {
  account: string;
  format: string;
  bytes: Uint8Array<ArrayBuffer>;
  text: string;
}

export const MAX_SPEECH_INPUT_BYTES = 1024;
export const MAX_TRANSCRIPTION_BYTES = 10 * 1024 * 1024;
const SAMPLE_RATES = [8000, 16000, 22050, 24000, 32000, 44100, 48000];
const FORMATS: Record<string, "wav" | "pcm" | "ogg_opus" | "mp3"> = { wav: "wav", pcm: "pcm", ogg_opus: "ogg_opus", ogg: "ogg_opus", opus: "ogg_opus", mp3: "mp3" };
const CONTENT_TYPES = { wav: "audio/wav", pcm: "audio/pcm", ogg_opus: "audio/ogg", mp3: "audio/mpeg" };

const param = (msg: string) => ({ code: 4000, msg });

export class CozeAudioSimulator {
  /** Off: like Coze Studio, every audio route is a 404. */
  routes = true;
  readonly voices: SimVoice[] = [
    { voice_id: "7426720361733046281", name: "Ava", language_code: "en" },
    { voice_id: "7426720361733062665", name: "Liam", language_code: "en" },
    { voice_id: "7426720361733079049", name: "小美", language_code: "zh" },
  ];
  readonly speeches: SpeechRecord[] = [];
  readonly transcriptions: TranscriptionRecord[] = [];
  /** Calls to the voice list, for tests of the service's cache. */
  voiceListCalls = 0;
  /** Audio calls answered 404 because the routes are off (Studio-like), for tests that the service stops asking. */
  missingRouteCalls = 0;
  /** Refusals to give instead of the next answers (a quota code, say), one per call, in order. */
  readonly refusals: { code: number; msg: string; status?: number }[] = [];

  async handle(req: Request, url: URL, account: string, envelope: (error: { code: number; msg: string }, status?: number, data?: unknown) => Response): Promise<Response> {
    if (!this.routes && ++this.missingRouteCalls) return new Response("404 page not found", { status: 404, headers: { "content-type": "text/plain" } });
    const route = `${req.method} ${url.pathname}`;
    if (route !== "GET /v1/audio/voices" && route !== "POST /v1/audio/speech" && route !== "POST /v1/audio/transcriptions") return envelope({ code: 4000, msg: `unknown path ${url.pathname}` }, 404);
    const refusal = this.refusals.shift();
    if (refusal) return envelope(refusal, refusal.status ?? 200);
    if (route === "GET /v1/audio/voices") return this.list(url, envelope);
    if (route === "POST /v1/audio/speech") return this.speech(req, account, envelope);
    return this.transcribe(req, account, envelope);
  }

  private list(url: URL, envelope: (error: { code: number; msg: string }, status?: number, data?: unknown) => Response): Response {
    this.voiceListCalls++;
    const page = Number(url.searchParams.get("page_num") ?? 1);
    const size = Number(url.searchParams.get("page_size") ?? 100);
    if (!Number.isInteger(page) || page < 1 || !Number.isInteger(size) || size < 1 || size > 100) return envelope(param("page_num must be > 0 and page_size in (0, 100]"));
    const slice = this.voices.slice((page - 1) * size, page * size).map((v) => ({
      ...v,
      is_system_voice: true,
      language_name: v.language_code === "zh" ? "中文" : "English",
      preview_text: "Hello",
      preview_audio: "",
      available_training_times: 0,
      create_time: 1_700_000_000,
      update_time: 1_700_000_000,
    }));
    return envelope({ code: 0, msg: "" }, 200, { voice_list: slice, has_more: page * size < this.voices.length });
  }

  private async speech(req: Request, account: string, envelope: (error: { code: number; msg: string }, status?: number, data?: unknown) => Response): Promise<Response> {
    const body = (await req.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (!body || typeof body.input !== "string" || body.input === "") return envelope(param("input is required"));
    if (new TextEncoder().encode(body.input).length > MAX_SPEECH_INPUT_BYTES) return envelope(param(`input exceeds ${MAX_SPEECH_INPUT_BYTES} bytes`));
    const voice = this.voices.find((v) => v.voice_id === body.voice_id);
    if (!voice) return envelope(param(`voice_id ${String(body.voice_id)} not found`));
    const format = FORMATS[String(body.response_format ?? "mp3")];
    if (!format) return envelope(param(`response_format ${String(body.response_format)} is not supported`));
    const speed = body.speed === undefined ? 1 : Number(body.speed);
    if (!(speed >= 0.2 && speed <= 3)) return envelope(param("speed must be in [0.2, 3]"));
    const rate = body.sample_rate === undefined ? 24000 : Number(body.sample_rate);
    if (!SAMPLE_RATES.includes(rate)) return envelope(param(`sample_rate ${rate} is not supported`));
    const audio = speechAudio(body.input, voice.voice_id, format, speed, rate);
    this.speeches.push({ account, input: body.input, voice_id: voice.voice_id, response_format: String(body.response_format ?? "mp3"), speed, sample_rate: rate, audio });
    return new Response(audio, { headers: { "content-type": CONTENT_TYPES[format] } });
  }

  private async transcribe(req: Request, account: string, envelope: (error: { code: number; msg: string }, status?: number, data?: unknown) => Response): Promise<Response> {
    const form = await req.formData().catch(() => undefined);
    const file = form?.get("file");
    if (!(file instanceof Blob)) return envelope(param("file is required"));
    if (file.size > MAX_TRANSCRIPTION_BYTES) return envelope(param("the audio file exceeds 10MB"));
    const bytes = new Uint8Array(await file.arrayBuffer());
    const format = audioFormat(bytes);
    if (!format) return envelope(param("only ogg, mp3 and wav audio are supported"));
    const problem = format === "ogg" ? oggProblem(bytes) : format === "wav" ? wavProblem(bytes) : undefined;
    if (problem) return envelope(param(`the audio cannot be decoded: ${problem}`));
    const text = `heard ${format} ${bytes.length} bytes ${hex(await sha256(bytes)).slice(0, 12)}`;
    this.transcriptions.push({ account, format, bytes, text });
    return envelope({ code: 0, msg: "" }, 200, { text });
  }
}

async function sha256(bytes: Uint8Array | string): Promise<Uint8Array> {
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(bytes).digest());
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
