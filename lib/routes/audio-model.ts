import { invalidRequest, modelNotFound } from "../openai/api-error.ts";
import type { AppContext } from "./context.ts";

/** OpenAI's own audio models: clients send them by default (Open WebUI: `tts-1` and an empty STT model). */
const OPENAI_AUDIO_MODELS = new Set(["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"]);

/**
 * The model that serves an audio request: the named model when it has a
 * Coze API entry; for OpenAI's audio model names or none, AUDIO_MODEL, else
 * the first model of bot.json with an API entry (so Open WebUI works with
 * its defaults). A name that is no model is a 404; a model reached only
 * through Discord is a 400, since Discord carries no audio.
 */
export function audioModel(ctx: AppContext, requested: unknown): string {
  if (requested !== undefined && requested !== null && typeof requested !== "string") throw invalidRequest("'model' must be a string.", "model");
  const name = (requested ?? "").trim();
  if (name !== "" && ctx.audio.hasModel(name)) return name;
  if (name === "" || (OPENAI_AUDIO_MODELS.has(name) && !ctx.pool.hasModel(name))) {
    const chosen = ctx.settings.audioModel ?? ctx.audio.models[0];
    if (chosen === undefined) throw invalidRequest("Audio needs a Coze API entry: bot.json has none (Discord carries no audio). Add an entry with \"coze_api_token\".", "model", "audio_needs_api_entry");
    if (!ctx.audio.hasModel(chosen)) throw modelNotFound(chosen);
    return chosen;
  }
  if (!ctx.pool.hasModel(name)) throw modelNotFound(name);
  throw invalidRequest(`Model '${name}' is served only through Discord, and audio needs a Coze API entry: add one with "coze_api_token" to the model in bot.json.`, "model", "audio_needs_api_entry");
}
