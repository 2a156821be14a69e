// The Realtime stand-in (tests/localstack/_realtime_setup.ts): what reaches a private channel.
// Broadcast from the database (realtime.send) delivered in commit order, also from a SECURITY
// DEFINER function; client broadcasts gated by INSERT policies; both serializers; replay on join.
import assert from "node:assert/strict";
import postgres from "postgres";
import { stack } from "../_helpers/stack.ts";
import { CHANNEL } from "../../localstack/realtime/listener.ts";
import { db, it, newUser } from "../_helpers/app.ts";
import { decodeFrame, type UserBroadcast } from "../../localstack/realtime/protocol.ts";
import {
  cleanup,
  join,
  lit,
  refused,
  scope,
  send,
  sleep,
  subscribed,
  tokenClient,
  until,
} from "./_realtime_setup.ts";

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

it("realtime: the database announces only the topics a channel is joined on, as soon as one is, and stops when the last leaves", async () => {
  const sc = await scope();
  const user = await newUser("rt-interest");
  const joined = sc.topic(user);
  const nobody = `${joined}:nobody`;
  // A listener of our own on the stand-in's channel sees what the database announces.
  const heard: { topic: string; seq: number }[] = [];
  const listener = postgres(stack.dbUrl, { max: 1, onnotice: () => {} });
  await listener.listen(CHANNEL, (raw) => {
    const note = JSON.parse(raw);
    if (!Array.isArray(note)) return;
    for (const m of note) heard.push({ topic: m.topic, seq: JSON.parse(m.payload ?? "{}").seq });
  });
  const seqsOn = (topic: string) => heard.filter((h) => h.topic === topic).map((h) => h.seq);
  const client = await tokenClient(user.token);
  try {
    const sub = join(client, joined);
    await subscribed(sub);
    // Commit order is announcement order: once a later message is heard, an earlier one would
    // have been.
    await send(nobody, { seq: 1 });
    await send(joined, { seq: 2 });
    await until(() => seqsOn(joined).includes(2), "the joined topic's message");
    assert.deepEqual(seqsOn(nobody), [], "nobody listens to that one");
    await until(() => sub.got.length === 1, "delivery");
    assert.equal(sub.got[0].payload.seq, 2);

    await client.removeChannel(sub.ch);
    await until(
      async () =>
        (await db()`select 1 from realtime_standin.listened_topics where topic = ${joined}`)
          .length === 0,
      "the registration removed after the last channel left",
    );
    await send(joined, { seq: 3 });
    const again = join(client, joined);
    await subscribed(again);
    await send(joined, { seq: 4 });
    await until(() => again.got.length === 1, "delivery after joining again");
    assert.equal(again.got[0].payload.seq, 4);
    assert.deepEqual(seqsOn(joined), [2, 4], "not announced while nobody was joined");
  } finally {
    await cleanup(client);
    await listener.end({ timeout: 1 });
    await sc.drop();
  }
});

it("realtime: a join is answered only after every transaction that may have missed its registration ended", async () => {
  const sc = await scope();
  const user = await newUser("rt-barrier");
  const topic = sc.topic(user);
  const writer = await db().reserve();
  const client = await tokenClient(user.token);
  try {
    // A writer that has already sent on the topic (nobody listening yet) and stays open.
    await writer.unsafe(`begin; set local role service_role;
      select realtime.send('{"seq": 1}', 'job', ${lit(topic)}, true);`);
    const sub = join(client, topic);
    await until(
      async () =>
        (await db()`select 1 from realtime_standin.listened_topics where topic = ${topic}`)
          .length === 1,
      "the topic registered",
    );
    await sleep(300);
    assert.deepEqual(sub.statuses, [], "the join waits for the open writer");
    await writer.unsafe("commit");
    await subscribed(sub);
    // What is sent after the answer arrives.
    await send(topic, { seq: 2 });
    await until(() => sub.got.some((m) => m.payload.seq === 2), "the message after the join");
  } finally {
    await writer.unsafe("rollback").catch(() => {});
    writer.release();
    await cleanup(client);
    await sc.drop();
  }
});
