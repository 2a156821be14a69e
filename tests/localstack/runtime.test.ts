// The function runner keeps the Edge runtime's rules (SPEC §7): EdgeRuntime.waitUntil keeps an
// isolate alive for its work; in EarlyDrop mode an isolate is retired once idle, so a timer set
// after a response without waitUntil never runs; beforeunload comes before every shutdown; the
// wall clock ends an isolate whose request never answers (504). A probe function
// (fixtures/edge-probe) leaves a file behind when its work ran. No stack needed.
import assert from "node:assert/strict";
import { it } from "../_helpers/app.ts";
import { FunctionRunner, type RuntimeOptions } from "../../localstack/runtime/runner.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

function probe(opts: RuntimeOptions = {}) {
  const lines: string[] = [];
  const runner = new FunctionRunner(
    {
      name: "edge-probe",
      verifyJwt: false,
      entry: "tests/localstack/fixtures/edge-probe/index.ts",
    },
    {},
    opts,
    (l) => lines.push(l),
  );
  const call = async (route: string, init: RequestInit = { method: "GET" }) => {
    const res = await runner.fetch(`/edge-probe/${route}`, init);
    return { status: res.status, body: await res.json() };
  };
  return { runner, call, lines };
}

async function until(cond: () => Promise<boolean>, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

it("runtime: a long-lived isolate serves many requests; timers after a response still run", async () => {
  const dir = await Deno.makeTempDir();
  const p = probe();
  try {
    const a = await p.call("whoami");
    const b = await p.call("whoami");
    assert.equal(a.body.isolate, b.body.isolate, "one isolate");
    assert.equal(b.body.served, 2);
    await p.call(`timer?file=${dir}/timer`);
    await until(() => exists(`${dir}/timer`), "the timer's file");
  } finally {
    await p.runner.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

it("runtime: EarlyDrop retires an idle isolate; only waitUntil work survives the response", async () => {
  const dir = await Deno.makeTempDir();
  const p = probe({ earlyDrop: true });
  try {
    const a = await p.call("whoami");
    const b = await p.call("whoami");
    assert.notEqual(a.body.isolate, b.body.isolate, "every request meets a fresh isolate");
    assert.equal(b.body.served, 1);
    await p.call(`timer?file=${dir}/timer`);
    await p.call(`wait?file=${dir}/wait`);
    await until(() => exists(`${dir}/wait`), "the waitUntil work");
    // The timer was due 300 ms after its response; its isolate was retired before that.
    await sleep(600);
    assert.equal(await exists(`${dir}/timer`), false, "a bare timer after the response is lost");
  } finally {
    await p.runner.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

it("runtime: beforeunload is dispatched before retirement and termination, with its reason", async () => {
  const dir = await Deno.makeTempDir();
  const drop = probe({ earlyDrop: true });
  const kept = probe();
  try {
    await drop.call(`unload?file=${dir}/drop`);
    await until(() => exists(`${dir}/drop`), "beforeunload on retirement");
    assert.equal(await Deno.readTextFile(`${dir}/drop`), "EarlyDrop");
    await kept.call(`unload?file=${dir}/kept`);
    await kept.runner.stop();
    assert.equal(await Deno.readTextFile(`${dir}/kept`), "TerminationRequested");
  } finally {
    await drop.runner.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

it("runtime: past the wall clock the isolate shuts down and the request gets a 504", async () => {
  const dir = await Deno.makeTempDir();
  const p = probe({ wallClockMs: 1_500 });
  try {
    await p.call(`unload?file=${dir}/wall`);
    const r = await p.call("slow?ms=5000");
    assert.equal(r.status, 504);
    assert.equal(r.body.code, "WORKER_TIMEOUT");
    assert.equal(await Deno.readTextFile(`${dir}/wall`), "WallClockTime");
    // The next request boots a fresh isolate.
    const again = await p.call("whoami");
    assert.equal(again.status, 200);
    assert.equal(again.body.served, 1);
  } finally {
    await p.runner.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

it("runtime: a request that reaches an isolate already shutting down is served by a fresh one", async () => {
  // The runner hears of the shutdown 5 s late, so for the ~900 ms the isolate takes to exit it
  // keeps routing requests there, as the platform's router may. A body-less request it sends
  // there never runs there: it is sent on to a fresh isolate. One with a body runs where it
  // landed (it cannot be sent twice).
  const dir = await Deno.makeTempDir();
  const p = probe({ shutdownNoticeDelayMs: 5_000 });
  try {
    const first = await p.call(`unload?file=${dir}/old&ms=900`);
    const exited = p.runner.kill("SIGTERM");
    assert.ok(exited, "an isolate to stop");
    await until(() => exists(`${dir}/old.start`), "beforeunload in the old isolate");
    const withBody = await p.call("whoami", { method: "POST", body: "{}" });
    const bodyless = await p.call("whoami");
    assert.equal(withBody.status, 200);
    assert.equal(
      withBody.body.isolate,
      first.body.isolate,
      "a request with a body ran where it landed",
    );
    assert.equal(bodyless.status, 200, JSON.stringify(bodyless.body));
    assert.notEqual(bodyless.body.isolate, first.body.isolate, "sent on to a fresh isolate");
    assert.equal(bodyless.body.served, 1);
    assert.equal(await exists(`${dir}/old`), false, "the old isolate was still shutting down");
    await exited;
    assert.equal(await Deno.readTextFile(`${dir}/old`), "TerminationRequested");
  } finally {
    await p.runner.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

it("runtime: a request during stop() starts no isolate: it is refused, and none outlives stop", async () => {
  const p = probe();
  await p.call("whoami");
  const before = p.runner.generation;
  const stopping = p.runner.stop();
  // What a shutting-down isolate's own wake-up meets while the stack stops.
  const res = await p.runner.fetch("/edge-probe/whoami", { method: "GET" });
  assert.equal(res.status, 503);
  assert.equal((await res.json()).code, "WORKER_UNAVAILABLE");
  await stopping;
  assert.equal(p.runner.generation, before, "no isolate was started after stop() began");
  assert.equal(p.runner.running, false);
});
