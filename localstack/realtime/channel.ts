// The channel events, as RealtimeWeb.RealtimeChannel handles them (lib/realtime_web/channels/
// realtime_channel.ex and realtime_channel/broadcast_handler.ex in supabase/realtime):
// - phx_join: the access token is confirmed (role and exp required), a private channel needs
//   the realtime.messages SELECT policies to let the user read (broadcast, or presence when
//   enabled), refusals answer `{reason: "<Code>: <message>"}`; ok answers
//   `{postgres_changes: []}` (Postgres Changes are not served here; the client reports the
//   mismatch itself if it asked for some). The token is confirmed again at its `exp`.
// - access_token: a new user token is confirmed and the read policies run again; failing either,
//   or losing read, ends the channel with a `system` error then phx_close. `sb_…`, the same
//   token or none are ignored, as the server does.
// - broadcast: on a private channel the INSERT policies decide (checked once, at the first
//   broadcast after each join or token change); refused ones vanish without an answer, even
//   with `ack`; `self` decides the echo, `ack` the reply.
import type { Channel } from "./hub.ts";
import type { Connection } from "./connection.ts";
import { authorize, hexBytes, type Policies, type ProbeResult, replayMessages } from "./db.ts";
import { encodeUserBroadcast, type Incoming, type UserBroadcast } from "./protocol.ts";
import { confirmDelayMs, confirmToken, joinReason, shutdownMessage } from "./tokens.ts";

type Extension = "broadcast" | "presence";

interface JoinConfig {
  broadcast?: { self?: unknown; ack?: unknown; replay?: { since?: unknown; limit?: unknown } };
  presence?: { enabled?: unknown };
  postgres_changes?: unknown[];
  private?: unknown;
}

/** Realtime's FlexibleBoolean: true, "true" (any case) or 1. */
const flag = (v: unknown) => v === true || v === 1 || String(v).toLowerCase() === "true";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const unauthorized = (name: string) =>
  `You do not have permissions to read from this Channel topic: ${name}`;

function probeReason(r: Extract<ProbeResult, { ok: false }>, name: string): string {
  if (r.failure === "missing_partition") {
    return "MissingPartition: Realtime was unable to find the expected messages partition";
  }
  if (r.failure === "database_unavailable") {
    return "UnableToConnectToProject: Realtime was unable to connect to the project database";
  }
  return `Unauthorized: ${unauthorized(name)}`;
}

function readExtensions(presence: boolean): Extension[] {
  return presence ? ["broadcast", "presence"] : ["broadcast"];
}

const canRead = (p: Policies) => p.broadcastRead === true || p.presenceRead === true;

export async function join(conn: Connection, msg: Incoming): Promise<void> {
  const { ctx } = conn;
  const topic = msg.topic;
  const name = topic.slice("realtime:".length);
  const refuse = async (reason: string) => {
    ctx.log(`join ${topic} refused: ${reason}`);
    if (ctx.joinErrorBackoffMs > 0) await sleep(ctx.joinErrorBackoffMs);
    conn.reply(msg.joinRef, msg.ref, topic, "error", { reason });
  };
  if (!name) return await refuse("TopicNameRequired: You must provide a topic name");
  const params = (msg.payload && typeof msg.payload === "object" ? msg.payload : {}) as {
    config?: JoinConfig;
    access_token?: unknown;
    user_token?: unknown;
  };
  const config: JoinConfig = params.config && typeof params.config === "object"
    ? params.config
    : {};
  const given = typeof params.access_token === "string"
    ? params.access_token
    : typeof params.user_token === "string"
    ? params.user_token
    : null;
  const token = given && !given.startsWith("sb_") ? given : conn.identity.token;
  const isPrivate = flag(config.private);
  const presence = flag(config.presence?.enabled);

  const confirmed = await confirmToken(ctx.keys, token);
  if (!confirmed.ok) return await refuse(joinReason(confirmed));
  const { claims, exp } = confirmed.identity;

  let policies: Policies | null = null;
  if (isPrivate) {
    const r = await authorize(
      ctx.sql(),
      { topic: name, claims, headers: conn.headers },
      readExtensions(presence),
      [],
    );
    if (!r.ok) {
      ctx.log(`authorization probe for ${name} failed: ${String(r.error)}`);
      return await refuse(probeReason(r, name));
    }
    if (!canRead(r.policies)) return await refuse(`Unauthorized: ${unauthorized(name)}`);
    policies = r.policies;
  }

  const replay = config.broadcast?.replay;
  let replayed: Awaited<ReturnType<typeof replayMessages>> = [];
  if (replay) {
    if (!isPrivate) {
      return await refuse("UnableToReplayMessages: Replay is not allowed for public channels");
    }
    if (policies?.broadcastRead !== true) {
      return await refuse(`Unauthorized: ${unauthorized(name)}`);
    }
    const since = replay.since, limit = replay.limit ?? 25;
    if (!Number.isInteger(since) || !Number.isInteger(limit)) {
      return await refuse("UnableToReplayMessages: Replay params are not valid");
    }
    try {
      replayed = await replayMessages(ctx.sql(), name, since as number, limit as number);
    } catch {
      return await refuse("UnableToReplayMessages: Realtime was unable to replay messages");
    }
  }
  // Messages on the topic are announced from here on (interest.ts).
  const interest = ctx.interest();
  try {
    await interest.acquire(isPrivate, name);
  } catch (e) {
    ctx.log(`join ${topic}: registering the topic failed: ${e instanceof Error ? e.message : e}`);
    return await refuse(
      "UnableToConnectToProject: Realtime was unable to connect to the project database",
    );
  }
  if (conn.closed) return interest.release(isPrivate, name);

  const ch: Channel = {
    peer: conn,
    topic,
    name,
    joinRef: msg.joinRef,
    isPrivate,
    self: flag(config.broadcast?.self),
    ack: flag(config.broadcast?.ack),
    presence,
    token,
    claims,
    policies,
    replayed: new Set(replayed.map((m) => m.id)),
    closed: false,
    release: () => interest.release(isPrivate, name),
  };
  // Registered and answered in the same turn: nothing fanned out can overtake the reply.
  conn.channels.set(topic, ch);
  ctx.hub.add(ch);
  scheduleConfirm(conn, ch, exp);
  conn.reply(msg.joinRef, msg.ref, topic, "ok", { postgres_changes: [] });
  if (Array.isArray(config.postgres_changes) && config.postgres_changes.length > 0) {
    ctx.log(`join ${topic}: postgres_changes asked for, not served by the stand-in`);
  }
  for (const m of replayed) {
    const meta = { replayed: true, id: m.id };
    if (m.binary_payload !== null) {
      // Kind-4 frames for 2.0.0; a 1.0.0 socket cannot carry binary, the server skips those.
      const ub = {
        event: m.event ?? "",
        encoding: "binary" as const,
        body: hexBytes(m.binary_payload),
        meta,
      };
      const frame = encodeUserBroadcast(conn.vsn, topic, ub);
      if (frame) conn.send(frame);
    } else {
      const payload = m.payload === null ? null : JSON.parse(m.payload);
      conn.push(ch, "broadcast", { payload, event: m.event, type: "broadcast", meta });
    }
  }
  if (flag((config.broadcast as { replication_ready?: unknown } | undefined)?.replication_ready)) {
    // Delivery is connected before any socket is accepted, so this is nearly always "ok".
    if (!ctx.listening()) {
      return conn.shutdown(ch, "Replication connection was not established in time");
    }
    conn.push(ch, "system", {
      extension: "system",
      status: "ok",
      message: "Replication connection established",
      channel: name,
    });
  }
  if (presence && !ch.closed) conn.push(ch, "presence_state", {});
}

/** The server's :confirm_token timer: at `exp` (at most 5 min away) the token is checked again. */
function scheduleConfirm(conn: Connection, ch: Channel, exp: number): void {
  clearTimeout(ch.timer);
  ch.timer = setTimeout(() => {
    if (ch.closed) return;
    confirmToken(conn.ctx.keys, ch.token).then((c) => {
      if (ch.closed) return;
      if (c.ok) scheduleConfirm(conn, ch, c.identity.exp);
      else conn.shutdown(ch, shutdownMessage(c));
    }).catch((e) => conn.ctx.log(`token check of ${ch.topic} failed: ${e}`));
  }, confirmDelayMs(exp));
}

export async function accessToken(conn: Connection, ch: Channel, payload: unknown): Promise<void> {
  const t = (payload as { access_token?: unknown } | null)?.access_token;
  if (typeof t !== "string" || t.startsWith("sb_") || t === ch.token) return;
  const c = await confirmToken(conn.ctx.keys, t);
  if (ch.closed) return;
  if (!c.ok) return conn.shutdown(ch, shutdownMessage(c));
  let policies: Policies | null = null;
  if (ch.isPrivate) {
    const r = await authorize(
      conn.ctx.sql(),
      { topic: ch.name, claims: c.identity.claims, headers: conn.headers },
      readExtensions(ch.presence),
      [],
    );
    if (ch.closed) return;
    if (!r.ok) {
      return conn.shutdown(
        ch,
        r.failure === "rls_policy_error"
          ? unauthorized(ch.name)
          : "Realtime was unable to connect to the project database",
      );
    }
    if (!canRead(r.policies)) return conn.shutdown(ch, unauthorized(ch.name));
    const before = ch.policies;
    if (
      (before?.broadcastRead === true && r.policies.broadcastRead === false) ||
      (before?.presenceRead === true && r.policies.presenceRead === false)
    ) {
      return conn.shutdown(
        ch,
        `You no longer have permission to read from this Channel topic: ${ch.name}`,
      );
    }
    policies = r.policies;
  }
  ch.token = t;
  ch.claims = c.identity.claims;
  ch.policies = policies;
  scheduleConfirm(conn, ch, c.identity.exp);
}

export async function broadcast(conn: Connection, ch: Channel, msg: Incoming): Promise<void> {
  const { ctx } = conn;
  if (ch.isPrivate) {
    const p = ch.policies;
    if (!p) return;
    if (p.broadcastWrite === null) {
      const r = await authorize(
        ctx.sql(),
        { topic: ch.name, claims: ch.claims, headers: conn.headers },
        [],
        ["broadcast", "presence"],
        p,
      );
      if (ch.closed) return;
      if (!r.ok) {
        ctx.log(`write check for ${ch.name} failed (${r.failure}): ${String(r.error)}`);
        return;
      }
      ch.policies = r.policies;
    }
    if (ch.policies?.broadcastWrite !== true) return;
  }
  const p = msg.payload as UserBroadcast | Record<string, unknown>;
  const out = p && "body" in p && p.body instanceof Uint8Array
    ? { kind: "user" as const, ub: p as UserBroadcast }
    : { kind: "json" as const, payload: p };
  ctx.hub.fanout(ch.isPrivate, ch.name, out, ch.self ? null : ch);
  if (ch.ack) conn.reply(ch.joinRef, msg.ref, ch.topic, "ok", {});
}
