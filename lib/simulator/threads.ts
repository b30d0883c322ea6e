import { Intent } from "./gateway.ts";
import { threadPayload } from "./payloads.ts";
import type { SimulatedDiscord } from "./simulated-discord.ts";
import { snowflake } from "./snowflake.ts";
import type { SimChannel, SimUser } from "./world.ts";

/**
 * The simulated Discord's threads: starting one, archiving and unarchiving
 * it, each dispatched to the guild's sessions that asked for guild events,
 * and the count of active threads per guild that Discord limits.
 */
export class ThreadBook {
  /** Active (unarchived) threads per guild, counted as they change: a guild can have many thousands of threads. */
  private readonly activeCount = new Map<string, number>();

  constructor(private readonly world: Pick<SimulatedDiscord, "channels" | "guilds" | "sessions" | "changed">) {}

  /** How many threads of a guild are active. */
  activeThreadCount(guildId: string): number {
    return this.activeCount.get(guildId) ?? 0;
  }

  /** Active threads of a guild (for GUILD_CREATE and tests). */
  activeThreads(guildId: string): SimChannel[] {
    return [...this.world.channels.values()].filter((c) => c.guildId === guildId && c.thread && !c.thread.archived);
  }

  /** Starts a public thread (type 11) in `parent`; with `id` (a message's), the thread is that message's. */
  createThread(parent: SimChannel, owner: SimUser, name: string, id = snowflake()): SimChannel {
    const thread: SimChannel = {
      id,
      guildId: parent.guildId,
      name,
      denied: parent.denied,
      deniedThreads: parent.deniedThreads,
      hidden: parent.hidden,
      thread: { parentId: parent.id, ownerId: owner.id, archived: false, archiveTimestamp: new Date().toISOString() },
    };
    this.world.channels.set(thread.id, thread);
    this.countActive(thread.guildId, 1);
    this.dispatchThread("THREAD_CREATE", thread, { newly_created: true });
    this.world.changed();
    return thread;
  }

  /** Archives or unarchives a thread, as `PATCH /channels/{thread}` does. */
  setArchived(thread: SimChannel, archived: boolean): void {
    if (!thread.thread || thread.thread.archived === archived) return;
    thread.thread.archived = archived;
    thread.thread.archiveTimestamp = new Date().toISOString();
    this.countActive(thread.guildId, archived ? -1 : 1);
    this.dispatchThread("THREAD_UPDATE", thread);
    this.world.changed();
  }

  private countActive(guildId: string, by: number): void {
    this.activeCount.set(guildId, this.activeThreadCount(guildId) + by);
  }

  private dispatchThread(event: "THREAD_CREATE" | "THREAD_UPDATE", thread: SimChannel, extra: object = {}): void {
    const guild = this.world.guilds.get(thread.guildId);
    const data = JSON.stringify({ ...threadPayload(thread), ...extra });
    for (const session of this.world.sessions) if (guild?.members.has(session.user.id) && session.has(Intent.Guilds)) session.dispatch(event, data);
  }
}
