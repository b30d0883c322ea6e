import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseBots } from "../lib/config/bots.ts";
import { ConfigError } from "../lib/config/config-error.ts";
import { parseDotenv } from "../lib/config/dotenv.ts";
import { parseJsonc } from "../lib/config/jsonc.ts";
import { readSettings } from "../lib/config/settings.ts";
import { spawnCli } from "./support/process.ts";

const ID = "123456789012345678";
const entry = (over: Record<string, unknown> = {}) => ({
  model: "gpt-4o",
  bot_token: "tok.en",
  coze_bot_id: ID,
  guild_id: ID,
  channel_id: ID,
  ...over,
});
const bots = (list: unknown) => parseBots(JSON.stringify(list), "bot.json");
const failure = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("bot.json", () => {
  test("the seed's commented template parses, comments and trailing commas included", () => {
    const text = `[
      {
        "model": "gpt-3.5-turbo", // bot模型可自定义
        "bot_token": "MTI.abc//not-a-comment", /* block */
        "coze_bot_id": "${ID}",
        "guid_id": "${ID}",
        "channel_id": "${ID}", // trailing comma next
      },
    ]`;
    const { entries, warnings } = parseBots(text, "bot.json");
    expect(entries).toEqual([{ kind: "discord", index: 0, model: "gpt-3.5-turbo", bot_token: "MTI.abc//not-a-comment", coze_bot_id: ID, guild_id: ID, channel_id: ID, threads: true }]);
    expect(warnings).toEqual(['bot.json entry 0: "guid_id" is read as "guild_id"; rename it to silence this warning']);
  });

  test("bot.json.example is a valid configuration", async () => {
    const text = await Bun.file(join(import.meta.dir, "..", "bot.json.example")).text();
    const { entries, warnings } = parseBots(text, "bot.json.example");
    expect(entries.map((e) => `${e.model} ${e.kind}`)).toEqual(["gpt-4o discord", "gpt-4o discord", "gpt-4o api", "dall-e-3 discord"]);
    expect(warnings).toEqual([]);
  });

  test("jsonc keeps strings with comment markers and escaped quotes intact", () => {
    expect(parseJsonc('{"a": "x // y /* z */", "b": "q\\"//", }')).toEqual({ a: "x // y /* z */", b: 'q"//' });
  });

  test.each([
    ["a missing field", [entry(), entry({ channel_id: undefined })], 'bot.json entry 1 is missing "channel_id"'],
    ["a wrong type", [entry({ coze_bot_id: 123456789012345678 })], 'bot.json entry 0 field "coze_bot_id" must be a string, got a number'],
    ["an empty string", [entry({ model: " " })], 'bot.json entry 0 field "model" is empty'],
    ["an id that is no snowflake", [entry({ guild_id: "my-guild" })], 'bot.json entry 0 field "guild_id" is not a Discord id (17 to 20 digits)'],
    ["an entry that is no object", [entry(), "x"], "bot.json entry 1 must be an object"],
    ["no array", { model: "x" }, "bot.json must be a JSON array of bot entries"],
    ["an empty array", [], "bot.json has no bot entries"],
  ])("%s names the entry and field", (_name, list, message) => {
    expect(failure(() => bots(list))).toBe(message);
  });

  test("broken JSON says where", () => {
    expect(failure(() => parseBots('[{"model": }]', "bot.json"))).toStartWith("bot.json is not valid JSON:");
  });

  test("an exact duplicate entry is a warning, not an error", () => {
    const { entries, warnings } = bots([entry(), entry()]);
    expect(entries).toHaveLength(2);
    expect(warnings).toEqual(["bot.json entry 1 repeats entry 0 exactly; it only makes that bot take more turns"]);
  });
});

describe("bot.json entries on Coze's API", () => {
  const api = (over: Record<string, unknown> = {}) => ({ model: "gpt-4o", coze_api_token: "pat_x", bot_id: "7351234567890123456", ...over });

  test("api_base defaults to api.coze.com; both kinds may serve one model", () => {
    const { entries } = bots([entry(), api(), api({ api_base: "https://api.coze.cn/" })]);
    expect(entries.map((e) => e.kind)).toEqual(["discord", "api", "api"]);
    expect(entries[1]).toEqual({ kind: "api", index: 1, model: "gpt-4o", coze_api_token: "pat_x", bot_id: "7351234567890123456", api_base: "https://api.coze.com" });
    expect(entries[2]).toMatchObject({ api_base: "https://api.coze.cn" });
  });

  test.each([
    ["both kinds of field", { ...entry(), coze_api_token: "pat_x" }, 'bot.json entry 0 mixes a Discord field ("bot_token") with a Coze API field ("coze_api_token")'],
    ["neither kind", { model: "gpt-4o" }, 'bot.json entry 0 is missing "bot_token" (to reach Coze through Discord) or "coze_api_token" (through Coze\'s API)'],
    ["no bot_id", api({ bot_id: undefined }), 'bot.json entry 0 is missing "bot_id"'],
    ["a bot_id that is no id", api({ bot_id: "my bot" }), 'bot.json entry 0 field "bot_id" is not a Coze bot id'],
    ["an api_base that is no URL", api({ api_base: "api.coze.com" }), 'bot.json entry 0 field "api_base" is not a URL'],
    ["an empty token", api({ coze_api_token: " " }), 'bot.json entry 0 field "coze_api_token" is empty'],
  ])("%s names the entry and the field", (_what, raw, message) => {
    expect(failure(() => bots([raw]))).toStartWith(message);
  });
});

describe("environment", () => {
  test("defaults", () => {
    const s = readSettings({});
    expect(s).toMatchObject({
      port: 8080,
      botConfig: "bot.json",
      logLevel: "info",
      discordApiUrl: "https://discord.com/api",
      proxyUrl: undefined,
      replyStartTimeoutMs: 60_000,
      replyQuietMs: 15_000,
      replyTimeoutMs: 300_000,
      authGenerated: true,
      promptMaxPosts: 8,
    });
    expect(s.authTokens).toHaveLength(1);
    expect(s.authTokens[0]).toMatch(/^sk-[\w-]{32}$/);
    expect(readSettings({}).authTokens[0]).not.toBe(s.authTokens[0]);
  });

  test("AUTH_TOKEN is a comma-separated list, empty items ignored", () => {
    const s = readSettings({ AUTH_TOKEN: " a, ,b,," });
    expect(s.authTokens).toEqual(["a", "b"]);
    expect(s.authGenerated).toBe(false);
  });

  test("sizes are bytes or a number with KiB, MiB or GiB", () => {
    expect(readSettings({}).imageInputMemory).toBe(256 * 1024 * 1024);
    const s = readSettings({ IMAGE_INPUT_MEMORY: "64 MiB", MAX_BODY_SIZE: "512KiB", IMAGE_STORE_MAX: "1.5 GiB" });
    expect([s.imageInputMemory, s.maxBodyBytes, s.imageStoreMax]).toEqual([64 << 20, 512 << 10, 1.5 * 2 ** 30]);
    expect(readSettings({ MAX_BODY_SIZE: "2048" }).maxBodyBytes).toBe(2048);
  });

  test("seconds accept decimals", () => {
    const s = readSettings({ REPLY_QUIET: "0.5", REPLY_START_TIMEOUT: "2", REPLY_TIMEOUT: "1.25" });
    expect([s.replyQuietMs, s.replyStartTimeoutMs, s.replyTimeoutMs]).toEqual([500, 2000, 1250]);
  });

  test.each([
    ["SERVER_PORT", "http", 'SERVER_PORT must be a whole number from 0 to 65535, got "http"'],
    ["SERVER_PORT", "70000", 'SERVER_PORT must be a whole number from 0 to 65535, got "70000"'],
    ["REPLY_QUIET", "-1", 'REPLY_QUIET must be a number of seconds above 0 (decimals allowed), got "-1"'],
    ["REPLY_TIMEOUT", "5m", 'REPLY_TIMEOUT must be a number of seconds above 0 (decimals allowed), got "5m"'],
    ["IMAGE_INPUT_MEMORY", "lots", 'IMAGE_INPUT_MEMORY must be a size from 16 MiB to 1024 GiB (bytes, or a number with KiB, MiB or GiB), got "lots"'],
    ["IMAGE_INPUT_MEMORY", "1 MiB", 'IMAGE_INPUT_MEMORY must be a size from 16 MiB to 1024 GiB (bytes, or a number with KiB, MiB or GiB), got "1 MiB"'],
    ["MAX_BODY_SIZE", "2 GiB", 'MAX_BODY_SIZE must be a size from 1 KiB to 1 GiB (bytes, or a number with KiB, MiB or GiB), got "2 GiB"'],
    ["TRUST_PROXY", "maybe", 'TRUST_PROXY must be true or false, got "maybe"'],
    ["PROMPT_MAX_POSTS", "0", 'PROMPT_MAX_POSTS must be a whole number from 1 to 100, got "0"'],
    ["PROMPT_MAX_POSTS", "many", 'PROMPT_MAX_POSTS must be a whole number from 1 to 100, got "many"'],
    ["BODY_TIMEOUT", "300", 'BODY_TIMEOUT must be at most 250 seconds, got "300"'],
    ["LOG_LEVEL", "loud", 'LOG_LEVEL must be one of debug, info, warn, error, got "loud"'],
    ["DISCORD_API_URL", "discord.com", "DISCORD_API_URL must be a URL"],
    ["PROXY_URL", "socks5://user:secret@host:1080", "PROXY_URL must be an http:// or https:// URL"],
  ])("%s=%s is an error naming the variable", (name, value, message) => {
    expect(failure(() => readSettings({ [name]: value }))).toBe(message);
  });

  test(".env parsing: comments, export, quotes", () => {
    expect(parseDotenv('# c\nexport A=1\nB="two words" \nC=\'x#y\'\nD=plain # note\n\nE="l1\\nl2"')).toEqual({
      A: "1",
      B: "two words",
      C: "x#y",
      D: "plain",
      E: "l1\nl2",
    });
  });
});

describe("startup", () => {
  // A directory of its own per run: a .env one test writes must not reach the next.
  const run = async (env: Record<string, string>, files: Record<string, string> = {}, args: string[] = []) => {
    const dir = mkdtempSync(join(tmpdir(), "coze-config-"));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    const { code, err } = await spawnCli(args, { cwd: dir, env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", SERVER_PORT: "0", ...env } }).finished(10_000);
    return { code, stderr: err };
  };

  test("a bad bot.json exits non-zero with one line and no stack trace", async () => {
    const { code, stderr } = await run({ BOT_CONFIG: "bad.json" }, { "bad.json": JSON.stringify([entry({ channel_id: "general" })]) });
    expect(code).toBe(2);
    expect(stderr).toBe('coze-chat-proxy: bad.json entry 0 field "channel_id" is not a Discord id (17 to 20 digits)\n');
  });

  test("a missing bot.json says what to do", async () => {
    const { code, stderr } = await run({ BOT_CONFIG: "absent.json" });
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("does not exist; copy bot.json.example");
  });

  test("a bad variable from .env is named; the environment wins over .env", async () => {
    const fromFile = await run({}, { ".env": "REPLY_QUIET=soon\n" });
    expect(fromFile.stderr).toBe('coze-chat-proxy: REPLY_QUIET must be a number of seconds above 0 (decimals allowed), got "soon"\n');
    const overridden = await run({ REPLY_QUIET: "0.5", BOT_CONFIG: "absent.json" }, { ".env": "REPLY_QUIET=soon\n" });
    expect(overridden.stderr).toContain("absent.json does not exist");
  });

  test("--version and an unknown option", async () => {
    const version = Bun.spawnSync(["bun", join(import.meta.dir, "..", "index.ts"), "--version"]);
    expect(version.stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const unknown = await run({}, {}, ["--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("coze-chat-proxy: unknown option --bogus; see --help\n");
  });

  test("--demo prints curl lines that work when pasted, and SIGTERM stops it cleanly", async () => {
    expect(Bun.which("curl")).not.toBeNull();
    const cwd = mkdtempSync(join(tmpdir(), "coze-demo-"));
    const demo = spawnCli(["--demo"], {
      cwd,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", SERVER_PORT: "0", SERVER_HOST: "127.0.0.1" },
    });
    const proc = demo.proc;
    const killer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    try {
      const out = await demo.until("With the openai SDK");
      const curls = out.split("\n").filter((l) => l.trim().startsWith("curl "));
      expect(curls).toHaveLength(13);
      // In order, in the demo's directory: the speech line writes speech.mp3, the transcription line reads it.
      const results = curls.map((line) => Bun.spawnSync(["bash", "-c", line.trim()], { cwd }).stdout.toString());
      // The demo's workspace bots ("Travel Planner", "翻译助手") are models named after them.
      expect(JSON.parse(results[0]).data.map((m: any) => m.id)).toEqual(["coze-demo", "coze-demo-image", "coze-demo-api", "coze-demo-chatflow", "travel-planner", "翻译助手"]);
      expect(JSON.parse(results[1]).choices[0].message.content).toStartWith("You said: Hello, Coze!");
      expect(results[2]).toContain('"role":"assistant"');
      expect(results[2]).toContain("Line 60 of a long simulated reply");
      expect(results[2].trim()).toEndWith("data: [DONE]");
      const image = JSON.parse(results[3]).data[0].url;
      const overApi = JSON.parse(results[4]);
      expect(overApi.choices[0].message.content).toBe("API says: Hello over the API");
      expect(overApi.usage.completion_tokens).toBe(Math.ceil("API says: Hello over the API".length / 3)); // the simulated Coze's own count
      const found = JSON.parse(results[5]);
      expect(found.model).toBe("travel-planner");
      expect(found.choices[0].message.content).toBe("API says: Plan a weekend in Kyoto");
      // The two-turn conversation: the second answer recalls the first, because both are in one thread.
      expect(JSON.parse(results[6]).choices[0].message.content).toStartWith("You said: My name is Ann.");
      expect(JSON.parse(results[7]).choices[0].message.content).toContain('Earlier in this conversation you said: "My name is Ann."');
      // A chatflow as a model; a tools request answered with a call; JSON mode answered with JSON.
      expect(JSON.parse(results[8]).choices[0].message.content).toBe("Chatflow says: Hello, chatflow");
      const called = JSON.parse(results[9]).choices[0];
      expect(called.finish_reason).toBe("tool_calls");
      expect(called.message.tool_calls[0].function).toEqual({ name: "get_weather", arguments: '{"city":"Paris"}' });
      expect(JSON.parse(JSON.parse(results[10]).choices[0].message.content)).toEqual({ answer: "You asked: Describe Oslo" });
      expect(readFileSync(join(cwd, "speech.mp3")).subarray(0, 3).toString()).toBe("ID3"); // the simulated Coze's mp3
      expect(JSON.parse(results[12]).text).toStartWith("heard mp3 ");
      const png = await fetch(image);
      expect(png.headers.get("content-type")).toBe("image/png");
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      clearTimeout(killer);
      proc.kill("SIGKILL");
    }
  });
});
