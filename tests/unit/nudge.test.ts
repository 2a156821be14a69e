// The wake-up after an enqueue (jobs/nudge.ts), against a stand-in process-jobs on loopback: an
// HTTP call with the secret key (or PROCESS_JOBS_SECRET), every call registered with
// EdgeRuntime.waitUntil (so a retired isolate still sends it), at most one in flight, a burst
// coalesced into a couple of calls, and every nudge followed by a call that starts after it.
// No timing is asserted: the stand-in holds each call open, so the order of events is fixed.
import assert from "node:assert/strict";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";
import { createNudger } from "../../supabase/functions/_shared/jobs/nudge.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const registered: Promise<unknown>[] = [];
(globalThis as { EdgeRuntime?: unknown }).EdgeRuntime = {
  waitUntil: (p: Promise<unknown>) => void registered.push(p),
};

function harness(auth: { secretKey?: string; processJobsSecret?: string }, holdMs = 40) {
  const starts: number[] = [];
  const ends: number[] = [];
  const headers: Headers[] = [];
  let open = 0;
  let maxOpen = 0;
  let failNext = 0;
  const warnings: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    starts.push(performance.now());
    headers.push(req.headers);
    open++;
    maxOpen = Math.max(maxOpen, open);
    await req.body?.cancel();
    await sleep(holdMs);
    open--;
    ends.push(performance.now());
    if (failNext > 0) {
      failNext--;
      return Response.json({ error: { code: "unauthorized" } }, { status: 401 });
    }
    return Response.json({ accepted: true }, { status: 202 });
  });
  const config = loadConfig({
    SUPABASE_URL: `http://127.0.0.1:${server.addr.port}`,
    SUPABASE_PUBLISHABLE_KEY: "sb_publishable_test",
    SUPABASE_DB_URL: "postgres://unused",
    ...(auth.secretKey
      ? { SUPABASE_SECRET_KEYS: JSON.stringify({ default: auth.secretKey }) }
      : {}),
    ...(auth.processJobsSecret ? { PROCESS_JOBS_SECRET: auth.processJobsSecret } : {}),
  });
  const nudge = createNudger(config, (msg) => warnings.push(msg));
  return {
    nudge,
    starts,
    ends,
    headers,
    warnings,
    maxOpen: () => maxOpen,
    failOnce: () => void failNext++,
    stop: () => server.shutdown(),
  };
}

/** Waits for `cond`, polling; fails with `what` if it has not held after `ms`. */
async function until(cond: () => boolean, what: string, ms = 5_000) {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

Deno.test("a nudge calls process-jobs with the secret key, registered with waitUntil", async () => {
  const h = harness({ secretKey: "sb_secret_test" });
  try {
    const before = registered.length;
    h.nudge();
    assert.equal(registered.length, before + 1, "the call is registered before it is made");
    await registered.at(-1);
    assert.equal(h.starts.length, 1, "the registered promise settles only after the call");
    assert.equal(h.headers[0].get("apikey"), "sb_secret_test");
    assert.equal(h.headers[0].get("authorization"), null);
  } finally {
    await h.stop();
  }
});

Deno.test("without a secret key the nudge sends PROCESS_JOBS_SECRET", async () => {
  const h = harness({ processJobsSecret: "a-process-jobs-secret" });
  try {
    h.nudge();
    await until(() => h.starts.length === 1, "the call");
    assert.equal(h.headers[0].get("x-process-jobs-secret"), "a-process-jobs-secret");
    assert.equal(h.headers[0].get("apikey"), null);
  } finally {
    await h.stop();
  }
});

Deno.test("a burst is coalesced: one call in flight, one queued, one after each nudge", async () => {
  const h = harness({ secretKey: "sb_secret_test" });
  try {
    // A synchronous burst: one call, however many nudges.
    for (let i = 0; i < 40; i++) h.nudge();
    await until(() => h.starts.length === 1, "the first call");
    // Nudges while that call is held open: they may have missed it, so exactly one more call
    // follows, after the first has ended.
    const during = performance.now();
    for (let i = 0; i < 40; i++) h.nudge();
    await until(() => h.starts.length === 2, "the call queued behind it");
    await Promise.all(registered);
    await sleep(60);
    assert.equal(h.starts.length, 2, "40 + 40 nudges cost 2 calls");
    assert.ok(h.starts[1] > during, "the second call started after the nudges it covers");
    assert.equal(h.maxOpen(), 1, "never two wake-ups in flight from one isolate");
  } finally {
    await h.stop();
  }
});

Deno.test("a refused or failed wake-up is logged and the next nudge still wakes", async () => {
  const h = harness({ secretKey: "sb_secret_test" }, 5);
  try {
    h.failOnce();
    h.nudge();
    await until(() => h.warnings.length === 1, "the warning");
    assert.match(h.warnings[0], /401/);
    h.nudge();
    await until(() => h.starts.length === 2, "the call after the failure");
  } finally {
    await h.stop();
  }
});

Deno.test("the nudge's promise settles once a wake-up started after it has been answered", async () => {
  const h = harness({ secretKey: "sb_secret_test" });
  try {
    // Alone: the call it started.
    const t0 = performance.now();
    await h.nudge();
    assert.equal(h.ends.length, 1, "settled only after the call was answered");
    assert.ok(h.starts[0] >= t0);
    // Made while that kind of call is in flight: the one queued behind it, not the one on its way.
    const first = h.nudge();
    await until(() => h.starts.length === 2, "the second call");
    const during = performance.now();
    const second = h.nudge();
    await first;
    assert.equal(h.ends.length, 2, "the first nudge waited for its own call");
    await second;
    assert.equal(h.starts.length, 3, "the nudge during a call waited for the one after it");
    assert.ok(h.starts[2] > during, "and that call started after the nudge");
    assert.equal(h.ends.length, 3);
  } finally {
    await h.stop();
  }
});
