import type { DiscordSimulator } from "./simulator.ts";
import type { SimChannel, SimCoze, SimGuild, SimUser } from "./world.ts";

/** One `bot.json` entry as the scenario wants it: a model, which of our bots posts, which Coze bot answers. */
export interface ScenarioEntry {
  model: string;
  bot?: number;
  coze?: number;
  threads?: boolean;
}

export interface ScenarioOptions {
  /** Our bots (bot-02 tokens); options per bot, e.g. one refused the MessageContent intent. */
  bots?: { username?: string; messageContentAllowed?: boolean }[];
  /** How many Coze bots (bot-01s); at least as many as the entries name. */
  cozes?: number;
  /** The entries, a channel each; one "gpt-test" entry by default. */
  entries?: ScenarioEntry[];
  /** Leave the Coze bots out of the server (a world where bot-01 was never invited). */
  cozesOutsideGuild?: boolean;
  guildName?: string;
}

export interface Scenario {
  bots: SimUser[];
  cozes: SimCoze[];
  guild: SimGuild;
  channels: SimChannel[];
  /** bot.json entries for this world, in its own format (index, and the fields as a user writes them). */
  entries: { index: number; model: string; bot_token: string; coze_bot_id: string; guild_id: string; channel_id: string; threads: boolean }[];
}

/**
 * The world most tests, the demo and the bench want: our bots and Coze bots
 * in one server, a channel per entry, and the entries that point at them.
 * One builder, so that a change to what a world needs is made once.
 */
export function buildScenario(sim: DiscordSimulator, options: ScenarioOptions = {}): Scenario {
  const wanted = options.entries ?? [{ model: "gpt-test" }];
  const bots = (options.bots ?? [{}]).map((o, i) => sim.addBot({ username: o.username ?? `relay-${i + 1}`, messageContentAllowed: o.messageContentAllowed }));
  const cozeCount = Math.max(options.cozes ?? 1, ...wanted.map((e) => (e.coze ?? 0) + 1));
  const cozes = Array.from({ length: cozeCount }, (_, i) => sim.addCoze({ username: `coze-${i + 1}` }));
  const guild = sim.addGuild(options.cozesOutsideGuild ? bots : [...bots, ...cozes.map((c) => c.user)], options.guildName);
  const channels: SimChannel[] = [];
  const entries = wanted.map((w, index) => {
    const channel = sim.addChannel(guild, w.model);
    channels.push(channel);
    return {
      index,
      model: w.model,
      bot_token: bots[w.bot ?? 0].token!,
      coze_bot_id: cozes[w.coze ?? 0].user.id,
      guild_id: guild.id,
      channel_id: channel.id,
      threads: w.threads ?? true,
    };
  });
  return { bots, cozes, guild, channels, entries };
}
