/**
 * discord.js, loaded after the gateway proxy is in place.
 *
 * discord.js captures globalThis.WebSocket when it loads, and Bun evaluates an
 * imported CommonJS package before any module body: require it here, after
 * gateway-proxy.ts has put the proxy-aware WebSocket in place. Every file of
 * this folder that needs discord.js values takes them from here.
 */
import "./gateway-proxy.ts";

export const { Client, DiscordAPIError, Events, GatewayIntentBits, HTTPError, Options, Partials, PermissionFlagsBits, RateLimitError, RESTEvents, Routes } =
  require("discord.js") as typeof import("discord.js");
