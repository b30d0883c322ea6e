/** bot.json's `voices` and `default_voice` on Coze API entries, and AUDIO_MODEL, checked at start. */
import { expect, test } from "bun:test";
import { parseBots } from "../lib/config/bots.ts";
import { checkAudioModel } from "../lib/config/load.ts";
import { readSettings } from "../lib/config/settings.ts";

const api = (extra: object) => JSON.stringify([{ model: "m", coze_api_token: "pat_x", bot_id: "7351000000000000000", ...extra }]);
const failure = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    return (error as Error).message;
  }
  return "no error";
};

test("voices map names to Coze voice ids; default_voice is a string", () => {
  const [entry] = parseBots(api({ voices: { alloy: " 7426720361733046281 " }, default_voice: "7426720361733062665" }), "bot.json").entries;
  expect(entry).toMatchObject({ voices: { alloy: "7426720361733046281" }, default_voice: "7426720361733062665" });
});

test("a bad voices map or default_voice names the entry and the field", () => {
  expect(failure(() => parseBots(api({ voices: ["alloy"] }), "bot.json"))).toBe('bot.json entry 0 field "voices" must be an object of voice names to Coze voice ids, got an array');
  expect(failure(() => parseBots(api({ voices: { alloy: 7 } }), "bot.json"))).toBe('bot.json entry 0 field "voices" maps "alloy" to a number: give a Coze voice_id');
  expect(failure(() => parseBots(api({ default_voice: "" }), "bot.json"))).toBe('bot.json entry 0 field "default_voice" is empty');
  const discord = JSON.stringify([{ model: "m", bot_token: "t", coze_bot_id: "12345678901234567", guild_id: "12345678901234567", channel_id: "12345678901234567", voices: {} }]);
  expect(failure(() => parseBots(discord, "bot.json"))).toContain('mixes a Discord field ("bot_token") with a Coze API field ("voices")');
});

test("AUDIO_MODEL must name a model with a Coze API entry", () => {
  const { entries } = parseBots(api({}), "bot.json");
  expect(readSettings({ AUDIO_MODEL: " m " }).audioModel).toBe("m");
  expect(readSettings({}).audioModel).toBeUndefined();
  expect(failure(() => checkAudioModel("m", entries))).toBe("no error");
  expect(failure(() => checkAudioModel("other", entries))).toBe('AUDIO_MODEL is "other", which no Coze API entry of bot.json serves (models with one: m)');
  // A workspace's models are known only once it is listed: the check waits for requests.
  const { workspaces } = parseBots(JSON.stringify([{ coze_api_token: "pat_x", workspace_id: "7351000000000000001" }]), "bot.json");
  expect(failure(() => checkAudioModel("travel-planner", [], workspaces))).toBe("no error");
});
