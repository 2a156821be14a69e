// The wake-up after an enqueue (jobs/nudge.ts), against a stand-in process-jobs on loopback and
// a recording database double: HTTP while no loop listens, NOTIFY while one does; a burst costs
// a few wake-ups, spaced out; and every nudge is followed by a wake-up that starts after it.
import assert from "node:assert/strict";
import { createNudger } from "../../supabase/functions/_shared/jobs/nudge.ts";
import type { Config } from "../../supabase/functions/_shared/config.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function harness(listeningForMs: number) {
  const httpAt: number[] = [];
  const notifyAt: number[] = [];
  let notifyDone = 0;
  const warnings: string[] = [];
  let failNext = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    httpAt.push(performance.now());
    assert.equal(req.headers.get("authorization"), "Bearer pj-secret");
    await req.body?.cancel();
    const until = listeningForMs > 0 ? Date.now() + listeningForMs : 0;
    return Response.json({ accepted: true, listening_until: until }, { status: 202 });
  });
  const nudge = createNudger(
    {
      SUPABASE_URL: `http://127.0.0.1:${server.addr.port}`,
      PROCESS_JOBS_SECRET: "pj-secret",
    } as Config,
    {
      async wakeWorkers() {
        notifyAt.push(performance.now());
        await sleep(1);
        notifyDone++;
        if (failNext > 0) {
          failNext--;
          throw new Error("connection reset");
        }
      },
    },
    (msg) => warnings.push(msg),
  );
  return {
    nudge,
    httpAt,
    notifyAt,
    warnings,
    failOnce: () => void failNext++,
    notifyDone: () => notifyDone,
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

Deno.test("a lone nudge calls process-jobs; later ones NOTIFY while it listens", async () => {
  const h = harness(60_000);
  try {
    h.nudge();
    await until(() => h.httpAt.length === 1, "the HTTP call");
    h.nudge();
    await until(() => h.notifyAt.length === 1, "a NOTIFY");
    assert.equal(h.httpAt.length, 1, "no second HTTP call while the loop listens");
  } finally {
    await h.stop();
  }
});

Deno.test("with no listening loop every wake-up is an HTTP call", async () => {
  const h = harness(0);
  try {
    h.nudge();
    await until(() => h.httpAt.length === 1, "the first HTTP call");
    h.nudge();
    await until(() => h.httpAt.length === 2, "the second HTTP call");
    assert.equal(h.notifyAt.length, 0);
  } finally {
    await h.stop();
  }
});

Deno.test("a burst costs a few spaced wake-ups, the last one after the last nudge", async () => {
  const h = harness(60_000);
  try {
    h.nudge();
    await until(() => h.httpAt.length === 1, "the HTTP call");
    h.nudge();
    await until(() => h.notifyAt.length === 1, "the loop to be known as listening");
    const before = h.notifyAt.length;
    const nudgedAt: number[] = [];
    const start = performance.now();
    for (let i = 0; i < 40; i++) {
      h.nudge();
      nudgedAt.push(performance.now());
      await sleep(0.5);
    }
    const burstMs = performance.now() - start;
    const last = nudgedAt.at(-1)!;
    await until(() => (h.notifyAt.at(-1) ?? 0) >= last, "a wake-up after the last nudge");
    const wakes = h.notifyAt.slice(before);
    // Spaced at least MIN_GAP_MS (5 ms, a millisecond of timer slack allowed) apart.
    for (let i = 1; i < wakes.length; i++) {
      assert.ok(wakes[i] - wakes[i - 1] >= 4, `wake-ups ${wakes[i] - wakes[i - 1]} ms apart`);
    }
    assert.ok(
      wakes.length <= Math.ceil(burstMs / 5) + 2,
      `${wakes.length} wake-ups for ${nudgedAt.length} nudges over ${burstMs} ms`,
    );
    for (const n of nudgedAt) {
      assert.ok(wakes.some((w) => w >= n), `no wake-up started after the nudge at ${n}`);
    }
  } finally {
    await h.stop();
  }
});

Deno.test("a failed wake-up is logged and the next nudge still wakes", async () => {
  const h = harness(60_000);
  try {
    h.nudge();
    await until(() => h.httpAt.length === 1, "the HTTP call");
    h.nudge();
    await until(() => h.notifyDone() === 1, "the first NOTIFY");
    h.failOnce();
    h.nudge();
    await until(() => h.warnings.length === 1, "the warning");
    h.nudge();
    await until(() => h.notifyAt.length === 3, "the NOTIFY after the failure");
  } finally {
    await h.stop();
  }
});
