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
    stop: () => server.shutdown(),
  };
}

Deno.test("a lone nudge calls process-jobs at once; later ones NOTIFY while it listens", async () => {
  const h = harness(60_000);
  try {
    const t = performance.now();
    h.nudge();
    await sleep(100);
    assert.equal(h.httpAt.length, 1, "one HTTP call");
    assert.ok(h.httpAt[0] - t < 50, `sent after ${h.httpAt[0] - t} ms`);
    h.nudge();
    await sleep(50);
    assert.equal(h.httpAt.length, 1, "no second HTTP call while the loop listens");
    assert.equal(h.notifyAt.length, 1, "a NOTIFY instead");
  } finally {
    await h.stop();
  }
});

Deno.test("with no listening loop every wake-up is an HTTP call", async () => {
  const h = harness(0);
  try {
    h.nudge();
    await sleep(60);
    h.nudge();
    await sleep(60);
    assert.equal(h.httpAt.length, 2);
    assert.equal(h.notifyAt.length, 0);
  } finally {
    await h.stop();
  }
});

Deno.test("a burst costs a few spaced wake-ups, the last one after the last nudge", async () => {
  const h = harness(60_000);
  try {
    h.nudge();
    await sleep(60);
    const nudgedAt: number[] = [];
    const start = performance.now();
    while (performance.now() - start < 40) {
      h.nudge();
      nudgedAt.push(performance.now());
      await sleep(0.2);
    }
    await sleep(50);
    const wakes = h.notifyAt;
    assert.ok(nudgedAt.length > 10, `only ${nudgedAt.length} nudges`);
    assert.ok(wakes.length >= 2 && wakes.length <= 12, `${wakes.length} wake-ups for 40 ms`);
    for (let i = 1; i < wakes.length; i++) {
      assert.ok(wakes[i] - wakes[i - 1] >= 4, `wake-ups ${wakes[i] - wakes[i - 1]} ms apart`);
    }
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
    await sleep(60);
    h.failOnce();
    h.nudge();
    await sleep(30);
    assert.equal(h.warnings.length, 1);
    h.nudge();
    await sleep(30);
    assert.equal(h.notifyAt.length, 2);
  } finally {
    await h.stop();
  }
});
