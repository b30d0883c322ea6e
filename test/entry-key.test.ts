/**
 * Entry keys are persisted with conversations and rests: the same bot.json
 * entry must get the same key from every version, or an upgrade would lose
 * every conversation. The keys hold a digest of the token, never the token.
 */
import { expect, test } from "bun:test";
import type { BotEntry } from "../lib/config/bots.ts";
import { cozeApiKind } from "../lib/coze-api/backend.ts";
import { discordKind } from "../lib/discord/backend.ts";

const discordEntry = { kind: "discord", model: "gpt-test", bot_token: "bot-token-secret", coze_bot_id: "111", guild_id: "222", channel_id: "333" } as unknown as BotEntry;
const apiEntry = { kind: "api", model: "gpt-api", coze_api_token: "pat_secret", bot_id: "7000", api_base: "https://api.coze.com" } as unknown as BotEntry;

test("entry keys stay what earlier versions stored, and hold no token", () => {
  expect(discordKind.entryKey(discordEntry)).toBe("gpt-test/7f5ed100e9a1128b/111/222/333");
  expect(cozeApiKind.entryKey(apiEntry)).toBe("gpt-api/api/eebcaa548afcc665/7000/https://api.coze.com");
});
