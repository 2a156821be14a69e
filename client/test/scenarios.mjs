// The client's end-to-end scenarios against a running local stack, written once and run under
// every runtime the package supports: Deno (tests/client/client.test.ts) and Node
// (test/node.mjs, spawned by that test). Only portable APIs here (fetch, URL, crypto), and the
// runtime's own supabase-js and the built client are passed in, so each runtime tests its own.
//
// host = { createClient, MakeIt3D, ApiError, url, publishableKey, serviceKey, realtime?,
//          png: Uint8Array, glb: Uint8Array }
import assert from "node:assert/strict";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const noSession = { persistSession: false, autoRefreshToken: false };
const uid = () => crypto.randomUUID().slice(0, 12);
const GLB_MAGIC = "glTF";
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];

async function until(pred, what, ms = 30_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function supabaseClient(host, key) {
  return host.createClient(host.url, key, {
    auth: noSession,
    ...(host.realtime ? { realtime: host.realtime } : {}),
  });
}
const appClient = (host) => supabaseClient(host, host.publishableKey);

/** A new confirmed user, signed in on its own supabase-js client, and a MakeIt3D on it. */
async function signedIn(host, label, m3dOpts = {}, url = host.url) {
  const admin = supabaseClient(host, host.serviceKey);
  const email = `client-${label}-${uid()}@example.test`;
  const password = `pw-${crypto.randomUUID()}`;
  const created = await admin.auth.admin.createUser({ email, password, email_confirm: true });
  if (created.error) throw created.error;
  const supabase = url === host.url
    ? appClient(host)
    : supabaseClient({ ...host, url }, host.publishableKey);
  const { data, error } = await supabase.auth.signInWithPassword({ email, password });
  if (error || !data.session) throw error ?? new Error("no session");
  const m3d = new host.MakeIt3D({ supabase, ...m3dOpts });
  return {
    id: data.user.id,
    supabase,
    m3d,
    async close() {
      await supabase.removeAllChannels();
      await supabase.realtime.disconnect();
    },
  };
}

/** The project's services (the secret key): prices and grants. */
async function service(host, method, path, body, headers = {}) {
  const res = await fetch(`${host.url}/functions/v1/${path}`, {
    method,
    headers: { apikey: host.serviceKey, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Runs `fn` with the given prices, then puts back the ones it changed. */
async function withPrices(host, prices, fn) {
  const before = await service(host, "GET", "credits/prices").catch(() => undefined);
  const old = {};
  if (before) { for (const k of Object.keys(prices)) old[k] = before[k] ?? 0; }
  await service(host, "PUT", "credits/prices", prices);
  try {
    return await fn();
  } finally {
    await service(host, "PUT", "credits/prices", Object.keys(old).length ? old : zero(prices));
  }
}
const zero = (p) => Object.fromEntries(Object.keys(p).map((k) => [k, 0]));

async function grant(host, userId, amount) {
  return await service(host, "POST", "credits/grant", {
    user_id: userId,
    amount,
    reason: "client test",
  }, { "idempotency-key": `client-${crypto.randomUUID()}` });
}

/** Awaits `p`, expecting an ApiError; returns it. */
async function refused(host, p, status, code) {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof host.ApiError, `not an ApiError: ${e}`);
    assert.equal(e.status, status, `${e.code}: ${e.message}`);
    if (code) assert.equal(e.code, code, e.message);
    assert.equal(typeof e.message, "string");
    assert.ok(e.message.length > 0);
    return e;
  }
  assert.fail(`expected ${status} ${code ?? ""}, but the call succeeded`);
}

async function bytesOf(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return new Uint8Array(await res.arrayBuffer());
}
const isGlb = (b) => new TextDecoder().decode(b.slice(0, 4)) === GLB_MAGIC;
const isPng = (b) => PNG_MAGIC.every((x, i) => b[i] === x);

function checkAccepted(acc, taskId) {
  assert.match(acc.job_id, /^[0-9a-f-]{36}$/);
  assert.equal(acc.celery_task_id, acc.job_id);
  assert.equal(acc.task_id, taskId);
  assert.equal(acc.status, "pending");
}

const storageUrl = (host, o) => `${host.url}/storage/v1/object/authenticated/${o.bucket}/${o.path}`;

// --- the scenarios ------------------------------------------------------------------------------

export const scenarios = {
  async "prices, credits, uploads and 2D images (image-to-image, text-to-image)"(host) {
    const u = await signedIn(host, "img");
    try {
      const prices = await u.m3d.prices();
      for (const k of ["image_to_image", "text_to_model", "convert_model"]) {
        assert.equal(typeof prices[k], "number", k);
      }
      const st = await u.m3d.credits({ limit: 5 });
      assert.deepEqual(
        [typeof st.balance, typeof st.reserved, typeof st.available, Array.isArray(st.ledger)],
        ["number", "number", "number", true],
      );
      const url = await u.m3d.uploadInput(host.png, { kind: "image" });
      assert.match(
        url,
        new RegExp(
          `^${host.url}/storage/v1/object/authenticated/input-assets/${u.id}/image-.+\\.png$`,
        ),
      );
      const named = await u.m3d.uploadInput(host.png.buffer.slice(0), {
        kind: "image",
        name: "photo.png",
      });
      assert.equal(
        named,
        `${host.url}/storage/v1/object/authenticated/input-assets/${u.id}/photo.png`,
      );

      const model = await u.m3d.uploadInput(host.glb, { kind: "model" });
      assert.match(model, /\/input-assets\/[^/]+\/model-[^/]+\.glb$/);
      const stored = await u.supabase.storage.from("input-assets").download(
        model.slice(model.indexOf("/input-assets/") + "/input-assets/".length),
      );
      assert.equal(stored.error, null);
      assert.equal(stored.data.size, host.glb.length, "the model is stored whole");
      assert.equal(stored.data.type, "model/gltf-binary");

      const i2i = await u.m3d.imageToImage({
        task_id: "c-i2i",
        prompt: "a cosy cabin",
        input_image_asset_url: url,
        n: 2,
      });
      checkAccepted(i2i, "c-i2i");
      const t2i = await u.m3d.textToImage({ task_id: "c-t2i", prompt: "a lighthouse" });
      checkAccepted(t2i, "c-t2i");
      for (const [acc, n] of [[i2i, 2], [t2i, 1]]) {
        const done = await u.m3d.waitFor(acc.job_id, { timeoutMs: 60_000 });
        assert.equal(done.status, "complete", JSON.stringify(done));
        assert.equal(done.service, "openai");
        assert.equal(done.asset_urls.length, n);
        for (const a of done.asset_urls) assert.ok(isPng(await bytesOf(a)), "a PNG");
        const again = await u.m3d.status(acc.job_id, { service: "openai" });
        assert.equal(again.status, "complete");
      }
    } finally {
      await u.close();
    }
  },

  async "a watched text-to-model job to completion, then every model endpoint from it"(host) {
    const u = await signedIn(host, "model");
    try {
      const acc = await u.m3d.textToModel({ task_id: "c-t2m", prompt: "a small red teapot" });
      checkAccepted(acc, "c-t2m");
      const updates = [];
      const final = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          reject(new Error(`no end: ${JSON.stringify(updates.map((j) => [j.seq, j.status]))}`));
        }, 60_000);
        const stop = u.m3d.watch(acc.job_id, (job) => {
          updates.push(job);
          if (job.status === "complete" || job.status === "failed") {
            clearTimeout(timer);
            resolve(job);
          }
        }, { service: "tripoai", onError: (e, fatal) => fatal && reject(e) });
      });
      await sleep(300); // nothing may follow the terminal update
      const seqs = updates.map((j) => j.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in seq order");
      assert.equal(new Set(seqs).size, seqs.length, "no update twice");
      assert.equal(updates.filter((j) => j.status === "complete").length, 1, "the end once");
      assert.equal(updates.at(-1), final);
      assert.equal(final.status, "complete", JSON.stringify(final));
      assert.equal(final.progress, 100);
      assert.ok(final.asset_url, "the terminal update carries the signed URL");
      assert.ok(isGlb(await bytesOf(final.asset_url)), "a GLB");
      const model = final.outputs[0];
      assert.ok(isGlb(await bytesOf(await u.m3d.signedUrl(model, 60))), "signedUrl serves it");

      const modelUrl = storageUrl(host, model);
      const image = await u.m3d.uploadInput(host.png, { kind: "image" });
      const sketch = await u.m3d.uploadInput(host.png, { kind: "sketch" });
      const jobs = [
        await u.m3d.imageToModel({ task_id: "c-i2m", input_image_asset_urls: [image] }),
        await u.m3d.sketchToModel({ task_id: "c-s2m", input_sketch_asset_url: sketch }),
        await u.m3d.refineModel({ task_id: "c-t2m", input_model_asset_url: modelUrl }),
        await u.m3d.convertModel({
          task_id: "c-t2m",
          input_model_asset_url: modelUrl,
          format: "STL",
        }),
      ];
      for (const acc2 of jobs) {
        const done = await u.m3d.waitFor(acc2.job_id, { timeoutMs: 60_000, service: "tripoai" });
        assert.equal(done.status, "complete", JSON.stringify(done));
        assert.ok(done.asset_url);
      }
      const conv = await u.m3d.status(jobs[3].job_id);
      assert.equal(conv.kind, "convert_model");
      assert.equal(conv.source_task_id, acc.job_id);
    } finally {
      await u.close();
    }
  },

  async "a cancelled job ends failed (cancelled), once; cancelling it again is 409"(host) {
    const u = await signedIn(host, "cancel");
    try {
      const acc = await u.m3d.textToModel({
        task_id: "c-cancel",
        prompt: "a stuck kettle [sim:stuck]",
      });
      const updates = [];
      const ended = u.m3d.waitFor(acc.job_id, {
        timeoutMs: 30_000,
        onUpdate: (j) => updates.push(j),
      });
      const c = await u.m3d.cancel(acc.job_id);
      assert.deepEqual(c, { task_id: acc.job_id, status: "failed", cancelled: true });
      const final = await ended;
      assert.equal(final.status, "failed");
      assert.equal(final.error_code, "cancelled");
      assert.equal(updates.filter((j) => j.status === "failed").length, 1);
      await refused(host, u.m3d.cancel(acc.job_id), 409, "conflict");
    } finally {
      await u.close();
    }
  },

  async "idempotency: a key per call; the same key is the same job, also across the client's retry"(
    host,
  ) {
    const u = await signedIn(host, "idem");
    try {
      const body = { task_id: "c-idem", prompt: "one paid job only" };
      const key = `k-${crypto.randomUUID()}`;
      const a = await u.m3d.textToImage(body, { idempotencyKey: key });
      const b = await u.m3d.textToImage(body, { idempotencyKey: key });
      assert.equal(b.job_id, a.job_id, "same key, same job");
      const other = await u.m3d.textToImage(body);
      assert.notEqual(other.job_id, a.job_id, "no key given: a fresh one per call");
      const e = await refused(
        host,
        u.m3d.textToImage({ ...body, prompt: "another body" }, { idempotencyKey: key }),
        409,
        "idempotency_conflict",
      );
      assert.equal(e.name, "ApiError");

      // The first response is lost after the BFF took the job: the client's own retry carries the
      // same key, gets the same job back, and one reservation is all the ledger holds.
      await withPrices(host, { text_to_image: 1 }, async () => {
        await grant(host, u.id, 5);
        const keys = [];
        let replayed = null;
        let calls = 0;
        const lossy = async (input, init) => {
          keys.push(new Headers(init.headers).get("idempotency-key"));
          const res = await fetch(input, init);
          if (++calls === 1) {
            await res.body?.cancel();
            throw new TypeError("connection reset by peer (test)");
          }
          replayed = res.headers.get("idempotent-replayed");
          return res;
        };
        const flaky = new host.MakeIt3D({ supabase: u.supabase, fetch: lossy });
        const acc = await flaky.textToImage({ task_id: "c-retry", prompt: "a retried lamp" });
        assert.equal(keys.length, 2, "one retry");
        assert.ok(keys[0] && keys[0] === keys[1], `the retry reused the key: ${keys}`);
        assert.equal(replayed, "true", "the BFF answered the retry with the first job");
        const st = await u.m3d.credits();
        const reserves = st.ledger.filter((l) => l.entry === "reserve");
        assert.deepEqual(reserves.map((r) => r.job_id), [acc.job_id], "one job, held once");
        await u.m3d.waitFor(acc.job_id, { timeoutMs: 60_000 });
      });
    } finally {
      await u.close();
    }
  },

  async "every error class arrives as an ApiError: 400, 401, 402, 403, 404, 409, 429, network, timeout"(
    host,
  ) {
    const u = await signedIn(host, "err");
    const other = await signedIn(host, "err-other");
    try {
      const v = await refused(
        host,
        u.m3d.textToModel({ task_id: "not ok!", prompt: "" }),
        400,
        "validation_failed",
      );
      assert.ok(Array.isArray(v.details) && v.details.length > 0, "details list the issues");
      await refused(host, u.m3d.status("not-a-uuid"), 400, "bad_request");

      const anon = new host.MakeIt3D({ supabase: appClient(host) });
      await refused(host, anon.textToModel({ task_id: "x", prompt: "x" }), 401, "unauthorized");
      await refused(host, anon.credits(), 401, "unauthorized");

      await withPrices(host, { text_to_model: 1000 }, async () => {
        const e = await refused(
          host,
          u.m3d.textToModel({ task_id: "c-poor", prompt: "an expensive teapot" }),
          402,
          "insufficient_credits",
        );
        assert.deepEqual(e.details, { balance: 0, price: 1000 });
      });

      const theirs = await other.m3d.uploadInput(host.png, { kind: "image" });
      await refused(
        host,
        u.m3d.imageToImage({ task_id: "c-403", prompt: "not mine", input_image_asset_url: theirs }),
        403,
        "asset_not_readable",
      );
      await refused(host, u.m3d.status(crypto.randomUUID()), 404, "not_found");
      await refused(host, u.m3d.cancel(crypto.randomUUID()), 404, "not_found");

      // 409 `conflict` and `idempotency_conflict` are in the cancel and idempotency scenarios.
      const burst = [];
      for (let i = 0; i < 4; i++) {
        burst.push(await u.m3d.textToModel({ task_id: `c-burst-${i}`, prompt: `burst ${i}` }));
      }
      const r = await refused(
        host,
        u.m3d.textToModel({ task_id: "c-burst-4", prompt: "one too many" }),
        429,
        "rate_limited",
      );
      assert.ok(r.retryAfter >= 1 && r.retryAfter <= 60, `retryAfter ${r.retryAfter}`);
      for (const b of burst) await u.m3d.cancel(b.job_id).catch(() => {}); // may have finished

      const offline = new host.MakeIt3D({
        supabase: u.supabase,
        functionsUrl: "http://127.0.0.1:9/functions/v1",
      });
      const n = await refused(host, offline.prices(), 0, "network_error");
      assert.match(n.message, /could not be reached/);

      const pending = await u.m3d.textToImage({
        task_id: "c-wait",
        prompt: "a slow one [sim:slow=3000]",
      });
      await refused(host, u.m3d.waitFor(pending.job_id, { timeoutMs: 1 }), 0, "timeout");
      const ctrl = new AbortController();
      const waiting = u.m3d.waitFor(pending.job_id, { signal: ctrl.signal });
      ctrl.abort();
      await assert.rejects(waiting, (e) => e?.name === "AbortError");
      await u.m3d.cancel(pending.job_id).catch(() => {});
    } finally {
      await u.close();
      await other.close();
    }
  },
};

// What a phone's network does to a watch, through a TCP proxy the host runtime provides
// (host.startProxy(target, { blockWebSockets? }) → { url, down(), up(), refused, sockets, close() }).
Object.assign(scenarios, {
  async "watch: the socket drops mid-job, the job ends meanwhile, the end arrives once after the rejoin"(
    host,
  ) {
    const proxy = await host.startProxy(host.url);
    // Counts the client's calls in flight, so the plug is pulled only when none is.
    let inFlight = 0;
    const counted = async (input, init) => {
      inFlight++;
      try {
        return await fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    const u = await signedIn(host, "net", { fetch: counted }, proxy.url);
    try {
      const acc = await u.m3d.textToModel({
        task_id: "c-net",
        prompt: "a stuck kettle [sim:stuck]",
      });
      const updates = [];
      // Polling an hour apart: only the read after the rejoin can bring the end.
      const stop = u.m3d.watch(acc.job_id, (j) => updates.push(j), { pollIntervalMs: 3_600_000 });
      const channel = () => u.supabase.getChannels()[0];
      await until(
        () =>
          channel()?.state === "joined" && updates.some((j) => j.status === "processing") &&
          inFlight === 0,
        "the join and the job running",
      );
      await sleep(100);
      assert.equal(inFlight, 0);
      proxy.down();
      await until(() => channel()?.state !== "joined", "the channel to notice");
      // Cancelled straight at the stack while the watcher is cut off: its event is lost to it.
      const direct = new host.MakeIt3D({
        supabase: u.supabase,
        functionsUrl: `${host.url}/functions/v1`,
      });
      assert.equal((await direct.cancel(acc.job_id)).cancelled, true);
      await sleep(200);
      assert.ok(!updates.some((j) => j.status === "failed"), "nothing reached the watcher yet");
      assert.equal(proxy.sockets, 1);
      proxy.up();
      await until(() => updates.some((j) => j.status === "failed"), "the end after the rejoin");
      assert.equal(proxy.sockets, 2, "it came with the new socket");
      await sleep(300);
      stop();
      const ends = updates.filter((j) => j.status === "failed");
      assert.equal(ends.length, 1, "the end once");
      assert.equal(updates.at(-1), ends[0]);
      assert.equal(ends[0].error_code, "cancelled");
      assert.ok("asset_urls" in ends[0], "the end is a task-status body");
      const seqs = updates.map((j) => j.seq);
      assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
      assert.equal(channel(), undefined, "the watch left the channel when it ended");
    } finally {
      await u.close();
      await proxy.close();
    }
  },

  async "watch: where sockets never get through, polling brings the job to its end"(host) {
    const proxy = await host.startProxy(host.url, { blockWebSockets: true });
    const u = await signedIn(host, "poll", {}, proxy.url);
    try {
      const acc = await u.m3d.textToImage({ task_id: "c-poll", prompt: "a polled lamp" });
      const final = await u.m3d.waitFor(acc.job_id, { timeoutMs: 60_000, pollIntervalMs: 200 });
      assert.equal(final.status, "complete", JSON.stringify(final));
      assert.equal(final.asset_urls.length, 1);
      assert.ok(proxy.refused > 0, "the socket was refused");
      assert.equal(proxy.sockets, 0);
    } finally {
      await u.close();
      await proxy.close();
    }
  },
});

scenarios[
  "watch beside the app's own channel on the same topic: both hear the job, the app's stays"
] = async (host) => {
  const u = await signedIn(host, "share");
  try {
    await u.supabase.realtime.setAuth(
      (await u.supabase.auth.getSession()).data.session.access_token,
    );
    const appEvents = [];
    let joined = false;
    const own = u.supabase.channel(`user:${u.id}:jobs`, { config: { private: true } })
      .on("broadcast", { event: "job" }, (m) => appEvents.push(m.payload))
      .subscribe((st) => {
        if (st === "SUBSCRIBED") joined = true;
      });
    await until(() => joined, "the app's own join");
    const acc = await u.m3d.textToImage({ task_id: "c-share", prompt: "a shared lamp" });
    const updates = [];
    const final = await u.m3d.waitFor(acc.job_id, {
      timeoutMs: 60_000,
      pollIntervalMs: 500,
      onUpdate: (j) => updates.push(j),
    });
    assert.equal(final.status, "complete");
    assert.equal(updates.filter((j) => j.status === "complete").length, 1);
    await until(() => appEvents.some((e) => e.status === "complete"), "the app's own event");
    assert.equal(own.state, "joined", "the app's channel is left alone");
    assert.deepEqual(u.supabase.getChannels(), [own]);
  } finally {
    await u.close();
  }
};

scenarios[
  "ops: a plain user is refused with 403; an operator (app_metadata, secret key) reads it"
] = async (host) => {
  const u = await signedIn(host, "ops");
  try {
    await refused(host, u.m3d.ops(), 403, "forbidden");
    const admin = supabaseClient(host, host.serviceKey);
    const set = await admin.auth.admin.updateUserById(u.id, { app_metadata: { role: "operator" } });
    assert.equal(set.error, null);
    // The claim rides in the token: the client reads the refreshed session on its next call.
    const { error } = await u.supabase.auth.refreshSession();
    assert.equal(error, null);
    const ops = await u.m3d.ops();
    for (const k of ["queue", "failures", "credits", "credit_totals"]) {
      assert.ok(Array.isArray(ops[k]), k);
    }
    assert.equal(typeof ops.generated_at, "string");
  } finally {
    await u.close();
  }
};

/** Runs every scenario in order; reports each as it ends. */
export async function runAll(host, report) {
  for (const [name, fn] of Object.entries(scenarios)) {
    try {
      await fn(host);
      report(name, null);
    } catch (e) {
      report(name, e);
    }
  }
}
