import { invalidRequest } from "../openai/api-error.ts";
import type { SpeechFormat } from "../pool/seam.ts";
import { relayAudio } from "../relay/audio-relay.ts";
import { audioModel } from "./audio-model.ts";
import type { RouteHandler } from "./context.ts";

/** OpenAI's speech formats that Coze has. */
const FORMATS = new Set(["mp3", "opus", "wav", "pcm"]);
/** OpenAI's longest speech input. */
const MAX_INPUT_CHARACTERS = 4096;

/**
 * `POST /v1/audio/speech`: OpenAI's `{model, input, voice, response_format,
 * speed}` through an entry of the model that speaks (a Coze API entry),
 * answered with the audio's bytes and their content type. The backend splits
 * long input to its own limits and resolves the voice.
 */
export const speech: RouteHandler = async (_req, ctx, info) => {
  const body = info.body;
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw invalidRequest("The request body must be a JSON object.");
  const request = body as Record<string, unknown>;
  const model = audioModel(ctx, request.model);
  if (typeof request.input !== "string" || request.input.trim() === "") throw invalidRequest("'input' must be a non-empty string: the text to speak.", "input");
  if (request.input.length > MAX_INPUT_CHARACTERS) throw invalidRequest(`'input' is longer than ${MAX_INPUT_CHARACTERS} characters.`, "input", "string_above_max_length");
  if (request.voice !== undefined && typeof request.voice !== "string") throw invalidRequest("'voice' must be a string.", "voice");
  const format = request.response_format ?? "mp3";
  if (format === "aac" || format === "flac") throw invalidRequest(`'response_format' ${format} is not one Coze can produce; use mp3, opus, wav or pcm.`, "response_format");
  if (typeof format !== "string" || !FORMATS.has(format)) throw invalidRequest(`'response_format' must be one of mp3, opus, wav or pcm, got ${JSON.stringify(format)}.`, "response_format");
  if (request.speed !== undefined && (typeof request.speed !== "number" || !Number.isFinite(request.speed))) throw invalidRequest("'speed' must be a number.", "speed");
  if (request.stream_format === "sse") throw invalidRequest("'stream_format' sse is not supported: Coze's speech comes as one file.", "stream_format");
  const spoken = await relayAudio(ctx, model, info.requestId, info.signal, (audio, signal) =>
    audio.speech({ input: request.input as string, voice: request.voice as string | undefined, format: format as SpeechFormat, speed: request.speed as number | undefined }, signal),
  );
  info.end();
  return new Response(spoken.audio, { headers: { "content-type": spoken.contentType } });
};
