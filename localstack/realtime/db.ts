// Every SQL statement the Realtime stand-in runs, each ONE statement on the direct connection
// (no client-side transaction: postgres.js's sql.begin() can throw into the process when a
// connection is reset, and this process lives long). The authorization probe is a function of
// the bootstrap (realtime_standin.authorize) that switches to the user and rolls back itself.
import postgres from "postgres";
import type * as jose from "jose";

export interface Policies {
  broadcastRead: boolean | null;
  presenceRead: boolean | null;
  /** Unknown (null) until the first broadcast asks, as the server checks writes lazily. */
  broadcastWrite: boolean | null;
  presenceWrite: boolean | null;
}

export const NO_POLICIES: Policies = {
  broadcastRead: null,
  presenceRead: null,
  broadcastWrite: null,
  presenceWrite: null,
};

/** Why a probe gave no answer, as Realtime.Tenants.Authorization classifies it. */
export type ProbeFailure = "rls_policy_error" | "missing_partition" | "database_unavailable";

export type ProbeResult =
  | { ok: true; policies: Policies }
  | { ok: false; failure: ProbeFailure; error: unknown };

export interface AuthorizationContext {
  topic: string;
  claims: jose.JWTPayload;
  headers: Record<string, string>;
}

export interface StoredMessage {
  id: string;
  topic: string;
  event: string | null;
  private: boolean | null;
  /** jsonb text, exactly as Postgres prints it (null for binary messages). */
  payload: string | null;
  /** hex of binary_payload. */
  binary_payload: string | null;
}

export function connect(dbUrl: string, applicationName: string, max = 3): postgres.Sql {
  return postgres(dbUrl, {
    max,
    onnotice: () => {},
    connection: { application_name: applicationName },
  });
}

function classify(error: unknown): ProbeFailure {
  if (error instanceof postgres.PostgresError) {
    // A row with no partition for it fails the partition constraint (23514).
    if (error.code === "23514" && /messages/.test(error.table_name ?? error.message)) {
      return "missing_partition";
    }
    return "rls_policy_error";
  }
  return "database_unavailable";
}

/**
 * Runs the realtime.messages policies as the caller: `read` probes SELECT for each extension,
 * `write` probes INSERT. Policies not probed keep the values of `base`.
 */
export async function authorize(
  sql: postgres.Sql,
  ctx: AuthorizationContext,
  read: ("broadcast" | "presence")[],
  write: ("broadcast" | "presence")[],
  base: Policies = NO_POLICIES,
): Promise<ProbeResult> {
  const role = typeof ctx.claims.role === "string" ? ctx.claims.role : "";
  try {
    const [row] = await sql<{ r: Record<string, boolean> }[]>`
      select realtime_standin.authorize(
        ${role}, ${sql.json(ctx.claims as postgres.JSONValue)}, ${ctx.topic},
        ${sql.json(ctx.headers)}, ${read}::text[], ${write}::text[]) as r`;
    const r = row.r;
    const pick = (k: string, old: boolean | null) => (k in r ? r[k] === true : old);
    return {
      ok: true,
      policies: {
        broadcastRead: pick("broadcast_read", base.broadcastRead),
        presenceRead: pick("presence_read", base.presenceRead),
        broadcastWrite: pick("broadcast_write", base.broadcastWrite),
        presenceWrite: pick("presence_write", base.presenceWrite),
      },
    };
  } catch (error) {
    return { ok: false, failure: classify(error), error };
  }
}

/** Realtime.Messages.replay: the last `limit` (1..25) private broadcasts since `sinceMs`. */
export async function replayMessages(
  sql: postgres.Sql,
  topic: string,
  sinceMs: number,
  limit: number,
): Promise<StoredMessage[]> {
  const n = Math.max(1, Math.min(25, Math.floor(limit)));
  const rows = await sql<StoredMessage[]>`
    select id, topic, event, private, payload::text as payload,
      encode(binary_payload, 'hex') as binary_payload
    from realtime.messages
    where topic = ${topic} and private is true and extension = 'broadcast'
      and inserted_at >= (to_timestamp(${sinceMs}::float8 / 1000) at time zone 'utc')
      and inserted_at < (now() at time zone 'utc') + interval '1 minute'
    order by inserted_at desc
    limit ${n}`;
  return rows.reverse();
}

/**
 * A row whose notification was too big to carry it. The key's timestamp is passed as text:
 * postgres.js would turn a timestamp parameter into a JS Date and lose the microseconds.
 */
export async function fetchMessage(
  sql: postgres.Sql,
  id: string,
  insertedAt: string,
): Promise<StoredMessage | null> {
  const rows = await sql<StoredMessage[]>`
    select id, topic, event, private, payload::text as payload,
      encode(binary_payload, 'hex') as binary_payload
    from realtime.messages where id = ${id} and inserted_at = (${insertedAt}::text)::timestamp`;
  return rows[0] ?? null;
}

/** The server's partition upkeep: yesterday .. today + 3 (UTC), older than 72 h dropped. */
export async function ensurePartitions(sql: postgres.Sql): Promise<void> {
  await sql`select realtime_standin.ensure_partitions()`;
}

export function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The topics `holder` has channels joined on (a new one, or all of them to renew). */
export async function listenTopics(
  sql: postgres.Sql,
  holder: string,
  topics: { topic: string; private: boolean }[],
): Promise<void> {
  await sql`select realtime_standin.listen_topics(${holder}, ${sql.json(topics)})`;
}

/** A topic `holder` has no channel joined on any more. */
export async function unlistenTopic(
  sql: postgres.Sql,
  holder: string,
  topic: string,
  isPrivate: boolean,
): Promise<void> {
  await sql`select realtime_standin.unlisten_topic(${holder}, ${topic}, ${isPrivate})`;
}

/** Waits out the transactions that may not have seen a new listened topic (false: timed out). */
export async function awaitWriters(sql: postgres.Sql, timeoutMs: number): Promise<boolean> {
  const [r] = await sql<{ done: boolean }[]>`
    select realtime_standin.await_writers(${timeoutMs}) as done`;
  return r.done;
}

export async function forgetHolder(sql: postgres.Sql, holder: string): Promise<void> {
  await sql`select realtime_standin.forget_holder(${holder})`;
}
