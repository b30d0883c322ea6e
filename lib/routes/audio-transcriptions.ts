import { invalidRequest } from "../openai/api-error.ts";
import { relayAudio } from "../relay/audio-relay.ts";
import { audioModel } from "./audio-model.ts";
import type { RouteHandler } from "./context.ts";

/** OpenAI's upload limit, this route's own body limit (others keep MAX_BODY_SIZE), with room for the form's other fields. */
export const MAX_TRANSCRIPTION_BODY = 25 * 1024 * 1024 + 64 * 1024;

/**
 * `POST /v1/audio/transcriptions`: OpenAI's multipart `file` (`model` may be
 * empty, as Open WebUI sends it; `language` accepted) through an entry of
 * the model that listens (a Coze API entry), which reads the file's format
 * and cuts it to its own limits. Answered as `json`, `text` or
 * `verbose_json` (with the duration when known).
 */
export const transcriptions: RouteHandler = async (req, ctx, info) => {
  let form: Awaited<ReturnType<Response["formData"]>>;
  try {
    form = await new Response(info.body as Uint8Array, { headers: { "content-type": req.headers.get("content-type") ?? "" } }).formData();
  } catch {
    throw invalidRequest("The request body must be multipart/form-data with the audio in a 'file' field.");
  }
  const field = (name: string) => {
    const value = form.get(name);
    return typeof value === "string" ? value : undefined;
  };
  const model = audioModel(ctx, field("model"));
  const file = form.get("file");
  if (!(file instanceof Blob)) throw invalidRequest("'file' is missing: send the audio as a multipart file field.", "file");
  if (field("stream") === "true") throw invalidRequest("'stream' is not supported: Coze transcribes a file whole.", "stream");
  const responseFormat = field("response_format") || "json";
  if (!["json", "text", "verbose_json"].includes(responseFormat)) throw invalidRequest(`'response_format' must be json, text or verbose_json (Coze gives no timings for ${responseFormat}).`, "response_format");
  const language = field("language") ?? "";
  const upload = { name: file instanceof File ? file.name : "audio", data: new Uint8Array(await file.arrayBuffer()), contentType: file.type || "application/octet-stream" };
  const heard = await relayAudio(ctx, model, info.requestId, info.signal, (audio, signal) => audio.transcribe(upload, signal));
  info.end();
  if (responseFormat === "text") return new Response(heard.text, { headers: { "content-type": "text/plain; charset=utf-8" } });
  if (responseFormat === "verbose_json") return Response.json({ task: "transcribe", language, ...(heard.durationSeconds === undefined ? {} : { duration: heard.durationSeconds }), text: heard.text, segments: [] });
  return Response.json({ text: heard.text });
};
