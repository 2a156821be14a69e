// Live job updates over Realtime (SPEC §9), through supabase-js's own realtime client: the owner
// receives every kind's job from accepted to its end, in order, with nothing that expires in any
// payload; failed and cancelled jobs end with their terminal event; nobody else can listen and
// nobody can broadcast into the topic; subscribe-then-fetch never misses the end of a job.
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import {
  call,
  db,
  it,
  makePng,
  newUser,
  type TestUser,
  uploadInput,
  waitForJob,
} from "../_helpers/app.ts";
import { checkStream, subscribeJobs, TERMINAL } from "../_helpers/realtime.ts";
import { stack } from "../_helpers/stack.ts";
import { es256, userClaims } from "../_helpers/tokens.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(user: TestUser, fn: string, body: Record<string, unknown>): Promise<string> {
  const r = await call(fn, { token: user.token, body });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.job_id;
}

it("live updates: every kind's job from accepted to complete, in order, nothing that expires", async () => {
  const user = await newUser("live");
  const feed = await subscribeJobs(user);
  try {
    const img = await uploadInput(user, "in.png", makePng(32, 32, 4));
    const jobs: Record<string, string> = {
      text: await start(user, "generate-text-to-model", {
        task_id: "lv-t",
        prompt: "a live teapot",
      }),
      image: await start(user, "generate-image-to-model", {
        task_id: "lv-i",
        input_image_asset_urls: [img],
      }),
      sketch: await start(user, "generate-sketch-to-model", {
        task_id: "lv-s",
        input_sketch_asset_url: img,
      }),
      concept: await start(user, "generate-image-to-image", {
        task_id: "lv-c",
        prompt: "a live cabin",
        n: 2,
        input_image_asset_url: img,
      }),
    };
    for (const [name, id] of Object.entries(jobs)) {
      const evs = await feed.until(id, (e) => e.some((x) => TERMINAL.has(x.status)), name);
      assert.equal(
        checkStream(evs),
        null,
        `${name}: ${JSON.stringify(evs.map((e) => [e.seq, e.status]))}`,
      );
      assert.equal(evs[0].status, "pending", `${name}: the first event is the acceptance`);
      assert.ok(evs.some((e) => e.status === "processing"), `${name}: a started event`);
      const last = evs.at(-1)!;
      assert.equal(last.status, "complete", name);
      assert.equal(last.progress, 100, name);
      assert.ok(last.outputs.length >= 1, name);
      for (const o of last.outputs) {
        assert.deepEqual(
          Object.keys(o).sort(),
          ["bucket", "path"],
          `${name}: outputs are bucket + path`,
        );
        assert.ok(o.path.startsWith(`${user.id}/`), o.path);
      }
      assert.equal(typeof last.updated_at, "string");
      // The event and task-status agree on the end state.
      const s = await waitForJob(user, id, name === "concept" ? "openai" : "tripoai");
      assert.equal(s.status, "complete");
      assert.equal(
        (s as unknown as { seq: number }).seq,
        last.seq,
        `${name}: task-status shows the last seq`,
      );
    }
    // A running Tripo job reports Tripo's own progress on the way. A task that runs 20 s is
    // polled while it runs whatever the machine's pace (a 2 s one can end before its first poll
    // when process-jobs is slow to wake, as in the early-drop tier); cancelled once seen.
    const slow = await start(user, "generate-text-to-model", {
      task_id: "lv-p",
      prompt: "a slow live teapot [sim:slow=20000]",
    });
    const seen = await feed.until(
      slow,
      (e) => e.some((x) => x.status === "processing" && x.progress > 0),
      "a progress event",
    );
    assert.ok(seen.every((e) => !TERMINAL.has(e.status)), "progress before the end");
    const c = await call(`task-status/${slow}`, { token: user.token, method: "DELETE" });
    assert.equal(c.status, 200);
    const ended = await feed.until(slow, (e) => e.some((x) => TERMINAL.has(x.status)), "its end");
    assert.equal(checkStream(ended), null);
    // A refine of the finished text model: its own stream too.
    const [m] = await db()`select asset_url from public.models where job_id = ${jobs.text}`;
    const refine = await start(user, "generate-refine-model", {
      task_id: "lv-t",
      input_model_asset_url: m.asset_url,
    });
    const evs = await feed.until(refine, (e) => e.some((x) => TERMINAL.has(x.status)), "refine");
    assert.equal(checkStream(evs), null);
    assert.equal(evs.at(-1)!.status, "complete");
  } finally {
    await feed.close();
  }
});

it("live updates: a failed job and a cancelled one end with their terminal event", async () => {
  const user = await newUser("live-fail");
  const feed = await subscribeJobs(user);
  try {
    const failing = await start(user, "generate-text-to-model", {
      task_id: "lf",
      prompt: "refused [sim:fail]",
    });
    const evs = await feed.until(
      failing,
      (e) => e.some((x) => TERMINAL.has(x.status)),
      "the failure",
    );
    assert.equal(checkStream(evs), null);
    assert.deepEqual([evs.at(-1)!.status, evs.at(-1)!.error_code], ["failed", "task_failed"]);
    assert.equal(typeof evs.at(-1)!.error, "string");
    // A job still being made is cancelled by its owner.
    const slow = await start(user, "generate-text-to-model", {
      task_id: "lc",
      prompt: "slow [sim:slow=20000]",
    });
    await feed.until(slow, (e) => e.length >= 1, "the acceptance");
    const c = await call(`task-status/${slow}`, { token: user.token, method: "DELETE" });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const cevs = await feed.until(slow, (e) => e.some((x) => TERMINAL.has(x.status)), "the cancel");
    assert.equal(checkStream(cevs), null);
    assert.deepEqual([cevs.at(-1)!.status, cevs.at(-1)!.error_code], ["failed", "cancelled"]);
    // Nothing after the terminal event, even while the provider finishes its side.
    await sleep(1500);
    assert.equal(feed.of(slow).length, cevs.length, "an event after the terminal one");
  } finally {
    await feed.close();
  }
});

it("live updates: another user, the publishable key alone and an expired token cannot listen", async () => {
  const owner = await newUser("live-owner");
  const other = await newUser("live-other");
  const topic = `user:${owner.id}:jobs`;
  const refusedWith = async (client: SupabaseClient, token?: string) => {
    if (token) client.realtime.setAuth(token);
    const statuses: string[] = [];
    const got: unknown[] = [];
    const ch = client.channel(topic, { config: { private: true } })
      .on("broadcast", { event: "job" }, (m) => got.push(m))
      .subscribe((s, err) => statuses.push(err ? `${s}: ${err.message}` : s));
    for (let i = 0; i < 300 && !statuses.some((s) => s !== "SUBSCRIBED" && s !== "CLOSED"); i++) {
      if (statuses.includes("SUBSCRIBED")) break;
      await sleep(20);
    }
    return { ch, statuses, got, client };
  };
  const noSession = { auth: { persistSession: false, autoRefreshToken: false } };
  const attempts = [
    await refusedWith(other.client, other.token),
    await refusedWith(createClient(stack.url, stack.publishableKey, noSession)),
    await refusedWith(
      createClient(stack.url, stack.publishableKey, noSession),
      await es256(userClaims(owner.id, { exp: Math.floor(Date.now() / 1000) - 30 })),
    ),
  ];
  const feed = await subscribeJobs(owner);
  try {
    const id = await start(owner, "generate-text-to-model", { task_id: "lp", prompt: "private" });
    await feed.until(id, (e) => e.some((x) => TERMINAL.has(x.status)), "the owner's events");
    for (const a of attempts) {
      assert.ok(!a.statuses.includes("SUBSCRIBED"), `joined: ${a.statuses.join(", ")}`);
      assert.ok(a.statuses.some((s) => s.startsWith("CHANNEL_ERROR")), a.statuses.join(", "));
      assert.equal(a.got.length, 0, "an event reached someone else");
      await a.client.removeChannel(a.ch);
    }
  } finally {
    await feed.close();
  }
});

it("live updates: a broadcast from a client into the topic reaches nobody", async () => {
  const owner = await newUser("live-bc");
  const feed = await subscribeJobs(owner);
  // A second subscription of the owner's, sending into the topic (no one may write to it).
  const second = await newUser("live-bc-sender");
  const sender = createClient(stack.url, stack.publishableKey, {
    auth: { persistSession: false, autoRefreshToken: false },
  });
  sender.realtime.setAuth(owner.token);
  const statuses: string[] = [];
  const ch = sender.channel(`user:${owner.id}:jobs`, {
    config: { private: true, broadcast: { ack: true } },
  })
    .subscribe((s) => statuses.push(s));
  try {
    for (let i = 0; i < 300 && !statuses.includes("SUBSCRIBED"); i++) await sleep(20);
    assert.ok(statuses.includes("SUBSCRIBED"), "the owner may listen from a second client");
    const r = await ch.send({
      type: "broadcast",
      event: "job",
      payload: { task_id: "forged", status: "complete" },
    });
    assert.notEqual(r, "ok", "the broadcast was acknowledged");
    const id = await start(owner, "generate-text-to-model", {
      task_id: "lb",
      prompt: "after a forgery",
    });
    await feed.until(id, (e) => e.some((x) => TERMINAL.has(x.status)), "a real event after it");
    assert.equal(
      feed.events.filter((e) => e.task_id === "forged").length,
      0,
      "the forgery arrived",
    );
    assert.ok(second.id !== owner.id);
  } finally {
    await sender.removeChannel(ch);
    await feed.close();
  }
});

it("live updates: subscribe, then fetch: the end of a job is never missed", async () => {
  const user = await newUser("live-gap");
  // Jobs started before the subscription: some end before it, some after.
  const ids = [];
  for (let i = 0; i < 4; i++) {
    ids.push(
      await start(user, "generate-text-to-model", { task_id: `lg-${i}`, prompt: `gap ${i}` }),
    );
  }
  await sleep(800);
  const feed = await subscribeJobs(user);
  try {
    for (const id of ids) {
      const s = await call(`task-status/${id}`, { token: user.token });
      assert.equal(s.status, 200);
      if (TERMINAL.has(s.body.status)) continue; // the fetch saw the end
      const evs = await feed.until(id, (e) => e.some((x) => TERMINAL.has(x.status)), `job ${id}`);
      assert.ok(evs.at(-1)!.seq > s.body.seq, "the terminal event is newer than the fetch");
    }
  } finally {
    await feed.close();
  }
});

it("task-status carries queue position, ETA, seq and outputs as bucket + path", async () => {
  const user = await newUser("live-ts");
  const id = await start(user, "generate-text-to-model", { task_id: "lt", prompt: "fields" });
  const done = await waitForJob(user, id, "tripoai");
  const s = (await call(`task-status/${id}`, { token: user.token })).body;
  assert.equal(done.status, "complete");
  for (const k of ["queue_position", "eta_seconds", "seq", "updated_at", "outputs", "asset_url"]) {
    assert.ok(k in s, k);
  }
  assert.equal(s.queue_position, 0);
  assert.equal(s.eta_seconds, null, "no ETA once finished");
  assert.ok(s.seq >= 2);
  assert.match(s.asset_url, /\/object\/sign\//, "task-status signs on demand");
  assert.deepEqual(Object.keys(s.outputs[0]).sort(), ["bucket", "path"]);
});
