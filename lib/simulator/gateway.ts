import type { ServerWebSocket } from "bun";
import type { SimUser } from "./world.ts";

/** Gateway opcodes the simulator speaks (Discord API v10). */
export const Op = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  Resume: 6,
  Reconnect: 7,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
} as const;

export const Intent = { Guilds: 1, GuildMessages: 1 << 9, MessageContent: 1 << 15 } as const;

export const HEARTBEAT_INTERVAL_MS = 41_250;
/** Dispatches kept per session for RESUME. */
const BACKLOG_LIMIT = 2_000;

export interface SocketData {
  session?: Session;
}

export type GatewaySocket = ServerWebSocket<SocketData>;

/**
 * One gateway session: what IDENTIFY created and RESUME can pick up again.
 * It outlives its socket for a while, keeping what it dispatched so that a
 * resumed client gets everything it missed, in order.
 */
export class Session {
  seq = 0;
  socket: GatewaySocket | null = null;
  disconnectedAt = 0;
  private readonly backlog: { s: number; payload: string }[] = [];

  constructor(
    readonly id: string,
    readonly user: SimUser,
    readonly intents: number,
  ) {}

  has(intent: number): boolean {
    return (this.intents & intent) === intent;
  }

  /** Sends a dispatch whose data is already JSON text. */
  dispatch(event: string, dataJson: string): void {
    const s = ++this.seq;
    const payload = `{"op":0,"t":"${event}","s":${s},"d":${dataJson}}`;
    this.backlog.push({ s, payload });
    if (this.backlog.length > BACKLOG_LIMIT) this.backlog.splice(0, this.backlog.length - BACKLOG_LIMIT);
    this.socket?.send(payload);
  }

  /** Everything dispatched after `seq`, for RESUME; undefined when part of it is no longer kept. */
  since(seq: number): string[] | undefined {
    const first = this.backlog[0];
    if (first && first.s > seq + 1) return undefined;
    return this.backlog.filter((b) => b.s > seq).map((b) => b.payload);
  }

  attach(socket: GatewaySocket): void {
    this.socket = socket;
    socket.data.session = this;
  }

  detach(): void {
    this.socket = null;
    this.disconnectedAt = Date.now();
  }
}

export function send(socket: GatewaySocket, op: number, d: unknown): void {
  socket.send(JSON.stringify({ op, d, s: null, t: null }));
}
