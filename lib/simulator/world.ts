import type { APIEmbed, APIUser } from "discord-api-types/v10";
import type { ContextLine, CozeScript } from "./coze-script.ts";

export type { ContextLine } from "./coze-script.ts";

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
  /** Users denied Create Public Threads here (starting a thread answers 403, code 50013). */
  deniedThreads: Set<string>;
  /** Users denied View Channel here (every route of the channel answers 403, code 50001). */
  hidden: Set<string>;
  /** Set for a thread: its parent text channel, and whether it is archived. */
  thread?: { parentId: string; ownerId: string; archived: boolean; archiveTimestamp: string };
}

export interface SimGuild {
  id: string;
  name: string;
  /** A person, as on Discord: never one of the bots (an owner holds every permission). */
  ownerId: string;
  members: Set<string>;
  channels: SimChannel[];
}

/** A simulated Coze-hosted bot (bot-01) and how it will answer. */
export interface SimCoze {
  user: SimUser;
  /** Scripts for the next prompts, in order; when empty, `behaviour` decides. */
  queue: CozeScript[];
  /** The answer to `prompt`, given the earlier messages of the channel or thread Coze read as context. */
  behaviour: (prompt: string, context: ContextLine[]) => CozeScript;
  /** Answer only humans, as Coze has done since February 2024. */
  ignoreBots: boolean;
  /** Offline: mentions get no answer at all. */
  offline: boolean;
  /**
   * Coze's "Dialog round" setting: how many rounds (a question and its
   * answer) of the channel's recent history it reads as context; 0 reads none.
   */
  dialogRounds: number;
  /** A cut answer offers a "Continue" button (some Coze bots do; without one the relay waits for REPLY_QUIET). */
  continueButtons: boolean;
  /** What is left of a long answer, by channel, for when Coze is asked to continue. */
  unfinished: Map<string, string>;
}

export function apiUser(user: SimUser): APIUser {
  return { id: user.id, username: user.username, discriminator: "0", global_name: null, avatar: null, bot: true };
}

/** An attachment as the simulator stores it, bytes included. */
export interface StoredFile {
  id: string;
  filename: string;
  contentType: string;
  data: Uint8Array;
}

/** A message as a test sees it: what was posted, by whom, and the reply it got. */
export interface PostRecord {
  id: string;
  channelId: string;
  authorId: string;
  content: string;
  files: StoredFile[];
  allowedMentions: unknown;
  /** Users the message actually mentions (after `allowed_mentions`). */
  mentions: string[];
  mentionEveryone: boolean;
  mentionRoles: string[];
  /** Coze's answer, and the history it read as context for it. */
  reply: { messageIds: string[]; text: string; done: boolean; context: ContextLine[] } | undefined;
  /** performance.now() when Discord accepted the message. */
  at: number;
}

export interface NewMessage {
  content?: string;
  embeds?: APIEmbed[];
  files?: StoredFile[];
  components?: unknown[];
  referenceId?: string;
  allowedMentions?: AllowedMentions;
}

export interface AllowedMentions {
  parse?: string[];
  users?: string[];
  roles?: string[];
  replied_user?: boolean;
}

