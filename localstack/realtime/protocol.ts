// The Phoenix channel wire formats Realtime speaks, chosen per socket by the `vsn` query
// parameter (realtime-js sends 2.0.0 by default and can be told 1.0.0):
// - 1.0.0: JSON objects; the server writes only topic, event, payload and ref (Phoenix's
//   V1.JSONSerializer) and cannot carry binary payloads.
// - 2.0.0: JSON arrays `[join_ref, ref, topic, event, payload]`, plus Realtime's binary frames
//   (RealtimeWeb.Socket.V2Serializer): kind 3 "user broadcast push" from the client (realtime-js
//   sends every broadcast that way) and kind 4 "user broadcast" to it, the only binary frame
//   realtime-js can decode, so nothing else binary is ever sent.
export type Vsn = "1.0.0" | "2.0.0";
export type Frame = string | Uint8Array;

/** A broadcast whose user payload travels as bytes (JSON text or raw binary). */
export interface UserBroadcast {
  event: string;
  encoding: "json" | "binary";
  body: Uint8Array;
  meta: Record<string, unknown> | null;
}

export interface Incoming {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  /** Decoded JSON, or a UserBroadcast from a kind-3 frame, or raw bytes from a kind-0 push. */
  payload: unknown;
}

const KIND_PUSH = 0;
const KIND_USER_BROADCAST_PUSH = 3;
const KIND_USER_BROADCAST = 4;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Phoenix's `vsn` negotiation: "~> 1.0.0" and "~> 2.0.0"; absent means 1.0.0. */
export function negotiateVsn(raw: string | null): Vsn | null {
  const v = raw ?? "1.0.0";
  if (/^1\.0\.\d+$/.test(v)) return "1.0.0";
  if (/^2\.0\.\d+$/.test(v)) return "2.0.0";
  return null;
}

const str = (v: unknown): string | null =>
  v === null || v === undefined ? null : typeof v === "string" ? v : String(v);

/** Decodes one client frame; throws on anything malformed (the caller logs and drops it). */
export function decodeFrame(vsn: Vsn, data: string | ArrayBuffer | Uint8Array): Incoming {
  if (typeof data !== "string") {
    if (vsn === "1.0.0") throw new Error("binary frame on a 1.0.0 socket");
    return decodeBinary(data instanceof Uint8Array ? data : new Uint8Array(data));
  }
  const parsed = JSON.parse(data);
  if (vsn === "2.0.0") {
    if (!Array.isArray(parsed) || parsed.length < 5) {
      throw new Error(`expected V2 array, got: ${data.slice(0, 200)}`);
    }
    const [joinRef, ref, topic, event, payload] = parsed;
    return checked({ joinRef: str(joinRef), ref: str(ref), topic, event, payload });
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error("V1 JSON Serializer expected a map");
  }
  return checked({
    joinRef: str(parsed.join_ref),
    ref: str(parsed.ref),
    topic: parsed.topic,
    event: parsed.event,
    payload: parsed.payload,
  });
}

function checked(m: Incoming): Incoming {
  if (typeof m.topic !== "string" || typeof m.event !== "string") {
    throw new Error("message without topic or event");
  }
  return m;
}

function decodeBinary(b: Uint8Array): Incoming {
  let at = 0;
  const byte = () => {
    if (at >= b.length) throw new Error("truncated binary frame");
    return b[at++];
  };
  const text = (n: number) => {
    if (at + n > b.length) throw new Error("truncated binary frame");
    const s = dec.decode(b.subarray(at, at + n));
    at += n;
    return s;
  };
  const kind = byte();
  if (kind === KIND_PUSH) {
    const [jr, tp, ev] = [byte(), byte(), byte()];
    const joinRef = text(jr), topic = text(tp), event = text(ev);
    return { joinRef: joinRef || null, ref: null, topic, event, payload: b.slice(at) };
  }
  if (kind === KIND_USER_BROADCAST_PUSH) {
    const [jr, rf, tp, ue, md, encoding] = [byte(), byte(), byte(), byte(), byte(), byte()];
    const joinRef = text(jr), ref = text(rf), topic = text(tp), event = text(ue);
    const metaText = text(md);
    const ub: UserBroadcast = {
      event,
      encoding: encoding === 0 ? "binary" : "json",
      body: b.slice(at),
      meta: metaText ? JSON.parse(metaText) : null,
    };
    return { joinRef: joinRef || null, ref: ref || null, topic, event: "broadcast", payload: ub };
  }
  throw new Error(`unknown binary frame kind ${kind}`);
}

/** A channel message (server push) on `topic`. */
export function encodePush(
  vsn: Vsn,
  joinRef: string | null,
  topic: string,
  event: string,
  payload: unknown,
): Frame {
  return vsn === "2.0.0"
    ? JSON.stringify([joinRef, null, topic, event, payload])
    : JSON.stringify({ topic, event, payload, ref: null });
}

/** `phx_close` / `phx_error` carry the join ref as their ref, as Phoenix sends them. */
export function encodeControl(vsn: Vsn, joinRef: string | null, topic: string, event: string) {
  return vsn === "2.0.0"
    ? JSON.stringify([joinRef, joinRef, topic, event, {}])
    : JSON.stringify({ topic, event, payload: {}, ref: joinRef });
}

export function encodeReply(
  vsn: Vsn,
  joinRef: string | null,
  ref: string | null,
  topic: string,
  status: "ok" | "error",
  response: unknown,
): Frame {
  const payload = { status, response };
  return vsn === "2.0.0"
    ? JSON.stringify([joinRef, ref, topic, "phx_reply", payload])
    : JSON.stringify({ topic, event: "phx_reply", payload, ref });
}

/** A fan-out of a JSON map payload (Phoenix.Socket.Broadcast): no refs. */
export function encodeBroadcast(vsn: Vsn, topic: string, payload: unknown): Frame {
  return vsn === "2.0.0"
    ? JSON.stringify([null, null, topic, "broadcast", payload])
    : JSON.stringify({ topic, event: "broadcast", payload, ref: null });
}

/**
 * A user broadcast: kind-4 binary for 2.0.0; for 1.0.0 the server converts JSON ones into a
 * plain broadcast and drops binary ones (UserBroadcast.convert_to_json_broadcast). Null = drop.
 */
export function encodeUserBroadcast(vsn: Vsn, topic: string, ub: UserBroadcast): Frame | null {
  if (vsn === "1.0.0") {
    if (ub.encoding !== "json") return null;
    const payload: Record<string, unknown> = {
      event: ub.event,
      payload: JSON.parse(dec.decode(ub.body)),
      type: "broadcast",
    };
    if (ub.meta) payload.meta = ub.meta;
    return encodeBroadcast(vsn, topic, payload);
  }
  const t = enc.encode(topic), e = enc.encode(ub.event);
  const m = ub.meta ? enc.encode(JSON.stringify(ub.meta)) : new Uint8Array(0);
  if (t.length > 255 || e.length > 255 || m.length > 255) return null;
  const out = new Uint8Array(5 + t.length + e.length + m.length + ub.body.length);
  out.set([KIND_USER_BROADCAST, t.length, e.length, m.length, ub.encoding === "json" ? 1 : 0]);
  let at = 5;
  for (const part of [t, e, m, ub.body]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
