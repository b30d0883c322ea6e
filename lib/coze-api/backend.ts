import type { ApiEntry, BotEntry } from "../config/bots.ts";
import type { Backend, BackendKind, BackendOptions, Link } from "../pool/seam.ts";
import { CozeApiClient } from "./client.ts";
import { apiEntryKey } from "./entry-key.ts";
import { ApiLink } from "./link.ts";

/** Coze's official chat API as a way in: one client per entry, with the entry's token. */
export const cozeApiKind: BackendKind = {
  kind: "api",
  entryKey: (config) => apiEntryKey(config as ApiEntry),
  create: (options) => new ApiBackend(options),
  // Coze serves the images of its API answers from its own domains, or from the entry's api_base.
  // api_base's host, the hosts an entry lists in `image_hosts` (Coze Studio's object store), and Coze's domains.
  imageHosts: (entries) => ({
    hosts: entries.flatMap((e) => [new URL((e as ApiEntry).api_base).host, ...((e as ApiEntry).image_hosts ?? [])]),
    suffixes: [".coze.com", ".coze.cn"],
  }),
};

class ApiBackend implements Backend {
  private readonly links = new Set<ApiLink>();
  private readonly connecting = new Map<ApiLink, Promise<void>>();

  constructor(private readonly options: BackendOptions) {}

  link(config: BotEntry, previous: Link | undefined): Link {
    if (previous instanceof ApiLink) {
      previous.audio.configure(config as ApiEntry);
      return previous;
    }
    const link = new ApiLink(new CozeApiClient(config as ApiEntry, { proxyUrl: this.options.proxyUrl }), this.options.proxyUrl);
    this.links.add(link);
    return link;
  }

  /** Checks each new entry's token and bot. */
  connect(links: readonly Link[]): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const link of links) {
      if (!(link instanceof ApiLink)) continue;
      let wait = this.connecting.get(link);
      if (!wait) this.connecting.set(link, (wait = link.client.connect()));
      waits.push(wait);
    }
    return Promise.all(waits).then(() => {});
  }

  retire(kept: readonly Link[]): void {
    const keep = new Set(kept);
    for (const link of this.links) {
      if (keep.has(link)) continue;
      this.links.delete(link);
      this.connecting.delete(link);
      void link.client.close();
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.links].map((l) => l.client.close()));
  }
}
