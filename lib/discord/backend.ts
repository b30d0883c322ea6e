import type { BotEntry, DiscordEntry } from "../config/bots.ts";
import { secretDigest } from "../pool/entry-key.ts";
import type { Backend, BackendKind, BackendOptions, Link } from "../pool/seam.ts";
import { setGatewayProxy } from "./gateway-proxy.ts";
import { DiscordChannel } from "./channel.ts";
import { Connection } from "./connection.ts";
import { DiscordLink } from "./link.ts";

/** How long a connection no entry uses any more keeps following the replies it was following. */
const RETIRE_WAIT_MS = 10 * 60_000;

/**
 * The Discord way in: bot-02 mentions bot-01 in a channel. One discord.js
 * login per distinct `bot_token`, shared by every entry that uses it.
 */
export const discordKind: BackendKind = {
  kind: "discord",
  entryKey(config: BotEntry): string {
    const e = config as DiscordEntry;
    return [e.model, secretDigest(e.bot_token), e.coze_bot_id, e.guild_id, e.channel_id].join("/");
  },
  create: (options) => new DiscordBackend(options),
  // Discord's CDN, or the host of DISCORD_API_URL for a simulator or a reverse proxy.
  imageHosts: (_entries, options) => ({ hosts: ["cdn.discordapp.com", "media.discordapp.net", new URL(options.discordApiUrl).host], suffixes: [] }),
};

class DiscordBackend implements Backend {
  private readonly connections = new Map<string, Connection>();
  private readonly connecting = new Map<Connection, Promise<void>>();
  private labels = 0;

  constructor(private readonly options: BackendOptions) {
    setGatewayProxy(options.proxyUrl);
  }

  link(config: BotEntry, previous: Link | undefined): Link {
    const entry = config as DiscordEntry;
    let connection = this.connections.get(entry.bot_token);
    if (!connection) {
      connection = new Connection(entry.bot_token, `bot ${++this.labels}`, this.options);
      this.connections.set(entry.bot_token, connection);
    }
    // Only ever added to: a request still following a removed entry's Coze bot must keep getting its reply.
    connection.cozeIds.add(entry.coze_bot_id);
    if (previous instanceof DiscordLink && previous.channel.connection === connection) return previous;
    return new DiscordLink(new DiscordChannel(entry, connection, this.options.promptMaxPosts));
  }

  connect(links: readonly Link[]): Promise<void> {
    const waits = new Set<Promise<void>>();
    for (const link of links) {
      if (!(link instanceof DiscordLink)) continue;
      const { connection } = link.channel;
      let wait = this.connecting.get(connection);
      if (!wait) this.connecting.set(connection, (wait = connection.connect()));
      waits.add(wait);
    }
    return Promise.all(waits).then(() => {});
  }

  retire(kept: readonly Link[]): void {
    const used = new Set(kept.flatMap((l) => (l instanceof DiscordLink ? [l.channel.connection] : [])));
    for (const [token, connection] of this.connections) {
      if (used.has(connection)) continue;
      this.connections.delete(token);
      this.connecting.delete(connection);
      void retireWhenIdle(connection);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }

  get tracking(): { following: number; waiting: number } {
    let following = 0;
    let waiting = 0;
    for (const c of this.connections.values()) {
      following += c.router.following;
      waiting += c.router.waiting;
    }
    return { following, waiting };
  }
}

async function retireWhenIdle(connection: Connection): Promise<void> {
  const deadline = performance.now() + RETIRE_WAIT_MS;
  while (connection.router.following > 0 && performance.now() < deadline) await Bun.sleep(1000);
  await connection.close();
}
