/**
 * Lets the Discord gateway connection go through PROXY_URL.
 *
 * Under Bun, @discordjs/ws opens the gateway with `globalThis.WebSocket`,
 * captured when the module loads, and offers no proxy option. Bun's own
 * WebSocket takes `{ proxy }`, so this module, imported by the Discord backend before
 * discord.js, puts a WebSocket in its place that adds the proxy when one is
 * set. With no proxy set it constructs exactly what discord.js asked for.
 *
 * A discord.js upgrade that stops reading `globalThis.WebSocket` would turn
 * this into a silent no-op: test/discord-patches.test.ts watches for that.
 */
let gatewayProxy: string | undefined;

export function setGatewayProxy(url: string | undefined): void {
  gatewayProxy = url;
}

const BunWebSocket = globalThis.WebSocket;

class ProxiedWebSocket extends BunWebSocket {
  constructor(url: string | URL, protocols?: string | string[] | Bun.WebSocketOptions) {
    if (gatewayProxy === undefined) super(url, protocols as string | string[]);
    else {
      const list = typeof protocols === "string" || Array.isArray(protocols) ? protocols : undefined;
      super(url, { proxy: gatewayProxy, ...(list && list.length > 0 ? { protocols: list } : {}) });
    }
  }
}

globalThis.WebSocket = ProxiedWebSocket as typeof WebSocket;
