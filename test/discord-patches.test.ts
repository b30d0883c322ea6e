/**
 * Two places where the service reaches into discord.js (14.28.1, pinned).
 * If an upgrade removes what they patch, the service still works but loses
 * what they bought (a third of its CPU; PROXY_URL for the gateway) without a
 * word: these tests make that loud.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "../lib/discord/discord-js.ts";
import { setGatewayProxy } from "../lib/discord/gateway-proxy.ts";
import { SKIPPED_PACKETS, skipPacketObjects } from "../lib/discord/skip-packets.ts";

const modules = join(import.meta.dir, "..", "node_modules");

test("discord.js still routes every gateway packet through WebSocketManager.handlePacket, which the relay patches", () => {
  const client = new Client({ intents: [] });
  const manager = client.ws as unknown as { handlePacket: (packet: { t: string; d: unknown }, shard: unknown) => boolean };
  const original = manager.handlePacket;
  expect(skipPacketObjects(client)).toBe(true);
  expect(manager.handlePacket).not.toBe(original);
  // A skipped packet never reaches discord.js's handlers: no Message object, no event.
  let created = 0;
  client.on("messageCreate", () => created++);
  for (const t of SKIPPED_PACKETS) expect(manager.handlePacket({ t, d: {} }, undefined)).toBe(true);
  expect(created).toBe(0);
  // And discord.js still calls it for each packet it receives.
  const source = readFileSync(join(modules, "discord.js", "src", "client", "websocket", "WebSocketManager.js"), "utf8");
  expect(source).toContain("this.handlePacket(data, shard)");
  void client.destroy();
});

test("@discordjs/ws still opens the gateway with globalThis.WebSocket, which the proxy swap replaces", () => {
  const source = readFileSync(join(modules, "@discordjs", "ws", "dist", "index.js"), "utf8");
  expect(source).toMatch(/shouldUseGlobalFetchAndWebSocket\)\(\) \? globalThis\.WebSocket/);
  // The swap is in place before discord.js loads, and passes the proxy to Bun's WebSocket.
  expect(globalThis.WebSocket.name).toBe("ProxiedWebSocket");
  setGatewayProxy(undefined);
});
