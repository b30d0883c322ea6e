import type { APIUser } from "discord-api-types/v10";
import type { CozeScript } from "./coze-script.ts";

/** A bot account in the simulated Discord. */
export interface SimUser {
  id: string;
  username: string;
  /** Set for bots that log in over the gateway (bot-02); Coze-hosted bots act inside the simulator. */
  token?: string;
  /** The developer portal's "Message Content Intent" switch; off makes IDENTIFY with it close 4014. */
  messageContentAllowed: boolean;
}

export interface SimChannel {
  id: string;
  guildId: string;
  name: string;
  /** Users denied Send Messages here (posting answers 403, code 50013). */
  denied: Set<string>;
}

export interface SimGuild {
  id: string;
  name: string;
  members: Set<string>;
  channels: SimChannel[];
}

/** A simulated Coze-hosted bot (bot-01) and how it will answer. */
export interface SimCoze {
  user: SimUser;
  /** Scripts for the next prompts, in order; when empty, `behaviour` decides. */
  queue: CozeScript[];
  behaviour: (prompt: string) => CozeScript;
  /** Answer only humans, as Coze was reported to do in February 2024. */
  ignoreBots: boolean;
}

export function apiUser(user: SimUser): APIUser {
  return { id: user.id, username: user.username, discriminator: "0", global_name: null, avatar: null, bot: true };
}
