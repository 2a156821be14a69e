// Who is subscribed to what, and fan-out. As on the server, a private and a public channel of
// the same name are different topics (Tenants.tenant_topic(..., public?)), and a broadcast
// reaches a private subscriber only if its read check passed (MessageDispatcher skips sockets
// whose broadcast read is not true). Frames are encoded once per serializer version.
import type * as jose from "jose";
import type { Policies } from "./db.ts";
import {
  encodeBroadcast,
  encodeUserBroadcast,
  type Frame,
  type UserBroadcast,
  type Vsn,
} from "./protocol.ts";

/** The part of a connection a channel needs. */
export interface Peer {
  readonly vsn: Vsn;
  send(frame: Frame): void;
}

export interface Channel {
  peer: Peer;
  /** As joined: `realtime:<name>`. */
  topic: string;
  /** `<name>`, what realtime.topic() returns in the policies. */
  name: string;
  joinRef: string | null;
  isPrivate: boolean;
  self: boolean;
  ack: boolean;
  presence: boolean;
  token: string;
  claims: jose.JWTPayload;
  policies: Policies | null;
  /** Ids already pushed by a replay at join, never pushed twice. */
  replayed: Set<string>;
  timer?: ReturnType<typeof setTimeout>;
  closed: boolean;
  /** Gives back the topic's registration (interest.ts), once, when the channel ends. */
  release: () => void;
}

/** What travels: a user broadcast (bytes) or a plain JSON broadcast payload. */
export type Outgoing =
  | { kind: "user"; ub: UserBroadcast; id?: string }
  | { kind: "json"; payload: unknown };

/** A private and a public channel of the same name are different topics. */
export const topicKey = (isPrivate: boolean, name: string) =>
  `${isPrivate ? "private" : "public"}:${name}`;

export class Hub {
  #subs = new Map<string, Set<Channel>>();

  add(ch: Channel): void {
    const k = topicKey(ch.isPrivate, ch.name);
    let set = this.#subs.get(k);
    if (!set) this.#subs.set(k, set = new Set());
    set.add(ch);
  }

  remove(ch: Channel): void {
    const k = topicKey(ch.isPrivate, ch.name);
    const set = this.#subs.get(k);
    set?.delete(ch);
    if (set && set.size === 0) this.#subs.delete(k);
  }

  get size(): number {
    let n = 0;
    for (const s of this.#subs.values()) n += s.size;
    return n;
  }

  clear(): void {
    this.#subs.clear();
  }

  /** Delivers `out` on (isPrivate, name) to every reader but `except`; returns how many got it. */
  fanout(isPrivate: boolean, name: string, out: Outgoing, except: Channel | null = null): number {
    const set = this.#subs.get(topicKey(isPrivate, name));
    if (!set) return 0;
    const cache = new Map<Vsn, Frame | null>();
    let n = 0;
    for (const ch of [...set]) {
      if (ch === except || ch.closed) continue;
      if (ch.isPrivate && ch.policies?.broadcastRead !== true) continue;
      if (out.kind === "user" && out.id && ch.replayed.has(out.id)) continue;
      const vsn = ch.peer.vsn;
      if (!cache.has(vsn)) {
        cache.set(
          vsn,
          out.kind === "user"
            ? encodeUserBroadcast(vsn, ch.topic, out.ub)
            : encodeBroadcast(vsn, ch.topic, out.payload),
        );
      }
      const frame = cache.get(vsn);
      if (frame === null || frame === undefined) continue;
      ch.peer.send(frame);
      n++;
    }
    return n;
  }
}
