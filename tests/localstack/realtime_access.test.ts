// The Realtime stand-in (tests/localstack/_realtime_setup.ts): who may join a private channel.
// The realtime.messages RLS policies run as the user (another user, the publishable key alone,
// the legacy anon key), the project API key of the upgrade, token expiry and refresh.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { it, newUser } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";
import { es256, userClaims } from "../_helpers/tokens.ts";
import {
  cleanup,
  join,
  nowS,
  refused,
  scope,
  send,
  subscribed,
  tokenClient,
  until,
} from "./_realtime_setup.ts";

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
