import { AudioFormatError, concatBytes } from "../audio/bytes.ts";
import { cutMp3, joinMp3, mp3Duration, parseMp3 } from "../audio/mp3.ts";
import { cutOgg, joinOgg, oggDuration } from "../audio/ogg.ts";
import { sniffAudio, type AudioContainer } from "../audio/sniff.ts";
import { cutWav, joinWav, parseWav, wavDuration } from "../audio/wav.ts";
import { webmToOggOpus } from "../audio/webm-to-ogg.ts";
import { invalidRequest } from "../openai/api-error.ts";
import type { SpeechFormat } from "../pool/seam.ts";
import type { CozeSpeechFormat } from "./audio.ts";

/** Coze takes at most 10 MB and 30 minutes a file to transcribe: pieces stay under both, with a margin. */
const PIECE_BYTES = 10_000_000;
const PIECE_SECONDS = 29 * 60;

const NAMES: Record<AudioContainer, string> = { wav: "WAV", mp3: "MP3", ogg: "Ogg", webm: "WebM", mp4: "m4a/MP4 (AAC)", flac: "FLAC" };
const TYPES = { wav: "audio/wav", mp3: "audio/mpeg", ogg: "audio/ogg" };

/** A file as Coze's transcription takes it: pieces of one of its formats, and the sound's length when known. */
export interface TranscriptionPieces {
  pieces: Uint8Array[];
  format: "wav" | "mp3" | "ogg";
  contentType: string;
  duration: number | undefined;
}

/**
 * Prepares an upload for Coze, which takes ogg, mp3 and wav only, 10 MB
 * and 30 minutes at most: the format read from the file's bytes, never its
 * name; WebM/Opus (browsers) remuxed into Ogg Opus; m4a and flac refused
 * naming the format; a longer file cut at sample, frame or page boundaries.
 */
export function transcriptionPieces(bytes: Uint8Array): TranscriptionPieces {
  const container = sniffAudio(bytes);
  if (container === "mp4" || container === "flac") throw invalidRequest(`The file is ${NAMES[container]}, which Coze cannot transcribe: send mp3, wav, ogg or webm.`, "file", "unsupported_audio_format");
  if (container === undefined) throw invalidRequest("The file is not audio this service can read: send mp3, wav, ogg or webm.", "file", "unsupported_audio_format");
  try {
    if (container === "wav") return { pieces: cutWav(bytes, PIECE_BYTES, PIECE_SECONDS), format: "wav", contentType: TYPES.wav, duration: wavDuration(parseWav(bytes)) };
    if (container === "mp3") return { pieces: cutMp3(bytes, PIECE_BYTES, PIECE_SECONDS), format: "mp3", contentType: TYPES.mp3, duration: mp3Duration(parseMp3(bytes)) };
    const ogg = container === "webm" ? webmToOggOpus(bytes) : bytes;
    return { pieces: cutOgg(ogg, PIECE_BYTES, PIECE_SECONDS), format: "ogg", contentType: TYPES.ogg, duration: oggDuration(ogg) };
  } catch (error) {
    if (!(error instanceof AudioFormatError)) throw error;
    throw invalidRequest(`The ${NAMES[container]} file cannot be read: ${error.message}.`, "file", "invalid_audio");
  }
}

/** OpenAI's speech formats as Coze names them, what they are served as, and how pieces of each join into one file. */
export const SPEECH_FORMATS: Record<SpeechFormat, { coze: CozeSpeechFormat; type: string; join: (parts: Uint8Array[]) => Uint8Array }> = {
  mp3: { coze: "mp3", type: "audio/mpeg", join: joinMp3 },
  opus: { coze: "ogg_opus", type: "audio/ogg", join: joinOgg },
  wav: { coze: "wav", type: "audio/wav", join: joinWav },
  pcm: { coze: "pcm", type: "audio/pcm", join: concatBytes },
};
