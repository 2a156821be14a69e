// The Realtime stand-in (SPEC §9), through supabase-js's own realtime client: private channels
// decided by the realtime.messages RLS policies run as the user, Broadcast from the database
// (realtime.send) delivered in commit order, token expiry and refresh, client broadcasts gated
// by INSERT policies, heartbeats, both serializers, and a restart the client survives by
// itself. The product's policies are not assumed: each test makes its own, on a topic prefix of
// its own, and drops it again (policies are per database and the stack tier shares one).
import assert from "node:assert/strict";
import * as jose from "jose";
import { createClient, type RealtimeChannel, type SupabaseClient } from "@supabase/supabase-js";
import { db, it, newUser, type TestUser } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";
import { es256, userClaims } from "../_helpers/tokens.ts";
import type { StackKeys } from "../../localstack/keys.ts";
import { createRealtime, type Realtime } from "../../localstack/realtime/mod.ts";
import { decodeFrame, type UserBroadcast } from "../../localstack/realtime/protocol.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowS = () => Math.floor(Date.now() / 1000);
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A topic prefix of this test's own, and RLS policies on it that are dropped at the end. */
async function scope(opts: { read?: boolean; write?: boolean } = {}) {
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
async function send(topic: string, payload: unknown, opts: { private?: boolean } = {}) {
  await db().unsafe(`do $$ begin
    set local role service_role;
    perform realtime.send(${lit(JSON.stringify(payload))}::jsonb, 'job', ${lit(topic)},
      ${opts.private ?? true});
  end $$`);
}

interface Sub {
  ch: RealtimeChannel;
  statuses: string[];
  errors: string[];
  // deno-lint-ignore no-explicit-any
  got: any[];
  // deno-lint-ignore no-explicit-any
  system: any[];
}

/** Subscribes the way the app does and records everything the channel reports. */
function join(
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

const subscribed = (s: Sub, n = 1) =>
  until(() => s.statuses.filter((x) => x === "SUBSCRIBED").length >= n, "SUBSCRIBED");
const refused = (s: Sub) => until(() => s.statuses.includes("CHANNEL_ERROR"), "CHANNEL_ERROR");

/** A client on `url` whose realtime token is `token` (through the accessToken hook, then setAuth). */
async function tokenClient(
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

async function cleanup(...clients: SupabaseClient[]) {
  for (const c of clients) await c.removeAllChannels().catch(() => {});
}

it("realtime: the owner receives realtime.send messages in commit order; a user without a policy is refused", async () => {
  const sc = await scope({ read: false });
  const owner = await newUser("rt-owner");
  const topic = sc.topic(owner);
  try {
    await owner.client.realtime.setAuth(owner.token);
    const before = join(owner.client, topic);
    await refused(before);
    assert.match(
      before.errors[0],
      /^Unauthorized: You do not have permissions to read from this Channel topic: rtt/,
    );
    await owner.client.removeChannel(before.ch);

    await sc.policy("select");
    const sub = join(owner.client, topic);
    await subscribed(sub);
    for (let seq = 1; seq <= 5; seq++) await send(topic, { seq });
    // Never delivered: rolled back, sent on the public topic of the same name, too late to matter.
    await db().unsafe(`do $$ begin
      perform realtime.send('{"seq": -1}', 'job', ${lit(topic)}, true);
      raise exception 'rolled back';
    end $$`).catch(() => {});
    await send(topic, { seq: -2 }, { private: false });
    const big = "x".repeat(20_000);
    await send(topic, { seq: 6, big });
    await until(() => sub.got.some((m) => m.payload.seq === 6), "the last message");
    assert.deepEqual(sub.got.map((m) => m.payload.seq), [1, 2, 3, 4, 5, 6]);
    for (const m of sub.got) {
      assert.equal(m.type, "broadcast");
      assert.equal(m.event, "job");
      assert.equal(m.payload.id, m.meta.id, "realtime.send puts the message id into the payload");
    }
    assert.equal(sub.got[5].payload.big, big, "a row too big for a notification arrives whole");

    // One statement writing many rows (as the claim and completion do): they are announced in
    // batches that must not lose, reorder or split any, a too-big one among them included.
    await db().unsafe(`set role service_role;
      insert into realtime.messages (topic, extension, event, private, payload)
      select ${lit(topic)}, 'broadcast', 'job', true, jsonb_build_object('seq', 6 + g,
        'pad', repeat('p', case when g = 25 then 9000 else 400 end))
      from generate_series(1, 60) g order by g;
      reset role`);
    await until(() => sub.got.some((m) => m.payload.seq === 66), "the statement's last message");
    assert.deepEqual(
      sub.got.slice(6).map((m) => m.payload.seq),
      Array.from({ length: 60 }, (_, i) => 7 + i),
    );
    assert.equal((sub.got[6 + 24].payload.pad as string).length, 9000);
  } finally {
    await cleanup(owner.client);
    await sc.drop();
  }
});

it("realtime: realtime.send from a SECURITY DEFINER function with search_path = '' is delivered", async () => {
  const sc = await scope();
  const owner = await newUser("rt-definer");
  const schema = `${sc.topic(owner).split(":")[0]}_fn`;
  try {
    await db().unsafe(`create schema ${schema};
      create function ${schema}.emit(t text, n int) returns void
      language plpgsql security definer set search_path = '' as $f$
      begin
        perform realtime.send(jsonb_build_object('seq', n), 'job', t, true);
      end $f$;`);
    const sub = join(owner.client, sc.topic(owner));
    await subscribed(sub);
    await db()`select ${db()(schema)}.emit(${sc.topic(owner)}, 7)`;
    await until(() => sub.got.length > 0, "the message");
    assert.equal(sub.got[0].payload.seq, 7);
  } finally {
    await cleanup(owner.client);
    await db().unsafe(`drop schema if exists ${schema} cascade`);
    await sc.drop();
  }
});

it("realtime: another user, the publishable key alone and the legacy anon key cannot join the owner's topic", async () => {
  const sc = await scope();
  const [owner, other] = [await newUser("rt-a"), await newUser("rt-b")];
  const anon = await tokenClient(null);
  const legacy = createClient(stack.url, stack.anonKey, { auth: { persistSession: false } });
  try {
    await other.client.realtime.setAuth(other.token);
    const subs = [join(other.client, sc.topic(owner)), join(anon, sc.topic(owner))];
    subs.push(join(legacy, sc.topic(owner)));
    const own = join(owner.client, sc.topic(owner));
    await subscribed(own);
    for (const s of subs) {
      await refused(s);
      assert.equal(
        s.errors[0],
        `Unauthorized: You do not have permissions to read from this Channel topic: ${
          sc.topic(owner)
        }`,
      );
      assert.ok(!s.statuses.includes("SUBSCRIBED"));
    }
    await send(sc.topic(owner), { seq: 1 });
    await until(() => own.got.length === 1, "the owner's message");
    assert.ok(subs.every((s) => s.got.length === 0));
  } finally {
    await cleanup(owner.client, other.client, anon, legacy);
    await sc.drop();
  }
});

async function rawUpgrade(query: string): Promise<{ status: number; body: string }> {
  const u = new URL(stack.url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  try {
    await conn.write(new TextEncoder().encode(
      `GET /realtime/v1/websocket?${query} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Sec-WebSocket-Version: 13\r\n\r\n`,
    ));
    let text = "";
    const buf = new Uint8Array(4096);
    while (!/\r\n\r\n/.test(text) || (/ 401 /.test(text) && !text.trimEnd().endsWith("}"))) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return { status: Number(text.split(" ")[1]), body: text.split("\r\n\r\n")[1] ?? "" };
  } finally {
    conn.close();
  }
}

it("realtime: the upgrade needs a project API key (401 otherwise), as the platform's gateway", async () => {
  const user = await newUser("rt-key");
  const none = await rawUpgrade("vsn=2.0.0");
  assert.equal(none.status, 401);
  assert.deepEqual(JSON.parse(none.body), { message: "No API key found in request" });
  for (const bad of ["sb_publishable_not-the-key", user.token]) {
    const r = await rawUpgrade(`apikey=${encodeURIComponent(bad)}&vsn=2.0.0`);
    assert.equal(r.status, 401, bad.slice(0, 20));
    assert.deepEqual(JSON.parse(r.body), { message: "Invalid API key" });
  }
  for (const good of [stack.publishableKey, stack.secretKey, stack.anonKey, stack.serviceRoleKey]) {
    const r = await rawUpgrade(`apikey=${encodeURIComponent(good)}&vsn=2.0.0`);
    assert.equal(r.status, 101, good.slice(0, 20));
  }
});

it("realtime: an expired token cannot join; a joined channel is closed when its token expires", async () => {
  const sc = await scope();
  const user = await newUser("rt-exp");
  const expired = await es256(userClaims(user.id, { exp: nowS() - 60, iat: nowS() - 3600 }));
  const c1 = await tokenClient(expired);
  const exp = nowS() + 3;
  const c2 = await tokenClient(await es256(userClaims(user.id, { exp })));
  try {
    const dead = join(c1, sc.topic(user));
    await refused(dead);
    assert.match(dead.errors[0], /^InvalidJWTToken: Token has expired \d+ seconds ago$/);

    const sub = join(c2, sc.topic(user));
    await subscribed(sub);
    await until(() => sub.statuses.includes("CLOSED"), "the channel closed at exp", 15_000);
    assert.ok(nowS() >= exp, "closed no earlier than the token's exp");
    assert.equal(sub.system.length, 1);
    assert.equal(sub.system[0].extension, "system");
    assert.equal(sub.system[0].status, "error");
    assert.match(sub.system[0].message, /^Token has expired \d+ seconds ago$/);
  } finally {
    await cleanup(c1, c2);
    await sc.drop();
  }
});

it("realtime: setAuth with a fresh token keeps the channel past the first token's exp; another user's token ends it", async () => {
  const sc = await scope();
  const [user, other] = [await newUser("rt-fresh"), await newUser("rt-thief")];
  const exp = nowS() + 3;
  const client = await tokenClient(await es256(userClaims(user.id, { exp })));
  const c2 = await tokenClient(user.token);
  try {
    const sub = join(client, sc.topic(user));
    await subscribed(sub);
    await client.realtime.setAuth(await es256(userClaims(user.id, { exp: nowS() + 600 })));
    await until(() => nowS() > exp + 1, "the first token's exp");
    await send(sc.topic(user), { seq: 1 });
    await until(() => sub.got.length === 1, "a message after the first exp");
    assert.deepEqual(sub.statuses, ["SUBSCRIBED"]);
    assert.equal(sub.system.length, 0);

    // A refreshed token must pass the policies again: someone else's does not.
    const sub2 = join(c2, sc.topic(user));
    await subscribed(sub2);
    await c2.realtime.setAuth(other.token);
    await until(() => sub2.statuses.includes("CLOSED"), "the channel closed");
    assert.equal(
      sub2.system[0]?.message,
      `You do not have permissions to read from this Channel topic: ${sc.topic(user)}`,
    );
  } finally {
    await cleanup(client, c2);
    await sc.drop();
  }
});

it("realtime: a client broadcast reaches other subscribers only under an INSERT policy; ack and self as configured", async () => {
  const sc = await scope();
  const user = await newUser("rt-bc");
  const [a, b] = [await tokenClient(user.token), await tokenClient(user.token)];
  try {
    // Nobody may insert on this topic: the broadcast vanishes, unanswered even with ack.
    const sender = join(a, sc.topic(user), { broadcast: { ack: true } });
    const reader = join(b, sc.topic(user));
    await subscribed(sender);
    await subscribed(reader);
    const r = await sender.ch.send({ type: "broadcast", event: "job", payload: { seq: 1 } }, {
      timeout: 1500,
    });
    assert.equal(r, "timed out");
    await send(sc.topic(user), { seq: 2 });
    await until(() => reader.got.length > 0, "the database message");
    assert.deepEqual(reader.got.map((m) => m.payload.seq), [2], "the client broadcast never came");
    await cleanup(a, b);

    // With an INSERT policy on the user's own topic (checked at the first broadcast of a join).
    await sc.policy("insert");
    const [c, d, e] = [
      await tokenClient(user.token),
      await tokenClient(user.token),
      await tokenClient(user.token),
    ];
    try {
      const quiet = join(c, sc.topic(user), { broadcast: { ack: true } });
      const echo = join(d, sc.topic(user), { broadcast: { self: true } });
      const listener = join(e, sc.topic(user));
      for (const s of [quiet, echo, listener]) await subscribed(s);
      const ok = await quiet.ch.send({ type: "broadcast", event: "job", payload: { seq: 3 } });
      assert.equal(ok, "ok", "acknowledged");
      await echo.ch.send({ type: "broadcast", event: "job", payload: { seq: 4 } });
      await until(() => listener.got.length === 2 && quiet.got.length === 1, "both broadcasts");
      assert.deepEqual(listener.got.map((m) => m.payload.seq), [3, 4]);
      assert.deepEqual(quiet.got.map((m) => m.payload.seq), [4], "no echo without self");
      await until(() => echo.got.length === 2, "the echo");
      assert.deepEqual(echo.got.map((m) => m.payload.seq), [3, 4], "self: its own comes back");
    } finally {
      await cleanup(c, d, e);
    }
  } finally {
    await cleanup(a, b);
    await sc.drop();
  }
});

/** Records every frame the client sends, so the server's decoder meets the client's bytes. */
function recording(frames: (string | ArrayBuffer)[]) {
  return class extends WebSocket {
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView) {
      if (typeof data === "string") frames.push(data);
      else if (data instanceof ArrayBuffer) frames.push(data.slice(0));
      super.send(data);
    }
  };
}

it("realtime: both serializers (vsn 1.0.0 objects, 2.0.0 arrays and binary broadcasts) work, also with each other", async () => {
  const sc = await scope({ write: true });
  const user = await newUser("rt-vsn");
  const f1: (string | ArrayBuffer)[] = [];
  const f2: (string | ArrayBuffer)[] = [];
  const v1 = await tokenClient(user.token, { vsn: "1.0.0", transport: recording(f1) });
  const v2 = await tokenClient(user.token, { vsn: "2.0.0", transport: recording(f2) });
  try {
    const [s1, s2] = [join(v1, sc.topic(user)), join(v2, sc.topic(user))];
    await subscribed(s1);
    await subscribed(s2);
    await s1.ch.send({ type: "broadcast", event: "job", payload: { from: "v1" } });
    await s2.ch.send({ type: "broadcast", event: "job", payload: { from: "v2" } });
    // Unacknowledged sends resolve at once; let them land before the database message.
    await until(() => s1.got.length === 1 && s2.got.length === 1, "each other's broadcast");
    await send(sc.topic(user), { from: "db" });
    await until(() => s1.got.length === 2 && s2.got.length === 2, "two messages each");
    assert.deepEqual(s1.got.map((m) => m.payload.from), ["v2", "db"]);
    assert.deepEqual(s2.got.map((m) => m.payload.from), ["v1", "db"]);
    assert.deepEqual(s1.got[1].meta, { id: s1.got[1].payload.id });

    // realtime.send_binary: bytes for 2.0.0; a 1.0.0 socket cannot carry them and gets nothing.
    await db().unsafe(`select realtime.send_binary('\\x0102ff', 'job', ${lit(sc.topic(user))})`);
    await send(sc.topic(user), { from: "after" });
    await until(() => s1.got.length === 3 && s2.got.length === 4, "the binary and the next one");
    assert.ok(s2.got[2].payload instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(s2.got[2].payload)], [1, 2, 255]);
    assert.deepEqual(s1.got.map((m) => m.payload.from), ["v2", "db", "after"]);

    // What the clients actually sent, through the server's decoder.
    assert.ok(f1.every((f) => typeof f === "string" && !Array.isArray(JSON.parse(f))));
    const join1 = f1.map((f) => decodeFrame("1.0.0", f)).find((m) => m.event === "phx_join")!;
    assert.equal(join1.topic, `realtime:${sc.topic(user)}`);
    assert.equal((join1.payload as { config: { private: boolean } }).config.private, true);
    assert.ok(join1.joinRef && join1.ref);
    assert.ok(f2.some((f) => typeof f === "string" && Array.isArray(JSON.parse(f))));
    const bin = f2.filter((f) => f instanceof ArrayBuffer).map((f) => decodeFrame("2.0.0", f));
    assert.equal(bin.length, 1, "realtime-js sends its 2.0.0 broadcast as a binary frame");
    assert.equal(bin[0].event, "broadcast");
    assert.equal(bin[0].topic, `realtime:${sc.topic(user)}`);
    const ub = bin[0].payload as UserBroadcast;
    assert.equal(ub.event, "job");
    assert.equal(ub.encoding, "json");
    assert.deepEqual(JSON.parse(new TextDecoder().decode(ub.body)), { from: "v2" });
    assert.throws(() => decodeFrame("2.0.0", JSON.stringify({ topic: "t", event: "e" })));
    assert.throws(() => decodeFrame("1.0.0", new Uint8Array([3, 0, 0, 0, 0, 0, 1])));
  } finally {
    await cleanup(v1, v2);
    await sc.drop();
  }
});

it("realtime: replay on join brings the last private messages since a time, marked replayed, then live ones", async () => {
  const sc = await scope();
  const user = await newUser("rt-replay");
  const since = Date.now() - 1000;
  for (let seq = 1; seq <= 3; seq++) await send(sc.topic(user), { seq });
  const client = await tokenClient(user.token);
  try {
    const sub = join(client, sc.topic(user), { broadcast: { replay: { since, limit: 2 } } });
    await subscribed(sub);
    await until(() => sub.got.length === 2, "two replayed messages");
    await send(sc.topic(user), { seq: 4 });
    await until(() => sub.got.length === 3, "the live message");
    assert.deepEqual(sub.got.map((m) => m.payload.seq), [2, 3, 4]);
    assert.deepEqual(sub.got.map((m) => m.meta.replayed ?? false), [true, true, false]);
    assert.equal(sub.got[0].meta.id, sub.got[0].payload.id);
  } finally {
    await cleanup(client);
    await sc.drop();
  }
});

// --- a Realtime stand-in of the test's own, on the stack's database -----------------------------

async function stackKeys(): Promise<StackKeys> {
  const priv = JSON.parse(stack.es256PrivateJwk);
  return {
    jwtSecret: stack.jwtSecret,
    publishableKey: stack.publishableKey,
    secretKey: stack.secretKey,
    anonKey: stack.anonKey,
    serviceRoleKey: stack.serviceRoleKey,
    issuer: `${stack.url}/auth/v1`,
    jwks: JSON.parse(stack.jwks),
    es256PrivateKey: (await jose.importJWK(priv, "ES256")) as CryptoKey,
    es256Kid: priv.kid,
    userTokenAlg: "ES256",
  };
}

async function ownRealtime(opts: { idleTimeoutMs?: number } = {}) {
  const applicationName = `rt-test-${crypto.randomUUID().slice(0, 8)}`;
  const rt: Realtime = await createRealtime({
    dbUrl: stack.dbUrl,
    keys: await stackKeys(),
    idleTimeoutMs: opts.idleTimeoutMs,
    applicationName,
    listenerProbeMs: 500,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => rt.handler(req),
  );
  return {
    rt,
    applicationName,
    url: `http://127.0.0.1:${server.addr.port}`,
    async stop() {
      await rt.stop();
      await server.shutdown();
    },
  };
}

it("realtime: heartbeats are answered, so a client outlives the transport timeout; a silent socket does not", async () => {
  const own = await ownRealtime({ idleTimeoutMs: 1500 });
  const sc = await scope();
  const user = await newUser("rt-hb");
  const beats: string[] = [];
  const client = await tokenClient(user.token, {
    heartbeatIntervalMs: 300,
    heartbeatCallback: (s: string) => beats.push(s),
  }, own.url);
  try {
    const sub = join(client, sc.topic(user));
    await subscribed(sub);
    await until(() => beats.filter((b) => b === "ok").length >= 10, "ten answered heartbeats");
    assert.ok(!beats.includes("timeout"), "no heartbeat went unanswered");
    assert.deepEqual(sub.statuses, ["SUBSCRIBED"], "the socket never dropped");
    await send(sc.topic(user), { seq: 1 });
    await until(() => sub.got.length === 1, "a message on the long-lived socket");

    // The control: a socket that sends nothing is closed by the server after the timeout.
    const ws = new WebSocket(
      `${
        own.url.replace("http", "ws")
      }/realtime/v1/websocket?apikey=${stack.publishableKey}&vsn=2.0.0`,
    );
    let closed = false;
    ws.onclose = () => closed = true;
    await until(() => closed, "the silent socket closed", 10_000);
  } finally {
    await cleanup(client);
    await own.stop();
    await sc.drop();
  }
});

it("realtime: after a stand-in restart the client reconnects and rejoins by itself and gets what is sent after", async () => {
  const own = await ownRealtime();
  const sc = await scope();
  const user = await newUser("rt-restart");
  const client = await tokenClient(user.token, {}, own.url);
  try {
    const sub = join(client, sc.topic(user));
    await subscribed(sub);
    await send(sc.topic(user), { seq: 1 });
    await until(() => sub.got.length === 1, "the first message");
    assert.equal(own.rt.stats().sockets, 1);

    await own.rt.restart();
    assert.equal(own.rt.stats().channels, 0, "the restart dropped every channel");
    await until(() => sub.statuses.includes("CHANNEL_ERROR"), "the client noticing the crash");
    await subscribed(sub, 2);
    assert.equal(own.rt.stats().channels, 1, "rejoined");
    await send(sc.topic(user), { seq: 2 });
    await until(() => sub.got.length === 2, "a message after the restart");
    assert.deepEqual(sub.got.map((m) => m.payload.seq), [1, 2]);
  } finally {
    await cleanup(client);
    await own.stop();
    await sc.drop();
  }
});

it("realtime: when its database connections are killed, delivery resumes by itself and sockets stay joined", async () => {
  const own = await ownRealtime();
  const sc = await scope();
  const user = await newUser("rt-dbkill");
  const client = await tokenClient(user.token, {}, own.url);
  try {
    const sub = join(client, sc.topic(user));
    await subscribed(sub);
    const killed = await db()`
      select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name = ${own.applicationName}`;
    assert.ok(killed.length >= 1, "the LISTEN connection was there to kill");
    // What is written while it is reconnecting is lost, as with the server's temporary slot:
    // keep sending until one arrives.
    for (let seq = 1; sub.got.length === 0; seq++) {
      if (seq > 60) throw new Error("no delivery after the connections were killed");
      await send(sc.topic(user), { seq });
      await sleep(250);
    }
    assert.deepEqual(sub.statuses, ["SUBSCRIBED"], "the socket and channel were never touched");
  } finally {
    await cleanup(client);
    await own.stop();
    await sc.drop();
  }
});
