// One WebSocket, as Phoenix.Socket runs it: frames are handled one at a time in arrival order (a
// join holds the socket until it is answered, as the socket process waits for the channel's
// init), `heartbeat` on `phoenix` is answered, a frame for a topic without a channel gets
// "unmatched topic", a second join of a joined topic closes the first, frames with a stale join
// ref are ignored, a malformed frame is logged and dropped, and a socket that sends nothing for
// the transport timeout (60 s) is closed. The channel events themselves are in channel.ts.
import type postgres from "postgres";
import type { StackKeys } from "../keys.ts";
import type { Channel, Hub, Peer } from "./hub.ts";
import {
  decodeFrame,
  encodeControl,
  encodePush,
  encodeReply,
  type Frame,
  type Incoming,
  type Vsn,
} from "./protocol.ts";
import type { TopicInterest } from "./interest.ts";
import type { Identity } from "./tokens.ts";
import { accessToken, broadcast, join } from "./channel.ts";

export interface Context {
  keys: StackKeys;
  hub: Hub;
  /** The current pool on the direct URL (replaced on restart). */
  sql(): postgres.Sql;
  /** The topics this stand-in announces (replaced on restart). */
  interest(): TopicInterest;
  log(line: string): void;
  /** Whether delivery from the database is connected (`replication_ready`). */
  listening(): boolean;
  /** The server waits CHANNEL_ERROR_BACKOFF_MS before answering a refused join. */
  joinErrorBackoffMs: number;
}

export class Connection implements Peer {
  readonly channels = new Map<string, Channel>();
  #ws: WebSocket;
  #queue: Promise<void> = Promise.resolve();
  #idle: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    ws: WebSocket,
    readonly vsn: Vsn,
    /** The socket's API key, what a channel acts as without an access token of its own. */
    readonly identity: Identity,
    /** The upgrade's x-* headers (request.headers in the policies). */
    readonly headers: Record<string, string>,
    readonly ctx: Context,
    readonly idleMs: number,
  ) {
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onmessage = (e) => this.#receive(e.data);
    ws.onclose = () => this.dispose();
    ws.onerror = () => {};
    this.#touch();
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(frame: Frame): void {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) return;
    try {
      this.#ws.send(frame);
    } catch { /* closing underneath us */ }
  }

  /** Ends the socket at once: no phx_close for its channels, as when the server goes away. */
  close(code: number, reason = ""): void {
    this.dispose();
    try {
      this.#ws.close(code, reason);
    } catch { /* already closed */ }
  }

  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idle);
    for (const ch of [...this.channels.values()]) this.drop(ch);
  }

  reply(
    joinRef: string | null,
    ref: string | null,
    topic: string,
    status: "ok" | "error",
    response: unknown,
  ): void {
    this.send(encodeReply(this.vsn, joinRef, ref, topic, status, response));
  }

  push(ch: Channel, event: string, payload: unknown): void {
    this.send(encodePush(this.vsn, ch.joinRef, ch.topic, event, payload));
  }

  /** Forgets a channel without telling the client. */
  drop(ch: Channel): void {
    if (!ch.closed) ch.release();
    ch.closed = true;
    clearTimeout(ch.timer);
    if (this.channels.get(ch.topic) === ch) this.channels.delete(ch.topic);
    this.ctx.hub.remove(ch);
  }

  /** A channel that ends normally: the client gets phx_close for its join. */
  closeChannel(ch: Channel): void {
    if (ch.closed) return;
    this.drop(ch);
    this.send(encodeControl(this.vsn, ch.joinRef, ch.topic, "phx_close"));
  }

  /** RealtimeChannel.shutdown_response: a `system` error naming the reason, then phx_close. */
  shutdown(ch: Channel, message: string): void {
    if (ch.closed) return;
    this.push(ch, "system", { extension: "system", status: "error", message, channel: ch.name });
    this.ctx.log(`channel ${ch.topic} shut down: ${message}`);
    this.closeChannel(ch);
  }

  #touch(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      this.ctx.log("socket closed after the transport timeout (no frame received)");
      this.close(1000, "timeout");
    }, this.idleMs);
  }

  #receive(data: unknown): void {
    if (this.#closed) return;
    this.#touch();
    let msg: Incoming;
    try {
      msg = decodeFrame(this.vsn, data as string | ArrayBuffer);
    } catch (e) {
      this.ctx.log(`MalformedWebSocketMessage: ${e instanceof Error ? e.message : e}`);
      return;
    }
    this.#queue = this.#queue.then(() => this.#route(msg)).catch((e) =>
      this.ctx.log(`UnknownErrorOnWebSocketMessage: ${e instanceof Error ? e.stack : e}`)
    );
  }

  async #route(msg: Incoming): Promise<void> {
    if (this.#closed) return;
    const { topic, event, ref, joinRef } = msg;
    if (topic === "phoenix" && event === "heartbeat") {
      this.reply(null, ref, "phoenix", "ok", {});
      return;
    }
    const ch = this.channels.get(topic);
    if (event === "phx_join") {
      if (ch) this.closeChannel(ch);
      if (!topic.startsWith("realtime:")) {
        this.reply(null, ref, topic, "error", { reason: "unmatched topic" });
        return;
      }
      await join(this, msg);
      return;
    }
    if (!ch) {
      if (event === "phx_leave") this.reply(joinRef, ref, topic, "ok", {});
      else this.reply(null, ref, topic, "error", { reason: "unmatched topic" });
      return;
    }
    if (joinRef !== null && joinRef !== ch.joinRef) return;
    switch (event) {
      case "phx_leave":
        this.reply(ch.joinRef, ref, topic, "ok", {});
        this.closeChannel(ch);
        return;
      case "access_token":
        await accessToken(this, ch, msg.payload);
        return;
      case "broadcast":
        await broadcast(this, ch, msg);
        return;
      case "presence":
        // Presence is not tracked by the stand-in; answered as the server answers a track.
        this.reply(ch.joinRef, ref, topic, "ok", {});
        return;
      default:
        this.ctx.log(`Unexpected message from client of type \`${event}\` on ${topic}`);
    }
  }
}
