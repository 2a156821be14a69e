// The setup shared by the Realtime stand-in's tests (SPEC §9) through supabase-js's own
// realtime client: realtime_delivery, realtime_access and realtime_resilience. The product's
// policies are not assumed: each test makes its own, on a topic prefix of its own, and drops it
// again (policies are per database and the stack tier shares one).
import { createClient, type RealtimeChannel, type SupabaseClient } from "@supabase/supabase-js";
import { db, type TestUser } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const nowS = () => Math.floor(Date.now() / 1000);
export const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 15_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A topic prefix of this test's own, and RLS policies on it that are dropped at the end. */
export async function scope(opts: { read?: boolean; write?: boolean } = {}) {
  const prefix = `rtt${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
  const made: string[] = [];
  const own = `realtime.topic() = ${lit(prefix + ":")} || auth.uid()::text`;
  const policy = async (kind: "select" | "insert") => {
    const name = `${prefix}_${kind}`;
    const rule = kind === "select" ? `using (${own})` : `with check (${own})`;
    await db().unsafe(
      `create policy "${name}" on realtime.messages for ${kind} to authenticated ${rule}`,
    );
    made.push(name);
  };
  if (opts.read ?? true) await policy("select");
  if (opts.write) await policy("insert");
  return {
    topic: (u: TestUser) => `${prefix}:${u.id}`,
    policy,
    async drop() {
      for (const n of made) await db().unsafe(`drop policy if exists "${n}" on realtime.messages`);
    },
  };
}

/** realtime.send as the service role, one transaction per call, as the product will call it. */
export async function send(topic: string, payload: unknown, opts: { private?: boolean } = {}) {
  await db().unsafe(`do $$ begin
    set local role service_role;
    perform realtime.send(${lit(JSON.stringify(payload))}::jsonb, 'job', ${lit(topic)},
      ${opts.private ?? true});
  end $$`);
}

export interface Sub {
  ch: RealtimeChannel;
  statuses: string[];
  errors: string[];
  // deno-lint-ignore no-explicit-any
  got: any[];
  // deno-lint-ignore no-explicit-any
  system: any[];
}

/** Subscribes the way the app does and records everything the channel reports. */
export function join(
  client: SupabaseClient,
  topic: string,
  // deno-lint-ignore no-explicit-any
  config: Record<string, any> = {},
  event = "job",
): Sub {
  const s: Omit<Sub, "ch"> = { statuses: [], errors: [], got: [], system: [] };
  const ch = client.channel(topic, { config: { private: true, ...config } })
    .on("broadcast", { event }, (m) => s.got.push(m))
    .on("system", {}, (m) => s.system.push(m))
    .subscribe((status, err) => {
      s.statuses.push(status);
      if (err) s.errors.push(err.message);
    });
  return { ...s, ch };
}

export const subscribed = (s: Sub, n = 1) =>
  until(() => s.statuses.filter((x) => x === "SUBSCRIBED").length >= n, "SUBSCRIBED");
export const refused = (s: Sub) =>
  until(() => s.statuses.includes("CHANNEL_ERROR"), "CHANNEL_ERROR");

/** A client on `url` whose realtime token is `token` (through the accessToken hook, then setAuth). */
export async function tokenClient(
  token: string | null,
  realtime: Record<string, unknown> = {},
  url = stack.url,
): Promise<SupabaseClient> {
  const client = createClient(url, stack.publishableKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    ...(token ? { accessToken: () => Promise.resolve(token) } : {}),
    realtime,
  });
  if (token) await client.realtime.setAuth(token);
  return client;
}

export async function cleanup(...clients: SupabaseClient[]) {
  for (const c of clients) await c.removeAllChannels().catch(() => {});
}
