/**
 * Voice through the real path: the `openai` SDK (audio.speech.create,
 * audio.transcriptions.create) and raw requests shaped as Open WebUI and
 * LibreChat send them → the service → the simulated Coze API's audio routes.
 */
import { describe, expect, test } from "bun:test";
import { toFile } from "openai";
import { concatBytes } from "../lib/audio/bytes.ts";
import { joinMp3 } from "../lib/audio/mp3.ts";
import { oggPackets, parseOggPages } from "../lib/audio/ogg-page.ts";
import { parseWav } from "../lib/audio/wav.ts";
import { CozeApiSimulator } from "../lib/simulator/coze-api.ts";
import { json, KEY, stackPerTest } from "./harness.ts";
import { longOggOpus, m4aFile, mp3Frames, opusPacket, wavFile, webmRecording } from "./support/audio-files.ts";

const withStack = stackPerTest();
const encoder = new TextEncoder();
/** A Discord model first in bot.json, then two models with Coze API entries: audio's default is the first of those. */
const VOICE_STACK = { entries: [{ model: "gpt-test" }], api: [{ model: "voice-a" }, { model: "voice-b" }] };

/** A multipart body as a browser's FormData sends it (Open WebUI, LibreChat). */
function form(fields: Record<string, string>, file?: { name: string; type: string; bytes: Uint8Array }): FormData {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.set(k, v);
  if (file) body.set("file", new File([file.bytes], file.name, { type: file.type }));
  return body;
}

describe("speech", () => {
  test("each format is the simulator's bytes with its content type; opus is Ogg Opus", async () => {
    const stack = await withStack(VOICE_STACK);
    const types: Record<string, string> = { mp3: "audio/mpeg", opus: "audio/ogg", wav: "audio/wav", pcm: "audio/pcm" };
    for (const format of ["mp3", "opus", "wav", "pcm"] as const) {
      const response = await stack.openai.audio.speech.create({ model: "voice-b", input: "Hello from Coze", voice: "Ava", response_format: format });
      const bytes = new Uint8Array(await response.arrayBuffer());
      const record = stack.apiSim.audio.speeches.at(-1)!;
      expect(bytes).toEqual(record.audio);
      expect(response.headers.get("content-type")).toBe(types[format]);
      expect(record.response_format).toBe(format === "opus" ? "ogg_opus" : format);
      expect(record.sample_rate).toBe(24000);
    }
    expect(new TextDecoder().decode(oggPackets(parseOggPages(stack.apiSim.audio.speeches[1].audio))[0].data.subarray(0, 8))).toBe("OpusHead");
  });

  test("Open WebUI's request (tts-1, alloy, no format) is mp3 from the first model with an API entry, in Coze's first voice", async () => {
    const stack = await withStack(VOICE_STACK);
    const response = await stack.fetch("/v1/audio/speech", { method: "POST", body: JSON.stringify({ model: "tts-1", input: "Hi there", voice: "alloy" }) });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("audio/mpeg");
    const record = stack.apiSim.audio.speeches.at(-1)!;
    expect(record.account).toBe(stack.apiSim.tokens.get(stack.apiEntries[0].coze_api_token)!); // voice-a, not voice-b
    expect(record.voice_id).toBe(stack.apiSim.audio.voices[0].voice_id);
    expect(record.response_format).toBe("mp3");
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(record.audio);
  });

  test("AUDIO_MODEL serves OpenAI's audio names and an empty model", async () => {
    const stack = await withStack({ ...VOICE_STACK, settings: { audioModel: "voice-b" } });
    for (const model of ["tts-1", "gpt-4o-mini-tts", ""]) {
      expect((await stack.fetch("/v1/audio/speech", { method: "POST", body: JSON.stringify({ model, input: "Hi", voice: "alloy" }) })).status).toBe(200);
      expect(stack.apiSim.audio.speeches.at(-1)!.account).toBe(stack.apiSim.tokens.get(stack.apiEntries[1].coze_api_token)!);
    }
  });

  test("a 3 KB Chinese input goes to Coze in pieces under 1,024 bytes, cut after sentences, and comes back as one file", async () => {
    const stack = await withStack(VOICE_STACK);
    const text = Array.from({ length: 80 }, (_, i) => `这是第${i}个句子，我们用它来测试语音合成${"。！？"[i % 3]}`).join("");
    expect(encoder.encode(text).length).toBeGreaterThan(3000);
    const mp3 = new Uint8Array(await (await stack.openai.audio.speech.create({ model: "voice-a", input: text, voice: "小美" })).arrayBuffer());
    // Pieces are asked of Coze a few at once: put the records back in the text's order.
    const inOrder = () => stack.apiSim.audio.speeches.slice().sort((a, b) => text.indexOf(a.input) - text.indexOf(b.input));
    const pieces = inOrder();
    expect(pieces.length).toBeGreaterThanOrEqual(3);
    for (const piece of pieces) {
      expect(encoder.encode(piece.input).length).toBeLessThanOrEqual(1024);
      expect("。！？").toContain(piece.input.at(-1)!);
    }
    expect(pieces.map((p) => p.input).join("")).toBe(text);
    expect(mp3).toEqual(joinMp3(pieces.map((p) => p.audio)));

    stack.apiSim.audio.speeches.length = 0;
    const wav = new Uint8Array(await (await stack.openai.audio.speech.create({ model: "voice-a", input: text, voice: "小美", response_format: "wav" })).arrayBuffer());
    const parsed = parseWav(wav);
    expect(new DataView(wav.buffer).getUint32(4, true)).toBe(wav.length - 8); // one header over everything
    expect(parsed.data).toEqual(concatBytes(inOrder().map((p) => parseWav(p.audio).data)));
  });

  test("aac and flac are refused naming the field; speed is clamped to Coze's 0.2–3", async () => {
    const stack = await withStack(VOICE_STACK);
    for (const format of ["aac", "flac"] as const) {
      const error = await stack.openai.audio.speech.create({ model: "voice-a", input: "Hi", voice: "alloy", response_format: format }).catch((e) => e);
      expect(error.status).toBe(400);
      expect(error.param).toBe("response_format");
      expect(error.message).toContain(format);
    }
    await stack.openai.audio.speech.create({ model: "voice-a", input: "Hi", voice: "alloy", speed: 4 });
    expect(stack.apiSim.audio.speeches.at(-1)!.speed).toBe(3);
    await stack.openai.audio.speech.create({ model: "voice-a", input: "Hi", voice: "alloy", speed: 0.1 });
    expect(stack.apiSim.audio.speeches.at(-1)!.speed).toBe(0.2);
  });

  test("a voice by Coze id, by the entry's voices map, by name on Coze's list (cached), else default_voice", async () => {
    const stack = await withStack({ api: [{ model: "voice-a", voices: { alloy: "7426720361733062665" }, default_voice: "小美" }] });
    const [ava, liam, mei] = stack.apiSim.audio.voices.map((v) => v.voice_id);
    const spoken = async (voice: string) => {
      await stack.openai.audio.speech.create({ model: "voice-a", input: "Hi", voice });
      return stack.apiSim.audio.speeches.at(-1)!.voice_id;
    };
    expect(await spoken(ava)).toBe(ava);
    expect(await spoken("alloy")).toBe(liam);
    expect(await spoken("ava")).toBe(ava);
    expect(await spoken("nova")).toBe(mei);
    expect(stack.apiSim.audio.voiceListCalls).toBe(1);
    // A reload that keeps the entry still takes its new voices map.
    await stack.app.reload([{ ...stack.apiEntries[0], voices: { alloy: ava } }]);
    expect(await spoken("alloy")).toBe(ava);
  });

  test("a model served only through Discord is a 400; a name that is no model a 404", async () => {
    const stack = await withStack(VOICE_STACK);
    const discord = await stack.openai.audio.speech.create({ model: "gpt-test", input: "Hi", voice: "alloy" }).catch((e) => e);
    expect(discord.status).toBe(400);
    expect(discord.message).toContain("audio needs a Coze API entry");
    const unknown = await stack.openai.audio.speech.create({ model: "nope", input: "Hi", voice: "alloy" }).catch((e) => e);
    expect(unknown.status).toBe(404);
    expect(unknown.code).toBe("model_not_found");
    const none = await withStack();
    expect((await none.fetch("/v1/audio/speech", { method: "POST", body: JSON.stringify({ model: "tts-1", input: "Hi", voice: "alloy" }) })).status).toBe(400);
  });

  test("a quota code on one entry fails over to the next, and the entry rests", async () => {
    const stack = await withStack({ api: [{ model: "voice" }, { model: "voice" }] });
    stack.apiSim.audio.refusals.push({ code: 4008, msg: "usage limit" });
    // By id: the refusal meets the speech call itself, not a voice list.
    const body = JSON.stringify({ model: "voice", input: "Hi", voice: stack.apiSim.audio.voices[0].voice_id });
    const first = await stack.fetch("/v1/audio/speech", { method: "POST", body });
    expect(first.status).toBe(200);
    const entries = stack.app.pool.status().find((m) => m.model === "voice")!.entries;
    expect(entries.map((e) => e.cooling_down_seconds > 0)).toEqual([true, false]);
    expect(stack.apiSim.audio.speeches.length).toBe(1);
    expect(stack.apiSim.audio.speeches[0].account).toBe(stack.apiSim.tokens.get(stack.apiEntries[1].coze_api_token)!);
    // While the first rests, the second serves; with both out of quota the client gets a 429.
    expect((await stack.fetch("/v1/audio/speech", { method: "POST", body })).status).toBe(200);
    stack.apiSim.audio.refusals.push({ code: 4008, msg: "usage limit" });
    const exhausted = await stack.fetch("/v1/audio/speech", { method: "POST", body });
    expect(exhausted.status).toBe(429);
    expect(Number(exhausted.headers.get("retry-after"))).toBeGreaterThan(0);
    const metrics = await (await fetch(`${stack.base}/metrics`)).text();
    expect(metrics).toContain('coze_proxy_coze_errors_total{kind="quota"} 2');
    expect(metrics).toContain('coze_proxy_requests_total{route="/v1/audio/speech",status="200"} 2');
  });

  test("a busy answer is waited out on the same entry; a refused token takes the entry down and the request moves on", async () => {
    const stack = await withStack({ api: [{ model: "voice" }, { model: "voice" }] });
    const body = JSON.stringify({ model: "voice", input: "Hi", voice: stack.apiSim.audio.voices[0].voice_id });
    stack.apiSim.audio.refusals.push({ code: 4013, msg: "too many requests" });
    const started = performance.now();
    expect((await stack.fetch("/v1/audio/speech", { method: "POST", body })).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThan(900);
    expect(stack.apiSim.audio.speeches[0].account).toBe(stack.apiSim.tokens.get(stack.apiEntries[0].coze_api_token)!);
    stack.apiSim.audio.refusals.push({ code: 4100, msg: "authentication is invalid", status: 401 });
    expect((await stack.fetch("/v1/audio/speech", { method: "POST", body })).status).toBe(200);
    const entries = stack.app.pool.status().find((m) => m.model === "voice")!.entries;
    expect(entries.map((e) => e.state)).toEqual(["ready", "down"]);
    expect(entries[1].problem).toContain("Coze refused the token");
  });

  test("a bot found in a workspace speaks as its model, and is Open WebUI's default when it is the only one", async () => {
    const stack = await withStack({
      workspaces: (api, index) => {
        const token = api.addToken();
        const id = api.workspaces.addWorkspace(api.tokens.get(token)!);
        api.workspaces.addBot(id, "Voice Bot");
        return [{ kind: "workspace", index, coze_api_token: token, workspace_id: id, api_base: api.url, model_prefix: "" }];
      },
    });
    expect(await json(await fetch(`${stack.base}/v1/audio/models`))).toEqual({ models: [{ id: "voice-bot" }] });
    const response = await stack.fetch("/v1/audio/speech", { method: "POST", body: JSON.stringify({ model: "tts-1", input: "Hi", voice: "alloy" }) });
    expect(response.status).toBe(200);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(stack.apiSim.audio.speeches.at(-1)!.audio);
  });

  test("an entry whose Coze has no audio routes (Coze Studio) is skipped for audio and stays up for chat", async () => {
    const stack = await withStack({ api: [{ model: "voice" }, { model: "voice" }] });
    const studio = new CozeApiSimulator({ dialect: "studio" }).start();
    try {
      const bot = studio.addBot();
      const studioEntry = { ...stack.apiEntries[0], coze_api_token: studio.addToken(), bot_id: bot.id, api_base: studio.url };
      await stack.app.reload([studioEntry, stack.apiEntries[1]]);
      for (let i = 0; i < 3; i++) {
        const response = await stack.fetch("/v1/audio/speech", { method: "POST", body: JSON.stringify({ model: "voice", input: `Hi ${i}`, voice: "Ava" }) });
        expect(response.status).toBe(200);
      }
      expect(stack.apiSim.audio.speeches.length).toBe(3);
      expect(studio.audio.missingRouteCalls).toBe(1); // asked once, then skipped
      const chats = await Promise.all([1, 2].map(() => stack.openai.chat.completions.create({ model: "voice", messages: [{ role: "user", content: "hello" }] })));
      expect(chats.every((c) => c.choices[0].message.content === "API says: hello")).toBe(true);
      expect(studio.chats.length).toBe(1); // Studio still takes its turns at chat
      expect(stack.app.pool.status()[0].entries.every((e) => e.state === "ready")).toBe(true);
      // With only Studio left, audio says why.
      await stack.app.reload([studioEntry]);
      const alone = await stack.fetch("/v1/audio/speech", { method: "POST", body: JSON.stringify({ model: "voice", input: "Hi", voice: "Ava" }) });
      expect(alone.status).toBe(400);
      expect((await json(alone)).error.message).toContain("no audio routes");
    } finally {
      await studio.stop();
    }
  });
});

describe("transcription", () => {
  test("mp3, wav and ogg go to Coze as they are; each response format", async () => {
    const stack = await withStack(VOICE_STACK);
    const ogg = new Uint8Array(await (await stack.openai.audio.speech.create({ model: "voice-a", input: "Hello", voice: "Ava", response_format: "opus" })).arrayBuffer());
    const files = { "a.mp3": mp3Frames(20, { id3: true }), "a.wav": wavFile(16000), "a.ogg": ogg };
    for (const [name, bytes] of Object.entries(files)) {
      const result = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(bytes, name) });
      const record = stack.apiSim.audio.transcriptions.at(-1)!;
      expect(record.bytes).toEqual(new Uint8Array(bytes));
      expect(result.text).toBe(record.text);
    }
    const text = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(files["a.wav"], "a.wav"), response_format: "text" });
    expect(text).toBe(stack.apiSim.audio.transcriptions.at(-1)!.text);
    const verbose = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(files["a.wav"], "a.wav"), response_format: "verbose_json", language: "en" });
    expect(verbose).toMatchObject({ text: stack.apiSim.audio.transcriptions.at(-1)!.text, language: "en", duration: 1 });
    const srt = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(files["a.wav"], "a.wav"), response_format: "srt" }).catch((e) => e);
    expect(srt.status).toBe(400);
    expect(srt.param).toBe("response_format");
  });

  test("LibreChat's browser recording (audio.webm, Opus, language) is remuxed: Coze gets Ogg pages carrying the same Opus packets", async () => {
    const stack = await withStack(VOICE_STACK);
    const packets = Array.from({ length: 150 }, (_, i) => opusPacket(i, 1, 50 + (i % 70)));
    const response = await fetch(`${stack.base}/v1/audio/transcriptions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      body: form({ model: "whisper-1", language: "en" }, { name: "audio.webm", type: "audio/webm", bytes: webmRecording(packets) }),
    });
    expect(response.status).toBe(200);
    const record = stack.apiSim.audio.transcriptions.at(-1)!;
    expect(record.format).toBe("ogg");
    expect(oggPackets(parseOggPages(record.bytes)).slice(2).map((p) => p.data)).toEqual(packets);
    expect((await json(response)).text).toBe(record.text);
  });

  test("Open WebUI's request: an empty model, an MP3 file", async () => {
    const stack = await withStack(VOICE_STACK);
    const response = await fetch(`${stack.base}/v1/audio/transcriptions`, { method: "POST", headers: { authorization: `Bearer ${KEY}` }, body: form({ model: "" }, { name: "recording.mp3", type: "audio/mpeg", bytes: mp3Frames(5) }) });
    expect(response.status).toBe(200);
    expect(stack.apiSim.audio.transcriptions.at(-1)!.account).toBe(stack.apiSim.tokens.get(stack.apiEntries[0].coze_api_token)!);
  });

  test("m4a and flac are refused naming the format; stream is refused; a file that is no audio too", async () => {
    const stack = await withStack(VOICE_STACK);
    const m4a = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(m4aFile(), "a.mp3") }).catch((e) => e);
    expect(m4a.status).toBe(400);
    expect(m4a.message).toContain("m4a");
    const flac = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(encoder.encode("fLaC\0\0\0\x22rest"), "a.flac") }).catch((e) => e);
    expect(flac.message).toContain("FLAC");
    const streamed = await fetch(`${stack.base}/v1/audio/transcriptions`, { method: "POST", headers: { authorization: `Bearer ${KEY}` }, body: form({ model: "whisper-1", stream: "true" }, { name: "a.wav", type: "audio/wav", bytes: wavFile(100) }) });
    expect(streamed.status).toBe(400);
    expect((await json(streamed)).error.param).toBe("stream");
    const text = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(encoder.encode("just some text"), "a.wav") }).catch((e) => e);
    expect(text.status).toBe(400);
    expect(text.param).toBe("file");
    expect(stack.apiSim.audio.transcriptions.length).toBe(0);
  });

  test("a 24 MB WAV is cut into pieces under 10 MB whose texts are joined with a space; 26 MB is a 413", async () => {
    const stack = await withStack(VOICE_STACK);
    const big = wavFile(12 * 1024 * 1024); // 24 MiB of samples
    const result = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(big, "long.wav") });
    const pieces = stack.apiSim.audio.transcriptions;
    expect(pieces.length).toBe(3);
    for (const piece of pieces) expect(piece.bytes.length).toBeLessThan(10_000_000);
    expect(concatBytes(pieces.map((p) => parseWav(p.bytes).data))).toEqual(new Uint8Array(parseWav(big).data));
    expect(result.text).toBe(pieces.map((p) => p.text).join(" "));
    const huge = await fetch(`${stack.base}/v1/audio/transcriptions`, { method: "POST", headers: { authorization: `Bearer ${KEY}` }, body: form({ model: "whisper-1" }, { name: "huge.wav", type: "audio/wav", bytes: new Uint8Array(26 * 1024 * 1024) }) });
    expect(huge.status).toBe(413);
    expect((await json(huge)).error.code).toBe("request_too_large");
  });

  test("an upload is charged to IMAGE_INPUT_MEMORY while it is handled; one that finds no room within the start deadline is a 503 with retry-after", async () => {
    const stack = await withStack({ ...VOICE_STACK, settings: { imageInputMemory: 16 * 1024 * 1024, replyStartTimeoutMs: 600 } });
    const memory = stack.app.inputMemory;
    const upload = () => fetch(`${stack.base}/v1/audio/transcriptions`, { method: "POST", headers: { authorization: `Bearer ${KEY}` }, body: form({ model: "whisper-1" }, { name: "a.wav", type: "audio/wav", bytes: wavFile(100_000) }) });
    // Its copies are reserved (at least the body's twice over), and all given back when it ends.
    expect((await upload()).status).toBe(200);
    expect(memory.peak).toBeGreaterThan(2 * 200_000);
    expect(memory.inUse).toBe(0);
    // Images (or other uploads) hold the whole budget: the upload waits, then is refused, and Coze never hears of it.
    const held = await memory.reserve(memory.limit, Date.now() + 1000, new AbortController().signal);
    const asked = stack.apiSim.audio.transcriptions.length;
    const refused = await upload();
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect((await json(refused)).error.code).toBe("image_memory_full");
    expect(stack.apiSim.audio.transcriptions.length).toBe(asked);
    // Room given back within the deadline lets a waiting upload through.
    const waiting = upload();
    await Bun.sleep(100);
    held.release();
    expect((await waiting).status).toBe(200);
    expect(memory.inUse).toBe(0);
  });

  test("an Ogg Opus file longer than Coze's 30 minutes, though small, is cut by time at page boundaries", async () => {
    const stack = await withStack(VOICE_STACK);
    const ogg = longOggOpus(31 * 60 * 50); // 31 minutes of 20 ms packets, about 0.4 MB
    const result = await stack.openai.audio.transcriptions.create({ model: "whisper-1", file: await toFile(ogg, "long.ogg"), response_format: "verbose_json" });
    const pieces = stack.apiSim.audio.transcriptions;
    expect(pieces.length).toBe(2);
    expect(pieces.map((p) => p.format)).toEqual(["ogg", "ogg"]);
    expect(oggPackets(parseOggPages(pieces[0].bytes)).length + oggPackets(parseOggPages(pieces[1].bytes)).length).toBe(2 * 2 + 31 * 60 * 50);
    expect(result.text).toBe(pieces.map((p) => p.text).join(" "));
    expect(result.duration).toBeCloseTo((31 * 60 * 50 * 960 - 312) / 48000, 3);
  });
});

describe("lists for Open WebUI", () => {
  test("/v1/audio/voices, open to all, costs Coze one call a minute when the list fails, and none for an entry without audio", async () => {
    const stack = await withStack({ api: [{ model: "voice", voices: { alloy: "7426720361733062665" } }, { model: "voice", voices: { alloy: "7426720361733046281" } }] });
    const studio = new CozeApiSimulator({ dialect: "studio" }).start();
    try {
      // The first entry's Coze has no audio routes (Studio): a speech request finds that out once. Both entries
      // map the voice, so neither asks for its list.
      const studioEntry = { ...stack.apiEntries[0], coze_api_token: studio.addToken(), bot_id: studio.addBot().id, api_base: studio.url };
      await stack.app.reload([studioEntry, stack.apiEntries[1]]);
      expect((await stack.fetch("/v1/audio/speech", { method: "POST", body: JSON.stringify({ model: "voice", input: "Hi", voice: "alloy" }) })).status).toBe(200);
      expect(studio.audio.missingRouteCalls).toBe(1);
      // The second entry's list fails (Coze's 5000) on the first ask; a second would succeed.
      stack.apiSim.audio.refusals.push({ code: 5000, msg: "internal error", status: 500 }, { code: 5000, msg: "internal error", status: 500 });
      for (let i = 0; i < 3; i++) {
        const voices = await fetch(`${stack.base}/v1/audio/voices`);
        expect(voices.status).toBe(200);
        expect((await json(voices)).voices).toEqual([]); // a failed list leaves out its entry, and the Studio entry is not asked
      }
      expect(studio.audio.missingRouteCalls).toBe(1);
      expect(stack.apiSim.audio.refusals).toHaveLength(1); // the failed list was asked once, then remembered
    } finally {
      await studio.stop();
    }
  });

  test("/v1/audio/voices and /v1/audio/models answer without a key, in Open WebUI's shapes", async () => {
    const stack = await withStack({ entries: [{ model: "gpt-test" }], api: [{ model: "voice-a", voices: { alloy: "7426720361733062665" } }] });
    const voices = await fetch(`${stack.base}/v1/audio/voices`);
    expect(voices.status).toBe(200);
    expect((await json(voices)).voices).toEqual([
      { id: "alloy", name: "alloy" },
      ...stack.apiSim.audio.voices.map((v) => ({ id: v.voice_id, name: v.name })),
    ]);
    const models = await fetch(`${stack.base}/v1/audio/models`);
    expect(await json(models)).toEqual({ models: [{ id: "voice-a" }] });
    // Coze pages its list by 100: a voice on the second page is found by name.
    const more = await withStack({ api: [{ model: "voice-a" }] });
    for (let i = 0; i < 150; i++) more.apiSim.audio.voices.push({ voice_id: String(7500000000000000000n + BigInt(i)), name: `Voice ${i}`, language_code: "en" });
    expect((await json(await fetch(`${more.base}/v1/audio/voices`))).voices).toHaveLength(153);
    await more.openai.audio.speech.create({ model: "voice-a", input: "Hi", voice: "Voice 149" });
    expect(more.apiSim.audio.speeches.at(-1)!.voice_id).toBe("7500000000000000149");
    expect(more.apiSim.audio.voiceListCalls).toBe(2); // two pages, once: the speech used the cached list
    // The other routes still need a key.
    expect((await fetch(`${stack.base}/v1/audio/speech`, { method: "POST", body: "{}" })).status).toBe(401);
  });
});
