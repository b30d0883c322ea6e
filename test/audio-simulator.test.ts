/**
 * The simulated Coze API's audio routes, with the official `@coze/api` SDK
 * as the client: what the SDK sends and expects is what the simulator
 * speaks, and the simulator holds Coze's limits.
 */
import { APIError, CozeAPI } from "@coze/api";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createReadStream, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseMp3 } from "../lib/audio/mp3.ts";
import { oggPackets, parseOggPages } from "../lib/audio/ogg-page.ts";
import { parseWav } from "../lib/audio/wav.ts";
import { CozeApiSimulator } from "../lib/simulator/coze-api.ts";
import { mp3Frames, wavFile } from "./support/audio-files.ts";

describe("the simulated Coze API's audio routes speak what the official SDK expects", () => {
  const sim = new CozeApiSimulator();
  let token: string;
  beforeAll(() => {
    sim.start();
    token = sim.addToken();
  });
  afterAll(() => sim.stop());
  const sdk = () => new CozeAPI({ token, baseURL: sim.url });
  const dir = mkdtempSync(join(tmpdir(), "coze-audio-sdk-"));
  const file = (name: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, name), bytes);
    return createReadStream(join(dir, name));
  };

  test("voices.list pages with page_num, page_size and has_more", async () => {
    const first = await sdk().audio.voices.list({ page_num: 1, page_size: 2 });
    expect(first.voice_list.map((v) => v.name)).toEqual(["Ava", "Liam"]);
    expect(first.has_more).toBe(true);
    const second = await sdk().audio.voices.list({ page_num: 2, page_size: 2 });
    expect(second.voice_list.map((v) => v.voice_id)).toEqual([sim.audio.voices[2].voice_id]);
    expect(second.has_more).toBe(false);
    expect(await sdk().audio.voices.list({ page_size: 101 }).catch((e) => e)).toBeInstanceOf(APIError);
  });

  test("speech.create answers audio in each format, the same for the same input, other for another", async () => {
    const voice_id = sim.audio.voices[0].voice_id;
    const mp3 = new Uint8Array(await sdk().audio.speech.create({ input: "Hello there", voice_id }));
    expect(parseMp3(mp3).length).toBeGreaterThan(0);
    expect(sim.audio.speeches.at(-1)).toMatchObject({ response_format: "mp3", sample_rate: 24000, speed: 1 });
    expect(new Uint8Array(await sdk().audio.speech.create({ input: "Hello there", voice_id }))).toEqual(mp3);
    expect(new Uint8Array(await sdk().audio.speech.create({ input: "Hello again", voice_id }))).not.toEqual(mp3);
    const wav = parseWav(new Uint8Array(await sdk().audio.speech.create({ input: "Hello", voice_id, response_format: "wav", sample_rate: 16000 })));
    expect(wav.sampleRate).toBe(16000);
    expect(wav.data.length).toBe(16000 * 0.05 * 2); // 5 bytes of input, 10 ms each
    const ogg = new Uint8Array(await sdk().audio.speech.create({ input: "Hello", voice_id, response_format: "opus" }));
    const packets = oggPackets(parseOggPages(ogg));
    expect(new TextDecoder().decode(packets[0].data.subarray(0, 8))).toBe("OpusHead");
    const pcm = new Uint8Array(await sdk().audio.speech.create({ input: "Hello", voice_id, response_format: "pcm", speed: 2 }));
    expect(pcm.length).toBe(24000 * 0.025 * 2);
  });

  test("speech refuses what Coze refuses: over 1,024 UTF-8 bytes, an unknown voice, speed outside 0.2–3", async () => {
    const voice_id = sim.audio.voices[0].voice_id;
    // The SDK asks for an ArrayBuffer and hands back Coze's JSON error envelope as bytes: read it.
    const refusal = async (params: Parameters<ReturnType<typeof sdk>["audio"]["speech"]["create"]>[0]) => JSON.parse(new TextDecoder().decode(await sdk().audio.speech.create(params)));
    const long = await refusal({ input: "语".repeat(342), voice_id }); // 1,026 bytes
    expect(long.code).toBe(4000);
    expect(long.msg).toContain("1024 bytes");
    expect(parseMp3(new Uint8Array(await sdk().audio.speech.create({ input: "语".repeat(341), voice_id }))).length).toBeGreaterThan(0);
    expect((await refusal({ input: "hi", voice_id: "123" })).code).toBe(4000);
    expect((await refusal({ input: "hi", voice_id, speed: 3.5 })).code).toBe(4000);
  });

  test("transcriptions.create takes wav and mp3, answers {text} from the bytes, refuses other formats", async () => {
    const wav = await sdk().audio.transcriptions.create({ file: file("a.wav", wavFile(16000)) });
    expect(wav.text).toMatch(/^heard wav 32044 bytes [0-9a-f]{12}$/);
    expect(sim.audio.transcriptions.at(-1)!.format).toBe("wav");
    const mp3 = await sdk().audio.transcriptions.create({ file: file("a.mp3", mp3Frames(10)) });
    expect(mp3.text).toMatch(/^heard mp3 4170 bytes/);
    const webm = await sdk().audio.transcriptions.create({ file: file("a.webm", new Uint8Array([0x1a, 0x45, 0xdf, 0xa3, 0, 0])) }).catch((e) => e);
    expect(webm).toBeInstanceOf(APIError);
    expect(webm.msg).toContain("only ogg, mp3 and wav");
  });

  test("transcription refuses a file over 10 MB, and an Ogg file a decoder would stop on", async () => {
    const big = await sdk().audio.transcriptions.create({ file: file("big.wav", wavFile(5_300_000)) }).catch((e) => e);
    expect(big.msg).toContain("10MB");
    const ogg = new Uint8Array(await sdk().audio.speech.create({ input: "Hello", voice_id: sim.audio.voices[0].voice_id, response_format: "ogg" }));
    ogg[ogg.length - 1] ^= 1;
    expect((await sdk().audio.transcriptions.create({ file: file("bad.ogg", ogg) }).catch((e) => e)).msg).toContain("checksum");
  });

  test("Coze Studio (the studio dialect) has no audio routes: every one is a 404", async () => {
    const studio = new CozeApiSimulator({ dialect: "studio" }).start();
    try {
      const studioToken = studio.addToken();
      for (const [method, path] of [["GET", "/v1/audio/voices"], ["POST", "/v1/audio/speech"], ["POST", "/v1/audio/transcriptions"]]) {
        const response = await fetch(`${studio.url}${path}`, { method, headers: { authorization: `Bearer ${studioToken}` } });
        expect(response.status).toBe(404);
      }
      expect(await new CozeAPI({ token: studioToken, baseURL: studio.url }).audio.voices.list().catch((e) => e)).toBeInstanceOf(Error);
      expect(studio.audio.missingRouteCalls).toBe(4);
    } finally {
      await studio.stop();
    }
  });
});
