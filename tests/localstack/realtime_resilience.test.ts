// The Realtime stand-in (tests/localstack/_realtime_setup.ts) on an instance of the test's own,
// on the stack's database: heartbeats keep a client past the transport timeout, and a restart or
// killed database connections the client survives by itself.
import assert from "node:assert/strict";
import * as jose from "jose";
import { db, it, newUser } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";
import type { StackKeys } from "../../localstack/keys.ts";
import { createRealtime, type Realtime } from "../../localstack/realtime/mod.ts";
import {
  cleanup,
  join,
  scope,
  send,
  sleep,
  subscribed,
  tokenClient,
  until,
} from "./_realtime_setup.ts";

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
