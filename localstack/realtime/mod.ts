// Local stand-in for Supabase Realtime (SPEC §9): the Phoenix channel WebSocket at
// /realtime/v1/websocket as realtime-js speaks it (both serializers), Broadcast with private
// channels authorized by the realtime.messages RLS policies run as the user, and Broadcast from
// the database (realtime.send) delivered through a LISTEN on the direct connection (see
// listener.ts). Presence is answered but not tracked; Postgres Changes are not served; the
// REST broadcast endpoint (/realtime/v1/api/broadcast) is not there (404).
// The gateway hands every /realtime/v1/… request here untouched; the stand-in checks the key.
import type postgres from "postgres";
import type { StackKeys } from "../keys.ts";
import { Connection, type Context } from "./connection.ts";
import { connect, ensurePartitions, hexBytes, type StoredMessage } from "./db.ts";
import { Hub } from "./hub.ts";
import { TopicInterest } from "./interest.ts";
import { Listener } from "./listener.ts";
import { negotiateVsn } from "./protocol.ts";
import { socketIdentity } from "./tokens.ts";

export interface RealtimeOptions {
  /** The DIRECT database URL (LISTEN does not pass a transaction pooler). */
  dbUrl: string;
  keys: StackKeys;
  log?: (line: string) => void;
  /** Phoenix's transport timeout: a socket that sends nothing this long is closed (60 000). */
  idleTimeoutMs?: number;
  /**
   * The server sleeps CHANNEL_ERROR_BACKOFF_MS before it answers a refused join; 0 here by
   * default so refusals come at once in tests.
   */
  joinErrorBackoffMs?: number;
  /** Liveness probe of the LISTEN connection (default 2000 ms). */
  listenerProbeMs?: number;
  /** application_name of its database connections (default "realtime-standin"). */
  applicationName?: string;
}

export interface Realtime {
  /** Serves /realtime/v1/… (give it to createGateway as `realtime`). */
  handler(req: Request): Promise<Response>;
  /**
   * A crash and a restart: every socket is cut at once (close 1011, no goodbye on its channels),
   * the database connections are dropped, upgrades get 503 until it is back, then it accepts
   * again. Clients reconnect and rejoin by themselves.
   */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Open sockets and joined channels, for tests. */
  stats(): { sockets: number; channels: number };
}

const WEBSOCKET_PATH = /^\/realtime\/v1\/websocket\/?$/;
const PARTITION_UPKEEP_MS = 60 * 60_000;

/** Starts the stand-in; resolves once delivery from the database is listening. */
export async function createRealtime(opts: RealtimeOptions): Promise<Realtime> {
  const log = opts.log ?? (() => {});
  const appName = opts.applicationName ?? "realtime-standin";
  const hub = new Hub();
  const sockets = new Set<Connection>();
  let sql: postgres.Sql | null = null;
  let listener: Listener | null = null;
  let interest: TopicInterest | null = null;
  let upkeep: ReturnType<typeof setInterval> | undefined;
  let state: "running" | "down" = "down";

  const ctx: Context = {
    keys: opts.keys,
    hub,
    sql: () => {
      if (!sql) throw new Error("realtime stand-in is not running");
      return sql;
    },
    interest: () => {
      if (!interest) throw new Error("realtime stand-in is not running");
      return interest;
    },
    log,
    listening: () => listener?.listening ?? false,
    joinErrorBackoffMs: opts.joinErrorBackoffMs ?? 0,
  };

  function deliver(m: StoredMessage): void {
    // As the server's replication reader: rows missing event or private are skipped.
    if (m.event === null || m.private === null) return;
    const body = m.binary_payload !== null
      ? hexBytes(m.binary_payload)
      : new TextEncoder().encode(m.payload ?? "null");
    hub.fanout(m.private, m.topic, {
      kind: "user",
      id: m.id,
      ub: {
        event: m.event,
        encoding: m.binary_payload !== null ? "binary" : "json",
        body,
        meta: { id: m.id },
      },
    });
  }

  async function start(): Promise<void> {
    sql = connect(opts.dbUrl, appName);
    await ensurePartitions(sql).catch((e) => {
      throw new Error(
        `realtime stand-in: ${e instanceof Error ? e.message : e} ` +
          "(is localstack/db/bootstrap/ applied? migrate() applies it)",
      );
    });
    upkeep = setInterval(() => {
      if (sql) ensurePartitions(sql).catch((e) => log(`PartitionCreationFailed: ${e}`));
    }, PARTITION_UPKEEP_MS);
    listener = new Listener({
      connect: () => connect(opts.dbUrl, appName, 1),
      onMessage: deliver,
      log,
      probeMs: opts.listenerProbeMs,
    });
    await listener.start();
    interest = new TopicInterest(`${appName}:${crypto.randomUUID().slice(0, 8)}`, ctx.sql, log);
    state = "running";
  }

  async function halt(code: number, reason: string): Promise<void> {
    state = "down";
    clearInterval(upkeep);
    for (const s of [...sockets]) s.close(code, reason);
    sockets.clear();
    hub.clear();
    const [l, db, topics] = [listener, sql, interest];
    listener = null;
    interest = null;
    await topics?.close();
    sql = null;
    await l?.stop();
    await db?.end({ timeout: 1 }).catch(() => {});
  }

  async function handler(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (!WEBSOCKET_PATH.test(url.pathname)) {
      return Response.json({ message: "Not found" }, { status: 404 });
    }
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("Bad Request", { status: 400 });
    }
    if (state !== "running") return new Response("Service Unavailable", { status: 503 });
    const identity = await socketIdentity(
      opts.keys,
      url.searchParams.get("apikey") ?? req.headers.get("apikey"),
    );
    if (identity instanceof Response) return identity;
    const vsn = negotiateVsn(url.searchParams.get("vsn"));
    // Phoenix refuses a version it has no serializer for with 403.
    if (!vsn) return new Response(null, { status: 403 });
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => {
      if (k.startsWith("x-")) headers[k] = v;
    });
    const { socket, response } = Deno.upgradeWebSocket(req);
    const conn = new Connection(socket, vsn, identity, headers, ctx, opts.idleTimeoutMs ?? 60_000);
    sockets.add(conn);
    socket.addEventListener("close", () => sockets.delete(conn));
    return response;
  }

  await start();
  return {
    handler,
    async restart() {
      log("restart: cutting every socket");
      await halt(1011, "");
      await start();
      log("restart: accepting again");
    },
    async stop() {
      await halt(1001, "going away");
    },
    stats: () => ({ sockets: sockets.size, channels: hub.size }),
  };
}
