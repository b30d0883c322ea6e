import { Intent, Op, send, Session, type GatewaySocket } from "./gateway.ts";
import { guildPayload } from "./payloads.ts";
import type { SimulatedDiscord } from "./simulated-discord.ts";
import { apiUser, type SimUser } from "./world.ts";

/**
 * The gateway's side of a connection: IDENTIFY opens a session (READY, then a
 * GUILD_CREATE per guild, which discord.js waits for), RESUME picks one up
 * again and replays what it missed, heartbeats are acknowledged.
 */
export class GatewayServer {
  constructor(private readonly sim: SimulatedDiscord) {}

  onMessage(ws: GatewaySocket, raw: string): void {
    let payload: { op: number; d: any };
    try {
      payload = JSON.parse(raw);
    } catch {
      ws.close(4002, "Error while decoding payload.");
      return;
    }
    switch (payload.op) {
      case Op.Heartbeat:
        send(ws, Op.HeartbeatAck, null);
        return;
      case Op.Identify:
        return this.identify(ws, payload.d);
      case Op.Resume:
        return this.resume(ws, payload.d);
      default:
        return; // presence updates and the like change nothing here
    }
  }

  private userByToken(token: unknown): SimUser | undefined {
    if (typeof token !== "string") return undefined;
    const bare = token.replace(/^Bot\s+/i, "");
    for (const user of this.sim.users.values()) if (user.token === bare) return user;
    return undefined;
  }

  private identify(ws: GatewaySocket, d: { token?: string; intents?: number }): void {
    const user = this.userByToken(d?.token);
    if (!user) return ws.close(4004, "Authentication failed.");
    const intents = Number(d.intents ?? 0);
    if ((intents & Intent.MessageContent) !== 0 && !user.messageContentAllowed) return ws.close(4014, "Disallowed intent(s).");
    this.sim.gatewayLog.push({ op: "identify", userId: user.id, at: Date.now() });
    this.pruneSessions();
    const session = new Session(crypto.randomUUID().replaceAll("-", ""), user, intents);
    this.sim.sessions.add(session);
    session.attach(ws);
    const guilds = [...this.sim.guilds.values()].filter((g) => g.members.has(user.id));
    session.dispatch(
      "READY",
      JSON.stringify({
        v: 10,
        user: { ...apiUser(user), verified: true, mfa_enabled: false, flags: 0 },
        guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
        session_id: session.id,
        session_type: "normal",
        resume_gateway_url: `ws://127.0.0.1:${this.sim.port}/gateway`,
        shard: [0, 1],
        application: { id: user.id, flags: 0 },
        private_channels: [],
        presences: [],
        relationships: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
        user_settings: {},
      }),
    );
    for (const guild of guilds) session.dispatch("GUILD_CREATE", JSON.stringify(guildPayload(guild, this.sim.activeThreads(guild.id), user)));
    this.sim.changed();
  }

  private resume(ws: GatewaySocket, d: { token?: string; session_id?: string; seq?: number }): void {
    const user = this.userByToken(d?.token);
    if (!user) return ws.close(4004, "Authentication failed.");
    const session = [...this.sim.sessions].find((s) => s.id === d.session_id && s.user.id === user.id);
    const missed = session?.since(Number(d.seq ?? 0));
    if (!session || !missed) {
      send(ws, Op.InvalidSession, false);
      return;
    }
    this.sim.gatewayLog.push({ op: "resume", userId: user.id, at: Date.now() });
    if (session.socket && session.socket !== ws) session.socket.close(4000, "session resumed elsewhere");
    session.attach(ws);
    for (const payload of missed) ws.send(payload);
    session.dispatch("RESUMED", "{}");
    this.sim.changed();
  }

  /** Forgets sessions that have been disconnected for two minutes: they can no longer be resumed. */
  private pruneSessions(): void {
    const cutoff = Date.now() - 120_000;
    for (const s of this.sim.sessions) if (!s.socket && s.disconnectedAt < cutoff) this.sim.sessions.delete(s);
  }

  /** Op 7: tells the user's connected sessions to reconnect and resume. */
  reconnect(user?: SimUser): number {
    return this.eachSocket(user, (ws) => {
      send(ws, Op.Reconnect, null);
      setTimeout(() => ws.readyState === 1 && ws.close(4000, "reconnect requested"), 1000);
    });
  }

  /** Op 9: the session is invalid; `resumable` says whether RESUME may still work. */
  invalidateSession(user?: SimUser, resumable = false): number {
    return this.eachSocket(user, (ws) => {
      if (!resumable && ws.data.session) this.sim.sessions.delete(ws.data.session);
      send(ws, Op.InvalidSession, resumable);
    });
  }

  /** Drops the TCP connection with no close frame, as a network failure would. */
  dropSocket(user?: SimUser): number {
    return this.eachSocket(user, (ws) => ws.terminate());
  }

  private eachSocket(user: SimUser | undefined, act: (ws: GatewaySocket) => void): number {
    let n = 0;
    for (const session of this.sim.sessions) {
      if (session.socket && (!user || session.user.id === user.id)) {
        act(session.socket);
        n++;
      }
    }
    return n;
  }
}
