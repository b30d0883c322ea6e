import type { APIEmbed, APIMessage } from "discord-api-types/v10";
import type { Session } from "./gateway.ts";
import type { RateLimitBucket } from "./limits.ts";
import type { NewMessage, PostRecord, SimChannel, SimCoze, SimGuild, SimUser, StoredFile } from "./world.ts";

/**
 * The simulated Discord as its parts see it (the REST routes, the gateway,
 * the message store, the Coze bots): the world it holds and the changes Discord
 * makes to it. DiscordSimulator implements it and builds the parts; a part
 * knows the others only through it, so none of them imports another's builder.
 */
export interface SimulatedDiscord {
  readonly users: Map<string, SimUser>;
  readonly guilds: Map<string, SimGuild>;
  readonly channels: Map<string, SimChannel>;
  readonly cozes: Map<string, SimCoze>;
  readonly sessions: Set<Session>;
  /** Every IDENTIFY and RESUME, for tests that check how a client reconnected. */
  readonly gatewayLog: { op: "identify" | "resume"; userId: string; at: number }[];
  readonly port: number;
  readonly origin: string;
  /** While true, every REST call fails as a broken connection would. */
  readonly unreachable: boolean;
  /** Delay before a message POST answers, after the message was created and dispatched. */
  readonly postResponseDelayMs: number;
  /** Discord's limit of active (unarchived) threads per guild. */
  readonly activeThreadLimit: number;

  /** Wakes whoever waits on the world: something in it changed. */
  changed(): void;

  // Messages and files.
  readonly messages: Map<string, { message: APIMessage; files: StoredFile[] }>;
  readonly channelMessages: Map<string, string[]>;
  readonly files: Map<string, StoredFile>;
  createMessage(channel: SimChannel, author: SimUser, input: NewMessage): APIMessage;
  editMessage(id: string, patch: MessagePatch): APIMessage | undefined;
  deleteMessage(id: string): boolean;
  postRecord(id: string): PostRecord | undefined;
  storeFile(file: Omit<StoredFile, "id">): StoredFile;
  fileUrl(channelId: string, file: StoredFile): string;
  sign(path: string, expires: number): string;

  // Threads.
  activeThreads(guildId: string): SimChannel[];
  activeThreadCount(guildId: string): number;
  createThread(parent: SimChannel, owner: SimUser, name: string, id?: string): SimChannel;
  setArchived(thread: SimChannel, archived: boolean): void;

  // Limits and faults.
  globalLimitFor(user: SimUser): RateLimitBucket | undefined;
  rateLimitFor(user: SimUser, channel: SimChannel): RateLimitBucket | undefined;
  threadRateLimitFor(user: SimUser, parent: SimChannel): RateLimitBucket | undefined;
  takePostFault(): number | undefined;
}

/** What an edit may change of a message. */
export interface MessagePatch {
  content?: string;
  embeds?: APIEmbed[];
  components?: unknown[];
  files?: StoredFile[];
}
