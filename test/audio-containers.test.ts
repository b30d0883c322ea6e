/**
 * The audio container code (lib/audio): format sniffing, WAV, MP3 and Ogg
 * joins and cuts at sample, frame and page boundaries, the WebM/Opus → Ogg
 * Opus remux, and the speech text split. Pure code, no network.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { concatBytes } from "../lib/audio/bytes.ts";
import { cutMp3, joinMp3, mp3Duration, parseMp3 } from "../lib/audio/mp3.ts";
import { cutOgg, joinOgg, oggDuration } from "../lib/audio/ogg.ts";
import { FIRST_PAGE, LAST_PAGE, oggCrc, oggPackets, pagesFor, parseOggPages, writeOggPage } from "../lib/audio/ogg-page.ts";
import { opusPacketSamples, parseOpusHead } from "../lib/audio/opus.ts";
import { sniffAudio } from "../lib/audio/sniff.ts";
import { splitSpeechInput } from "../lib/audio/speech-text.ts";
import { cutWav, joinWav, parseWav } from "../lib/audio/wav.ts";
import { webmToOggOpus } from "../lib/audio/webm-to-ogg.ts";
import { parseWebm } from "../lib/audio/webm.ts";
import { m4aFile, mp3Frames, opusHead, opusPacket, wavFile, webmRecording } from "./support/audio-files.ts";

const encoder = new TextEncoder();
const bytesOf = (text: string) => encoder.encode(text).length;
/** An MP3 a real encoder wrote (a devDependency's test fixture): an ID3 tag and 96 frames. */
const REAL_MP3 = new Uint8Array(readFileSync(join(import.meta.dir, "..", "node_modules", "@ai-sdk", "openai", "src", "transcription", "transcription-test.mp3")));

/** An Ogg Opus file of these packets, written by the page writer. */
function oggOpus(packets: Uint8Array[], preSkip = 312, serial = 77): Uint8Array {
  const granules: bigint[] = [];
  let total = 0n;
  for (const p of packets) granules.push((total += BigInt(opusPacketSamples(p))));
  const pages = [...pagesFor([opusHead(1, preSkip)], [0n], serial, 0, FIRST_PAGE), ...pagesFor([encoder.encode("OpusTags\0\0\0\0\0\0\0\0")], [0n], serial, 1)];
  pages.push(...pagesFor(packets, granules, serial, pages.length, 0, 2000));
  pages[pages.length - 1].flags |= LAST_PAGE;
  return concatBytes(pages.map(writeOggPage));
}

describe("sniffing", () => {
  test("each container by its first bytes, never a name", () => {
    expect(sniffAudio(wavFile(10))).toBe("wav");
    expect(sniffAudio(mp3Frames(2))).toBe("mp3");
    expect(sniffAudio(mp3Frames(2, { id3: true }))).toBe("mp3");
    expect(sniffAudio(REAL_MP3)).toBe("mp3");
    expect(sniffAudio(oggOpus([opusPacket(1)]))).toBe("ogg");
    expect(sniffAudio(webmRecording([opusPacket(1)]))).toBe("webm");
    expect(sniffAudio(m4aFile())).toBe("mp4");
    expect(sniffAudio(encoder.encode("fLaC\0\0\0\x22"))).toBe("flac");
    expect(sniffAudio(encoder.encode("hello, not audio"))).toBeUndefined();
    expect(sniffAudio(new Uint8Array(0))).toBeUndefined();
  });
});

describe("WAV", () => {
  test("a join has one header and every sample in order", () => {
    const a = wavFile(1000);
    const b = wavFile(501, { extraChunk: true });
    const joined = parseWav(joinWav([a, b]));
    expect(joined.data.length).toBe((1000 + 501) * 2);
    expect(joined.data).toEqual(concatBytes([parseWav(a).data, parseWav(b).data]));
    // One header: the RIFF size covers the whole file.
    const bytes = joinWav([a, b]);
    expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(bytes.length - 8);
  });

  test("a join refuses pieces of different formats", () => {
    expect(() => joinWav([wavFile(10), wavFile(10, { rate: 8000 })])).toThrow(/piece 1/);
  });

  test("a cut gives valid files under the limits, at sample frame boundaries, whose samples rejoin exactly", () => {
    const file = wavFile(100_000, { channels: 2 }); // 400,000 bytes of samples
    const pieces = cutWav(file, 100_001);
    expect(pieces.length).toBe(5);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(100_001);
      expect(parseWav(piece).data.length % 4).toBe(0);
    }
    expect(concatBytes(pieces.map((p) => parseWav(p).data))).toEqual(new Uint8Array(parseWav(file).data));
    // By time: 100,000 frames at 16 kHz are 6.25 s; at most 2 s a piece.
    const timed = cutWav(file, 10_000_000, 2);
    expect(timed.length).toBe(4);
    expect(cutWav(file, 10_000_000)).toEqual([file]);
  });

  test("a data size a streaming encoder left at 0xFFFFFFFF reads to the end of the file", () => {
    const file = wavFile(100);
    new DataView(file.buffer).setUint32(40, 0xffffffff, true);
    expect(parseWav(file).data.length).toBe(200);
  });
});

describe("MP3", () => {
  test("frames of a real encoder's file, its ID3 tag skipped", () => {
    const frames = parseMp3(REAL_MP3);
    expect(frames.length).toBe(96);
    expect(frames[0].offset).toBe(45);
    expect(frames.reduce((n, f) => n + f.length, 0)).toBe(REAL_MP3.length - 45);
    expect(mp3Duration(frames)).toBeCloseTo((96 * 1152) / 44100, 5);
  });

  test("a join is the frames in order, tags and Xing frames dropped", () => {
    const joined = joinMp3([mp3Frames(3, { id3: true, xing: true }), mp3Frames(2)]);
    expect(joined.length).toBe(5 * 417);
    expect(parseMp3(joined).map((f) => joined[f.offset + 10])).toEqual([0, 1, 2, 0, 1]);
  });

  test("a cut falls between whole frames, under the limits, and rejoins to the same frames", () => {
    const pieces = cutMp3(REAL_MP3, 10_000);
    expect(pieces.length).toBe(5);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(10_000);
      expect(piece.length % 417 === 0 || parseMp3(piece).length > 0).toBe(true);
    }
    expect(concatBytes(pieces)).toEqual(REAL_MP3.subarray(45));
    expect(cutMp3(REAL_MP3, 1_000_000, 1).length).toBe(3); // 2.5 s at most 1 s a piece
  });
});

describe("Ogg", () => {
  test("the checksum is Ogg's CRC-32 (polynomial 0x04C11DB7, init 0, no reflection)", () => {
    expect(oggCrc(encoder.encode("123456789"))).toBe(0x89a1897f);
  });

  test("pages parse back to the same packets, a packet longer than a page spanning pages", () => {
    const packets = [opusPacket(1), opusPacket(2, 3, 70_000), opusPacket(3, 1, 510)];
    const pages = parseOggPages(oggOpus(packets));
    expect(oggPackets(pages).slice(2).map((p) => p.data)).toEqual(packets);
    expect(pages.some((p) => p.flags & 1)).toBe(true);
  });

  test("a damaged page is refused", () => {
    const file = oggOpus([opusPacket(1)]);
    file[file.length - 1] ^= 1;
    expect(() => parseOggPages(file)).toThrow(/checksum/);
  });

  test("a join: one stream, one serial, pages renumbered, granules continued, first and last page flags", () => {
    const a = oggOpus(Array.from({ length: 40 }, (_, i) => opusPacket(i)), 312, 1);
    const b = oggOpus(Array.from({ length: 30 }, (_, i) => opusPacket(100 + i, 2)), 312, 2);
    const joined = joinOgg([a, b]);
    const pages = parseOggPages(joined);
    expect(new Set(pages.map((p) => p.serial))).toEqual(new Set([1]));
    expect(pages.map((p) => p.sequence)).toEqual(pages.map((_, i) => i));
    expect(pages.map((p) => p.flags & 6)).toEqual(pages.map((_, i) => (i === 0 ? 2 : i === pages.length - 1 ? 4 : 0)));
    const packets = oggPackets(pages).map((p) => p.data);
    expect(packets.filter((p) => p[0] === 0x4f).length).toBe(2); // one OpusHead, one OpusTags
    expect(packets.length).toBe(2 + 70);
    expect(pages.at(-1)!.granule).toBe(BigInt(40 * 960 + 30 * 1920));
    const granules = pages.map((p) => p.granule).filter((g) => g > 0n);
    expect(granules).toEqual([...granules].sort((x, y) => (x < y ? -1 : 1)));
    expect(oggDuration(joined)).toBeCloseTo((40 * 960 + 30 * 1920 - 312) / 48000, 5);
  });

  test("a cut: pieces under the limits at page boundaries, each with the headers and its own granules", () => {
    const packets = Array.from({ length: 300 }, (_, i) => opusPacket(i, 1, 200));
    const file = oggOpus(packets);
    const pieces = cutOgg(file, 15_000);
    expect(pieces.length).toBeGreaterThan(3);
    const audio: Uint8Array[] = [];
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(15_000);
      const pages = parseOggPages(piece);
      expect(pages[0].flags & 2).toBe(2);
      expect(pages.at(-1)!.flags & 4).toBe(4);
      expect(pages.map((p) => p.sequence)).toEqual(pages.map((_, i) => i));
      const own = oggPackets(pages).slice(2).map((p) => p.data);
      expect(pages.at(-1)!.granule).toBe(BigInt(own.reduce((n, p) => n + opusPacketSamples(p), 0)));
      audio.push(...own);
    }
    expect(audio).toEqual(packets);
    // By time: 300 packets of 20 ms are 6 s; at most 2.5 s a piece.
    expect(cutOgg(file, 10_000_000, 2.5).length).toBe(3);
  });
});

describe("WebM/Opus → Ogg Opus", () => {
  test("the Opus packets move into Ogg pages unchanged, the video track's blocks left out", () => {
    const packets = Array.from({ length: 120 }, (_, i) => opusPacket(i, 1 + (i % 3), 40 + (i % 90)));
    const webm = webmRecording(packets);
    expect(parseWebm(webm).tracks.map((t) => t.codecId)).toEqual(["A_OPUS", "V_VP8"]);
    const ogg = webmToOggOpus(webm);
    const pages = parseOggPages(ogg);
    const carried = oggPackets(pages).map((p) => p.data);
    expect(parseOpusHead(carried[0])).toEqual({ channels: 1, preSkip: 312, inputRate: 48000 });
    expect(new TextDecoder().decode(carried[1].subarray(0, 8))).toBe("OpusTags");
    expect(carried.slice(2)).toEqual(packets);
    expect(pages.at(-1)!.granule).toBe(BigInt(packets.reduce((n, p) => n + opusPacketSamples(p), 0)));
    expect(pages[0].flags).toBe(2);
    expect(pages.at(-1)!.flags & 4).toBe(4);
    expect(pages[2].flags & 1).toBe(0); // sound starts on a page of its own
  });

  test("a recording cut off mid-block, or padded with zeros, keeps the packets before the cut", () => {
    const packets = Array.from({ length: 10 }, (_, i) => opusPacket(i));
    const webm = webmRecording(packets);
    const carried = (bytes: Uint8Array) => oggPackets(parseOggPages(webmToOggOpus(bytes))).slice(2).map((p) => p.data);
    expect(carried(webm.subarray(0, webm.length - 30))).toEqual(packets.slice(0, 9));
    expect(carried(concatBytes([webm, new Uint8Array(64)]))).toEqual(packets);
  });

  test("laced blocks (BlockGroups) unlace into their packets", () => {
    const packets = Array.from({ length: 9 }, (_, i) => opusPacket(i, 1, 100 + i * 60));
    expect(oggPackets(parseOggPages(webmToOggOpus(webmRecording(packets, { laced: true })))).slice(2).map((p) => p.data)).toEqual(packets);
  });

  test("without an OpusHead in CodecPrivate, one is built from the track's channels and codec delay", () => {
    const ogg = webmToOggOpus(webmRecording([opusPacket(1)], { head: new Uint8Array([1, 2, 3]) }));
    expect(parseOpusHead(oggPackets(parseOggPages(ogg))[0].data)).toEqual({ channels: 1, preSkip: 312, inputRate: 48000 });
  });

  test("a WebM without Opus audio is refused, saying what it holds", () => {
    const webm = webmRecording([opusPacket(1)]);
    const patched = webm.slice();
    const at = Buffer.from(patched).indexOf("A_OPUS");
    patched.set(encoder.encode("A_AAC\0"), at);
    expect(() => webmToOggOpus(patched)).toThrow(/no Opus audio track \(A_AAC, V_VP8\)/);
  });
});

describe("speech input split", () => {
  test("input within 1,024 bytes is one piece", () => {
    expect(splitSpeechInput("  Hello there.  ")).toEqual(["Hello there."]);
    expect(splitSpeechInput("")).toEqual([]);
  });

  test("3 KB of Chinese is cut after 。！？, each piece within 1,024 bytes, nothing lost", () => {
    const sentences = Array.from({ length: 70 }, (_, i) => `这是第${i}个句子，用来测试${"语音".repeat(i % 5)}${"。！？"[i % 3]}`);
    const text = sentences.join("");
    expect(bytesOf(text)).toBeGreaterThan(3000);
    const pieces = splitSpeechInput(text);
    expect(pieces.length).toBeGreaterThanOrEqual(3);
    for (const piece of pieces) {
      expect(bytesOf(piece)).toBeLessThanOrEqual(1024);
      expect("。！？").toContain(piece.at(-1)!);
    }
    expect(pieces.join("")).toBe(text);
  });

  test("English cuts after a sentence, never inside 3.14; without sentence ends, at a space", () => {
    const text = `${"Pi is 3.14 and that is fine. ".repeat(30)}`;
    for (const piece of splitSpeechInput(text)) {
      expect(piece.endsWith(".")).toBe(true);
      expect(piece.endsWith("3.")).toBe(false);
      expect(bytesOf(piece)).toBeLessThanOrEqual(1024);
    }
    const words = "word ".repeat(400).trim();
    const pieces = splitSpeechInput(words);
    expect(pieces.every((p) => /^(word ?)+$/.test(p) && !p.endsWith(" "))).toBe(true);
    expect(pieces.join(" ")).toBe(words);
  });

  test("with neither, between characters: never inside a UTF-8 sequence or an emoji", () => {
    const text = "汉".repeat(700) + "👨‍👩‍👧".repeat(100);
    const pieces = splitSpeechInput(text, 1024);
    for (const piece of pieces) {
      expect(bytesOf(piece)).toBeLessThanOrEqual(1024);
      expect(piece).not.toContain("\uFFFD");
    }
    expect(pieces.join("")).toBe(text);
    expect(pieces.every((p) => [...new Intl.Segmenter().segment(p)].every((s) => s.segment === "汉" || s.segment === "👨‍👩‍👧"))).toBe(true);
  });
});
