// Tripo client (supabase/functions/_shared/providers/tripo.ts) against the Tripo simulator.
import assert from "node:assert/strict";
import { makePng } from "../../../localstack/simulators/images.ts";
import { serveTripoSimulator } from "../../../localstack/simulators/tripo.ts";
import { ProviderError } from "../../../supabase/functions/_shared/providers/errors.ts";
import { createTripoClient } from "../../../supabase/functions/_shared/providers/tripo.ts";
import {
  buildTaskBody,
  normalizeStatus,
} from "../../../supabase/functions/_shared/providers/tripo_task.ts";
import { PLANS } from "../../../supabase/functions/_shared/jobs/plans.ts";
import { png, tripoRequest } from "./_tripo_fixtures.ts";
import { simControl as control } from "../_sim_control.ts";

const KEY = "tsk_client_test";
type Served = ReturnType<typeof serveTripoSimulator>;

async function withSim(fn: (s: Served) => Promise<void>) {
  const s = serveTripoSimulator({ port: 0, config: { queueMs: 100, runMs: 300 } });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

const client = (s: Served, extra: Record<string, unknown> = {}) =>
  createTripoClient({ apiKey: KEY, baseUrl: s.baseUrl, backoffBaseMs: 10, ...extra });

async function rejects(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ProviderError, `expected ProviderError, got ${e}`);
    assert.equal(e.provider, "tripo");
    assert.ok(!/tsk_/.test(e.userMessage) && !/http/.test(e.userMessage));
    return e;
  }
  assert.fail("expected a rejection");
}

async function posts(s: Served) {
  return (await control(s, "requests?method=POST&path=/v2/openapi/task")).requests as {
    body: Record<string, unknown>;
    status: number;
  }[];
}

Deno.test("tripo client: create + poll to success; the body sent is the built body", async () => {
  await withSim(async (s) => {
    const c = client(s);
    const req = tripoRequest(
      PLANS.text_to_model.request({ task_id: "x", prompt: "lamp", pbr: true }, [], {}),
    );
    const id = await c.createTask(buildTaskBody(req, []));
    const states: string[] = [];
    let last;
    for (let i = 0; i < 300; i++) {
      last = normalizeStatus(await c.getTask(id));
      states.push(last.state);
      if (last.state === "success" || last.state === "failed") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual([...new Set(states)], ["waiting", "running", "success"]);
    assert.equal(last?.state, "success");
    const url = last?.state === "success" ? last.modelUrl : "";
    assert.ok(url.startsWith(`${s.url}/files/`));
    assert.ok(url.includes("_pbr.glb"));
    const p = await posts(s);
    assert.equal(p.length, 1);
    assert.deepEqual(p[0].body, { type: "text_to_model", prompt: "lamp", pbr: true });
  });
});

Deno.test("tripo client: upload then image_to_model and multiview", async () => {
  await withSim(async (s) => {
    const c = client(s);
    const token = await c.upload(makePng(), "image/png", "front.png");
    const token2 = await c.upload(makePng(32, 32, 1), "image/png", "back.png");
    const one = PLANS.image_to_model.request(
      { task_id: "t", input_image_asset_urls: ["u"], orientation: "default" },
      [png("u/front.png")],
      {},
    );
    await c.createTask(buildTaskBody(tripoRequest(one), [token]));
    const two = PLANS.image_to_model.request(
      { task_id: "t", input_image_asset_urls: ["u", "v"] },
      [png("u/front.png"), png("u/left.png")],
      {},
    );
    await c.createTask(buildTaskBody(tripoRequest(two), [token, token2]));
    const e = await rejects(
      c.upload(new TextEncoder().encode("not an image"), "image/png", "x.png"),
    );
    assert.equal(e.code, "invalid_request");
    assert.equal(e.kind, "permanent");
    // @ts-expect-error: the type refuses it; the run-time check guards JSON-fed callers.
    const e2 = await rejects(c.upload(makePng(), "image/gif", "x.gif"));
    assert.equal(e2.code, "invalid_request");
  });
});

Deno.test("tripo client: error classification", async () => {
  await withSim(async (s) => {
    const c = client(s);
    const bad = await rejects(
      createTripoClient({ apiKey: "wrong", baseUrl: s.baseUrl }).createTask({
        type: "text_to_model",
        prompt: "x",
      }),
    );
    assert.deepEqual([bad.code, bad.kind, bad.landed, bad.status], [
      "auth_failed",
      "permanent",
      "no",
      401,
    ]);
    const banned = await rejects(c.createTask({ type: "text_to_model", prompt: "[sim:banned]" }));
    assert.deepEqual([banned.code, banned.kind, banned.landed], [
      "content_policy",
      "permanent",
      "no",
    ]);
    const inv = await rejects(c.createTask({ type: "text_to_model", prompt: "x".repeat(1025) }));
    assert.deepEqual([inv.code, inv.kind, inv.providerCode], [
      "invalid_request",
      "permanent",
      1004,
    ]);
    const credits = await rejects(c.createTask({ type: "text_to_model", prompt: "[sim:credits]" }));
    assert.deepEqual([credits.code, credits.kind], ["insufficient_credits", "permanent"]);
    const audit = await rejects(c.createTask({ type: "text_to_model", prompt: "[sim:audit]" }));
    assert.deepEqual([audit.code, audit.kind, audit.landed], [
      "provider_unavailable",
      "transient",
      "no",
    ]);
    await control(s, "config", { cap: 1, retryAfterSec: 4 });
    await c.createTask({ type: "text_to_model", prompt: "[sim:stuck]" });
    const cap = await rejects(c.createTask({ type: "text_to_model", prompt: "two" }));
    assert.deepEqual(
      [cap.code, cap.kind, cap.landed, cap.status, cap.retryAfterSeconds],
      ["rate_limited", "transient", "no", 429, 4],
    );
    const before = (await control(s, "requests?method=GET")).requests.length;
    const nf = await rejects(c.getTask(crypto.randomUUID()));
    assert.deepEqual([nf.code, nf.kind, nf.status], ["task_not_found", "permanent", 404]);
    assert.equal((await control(s, "requests?method=GET")).requests.length - before, 1);
  });
});

Deno.test("tripo client: POST /task is not retried after a 500 (may have landed)", async () => {
  await withSim(async (s) => {
    await control(s, "config", {
      faults: [{ match: "POST /v2/openapi/task", status: 500, times: 5 }],
    });
    const e = await rejects(client(s).createTask({ type: "text_to_model", prompt: "once" }));
    assert.deepEqual([e.code, e.kind, e.landed, e.status], [
      "provider_unavailable",
      "transient",
      "maybe",
      500,
    ]);
    assert.equal((await posts(s)).length, 1);
  });
});

Deno.test("tripo client: POST /task 503 is transient and did not land; still sent once", async () => {
  await withSim(async (s) => {
    await control(s, "config", {
      faults: [{ match: "POST /v2/openapi/task", status: 503, retryAfter: 2, times: 5 }],
    });
    const e = await rejects(client(s).createTask({ type: "text_to_model", prompt: "once" }));
    assert.deepEqual([e.code, e.kind, e.landed, e.retryAfterSeconds], [
      "provider_unavailable",
      "transient",
      "no",
      2,
    ]);
    assert.equal((await posts(s)).length, 1);
  });
});

Deno.test("tripo client: response lost after landing (reset, malformed, timeout) → landed maybe", async () => {
  await withSim(async (s) => {
    const c = client(s, { timeoutMs: 300 });
    await control(s, "config", { faults: [{ match: "POST /v2/openapi/task", kind: "reset" }] });
    const reset = await rejects(c.createTask({ type: "text_to_model", prompt: "r" }));
    assert.deepEqual([reset.kind, reset.landed], ["transient", "maybe"]);
    assert.ok(["network", "bad_response"].includes(reset.code), reset.code);
    await control(s, "config", { faults: [{ match: "POST /v2/openapi/task", kind: "malformed" }] });
    const mal = await rejects(c.createTask({ type: "text_to_model", prompt: "m" }));
    assert.deepEqual([mal.code, mal.kind, mal.landed], ["bad_response", "transient", "maybe"]);
    await control(s, "config", {
      faults: [{ match: "POST /v2/openapi/task", kind: "delay", delayMs: 1500 }],
    });
    const slow = await rejects(c.createTask({ type: "text_to_model", prompt: "t" }));
    assert.deepEqual([slow.code, slow.kind, slow.landed], ["timeout", "transient", "maybe"]);
    assert.equal((await posts(s)).length, 3);
  });
});

Deno.test("tripo client: connection refused before sending → network, landed no", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const c = createTripoClient({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}/v2/openapi` });
  const e = await rejects(c.createTask({ type: "text_to_model", prompt: "x" }));
  assert.deepEqual([e.code, e.kind, e.landed], ["network", "transient", "no"]);
});

Deno.test("tripo client: getTask retries 503 honouring Retry-After, and malformed bodies", async () => {
  await withSim(async (s) => {
    const c = client(s);
    const id = await c.createTask({ type: "text_to_model", prompt: "x" });
    await control(s, "config", {
      faults: [{ match: "GET /v2/openapi/task/*", status: 503, retryAfter: 1, times: 2 }],
    });
    const mark = (await control(s, "requests?since=999999")).last;
    const t = await c.getTask(id);
    assert.equal(t.task_id, id);
    const gets = (await control(s, `requests?since=${mark}&method=GET`)).requests;
    assert.deepEqual(gets.map((g: { status: number }) => g.status), [503, 503, 200]);

    await control(s, "config", {
      faults: [{ match: "GET /v2/openapi/task/*", kind: "malformed" }],
    });
    assert.equal((await c.getTask(id)).task_id, id);

    await control(s, "config", {
      faults: [{ match: "GET /v2/openapi/task/*", status: 500, times: 10 }],
    });
    const m2 = (await control(s, "requests?since=999999")).last;
    const e = await rejects(c.getTask(id));
    assert.deepEqual([e.code, e.kind], ["provider_unavailable", "transient"]);
    assert.equal((await control(s, `requests?since=${m2}&method=GET`)).requests.length, 3);

    await control(s, "config", {
      faults: [{ match: "GET /v2/openapi/task/*", status: 429, retryAfter: 120, times: 10 }],
    });
    const m3 = (await control(s, "requests?since=999999")).last;
    const long = await rejects(c.getTask(id));
    assert.deepEqual([long.code, long.retryAfterSeconds], ["rate_limited", 120]);
    assert.equal((await control(s, `requests?since=${m3}&method=GET`)).requests.length, 1);
  });
});

Deno.test("tripo client: unknown status is polled through to success", async () => {
  await withSim(async (s) => {
    const c = client(s);
    const id = await c.createTask({ type: "text_to_model", prompt: "[sim:unknown]" });
    const states = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const raw = await c.getTask(id);
      states.add(raw.status);
      const n = normalizeStatus(raw);
      if (n.state === "success") break;
      assert.notEqual(n.state, "failed");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(states.has("unknown"));
    assert.ok(states.has("success"));
  });
});

Deno.test("tripo client: a missing API key fails the call as auth_failed", async () => {
  const c = createTripoClient({ apiKey: "", baseUrl: "http://127.0.0.1:1/v2/openapi" });
  const e = await rejects(c.getTask("x"));
  assert.deepEqual([e.code, e.kind, e.landed], ["auth_failed", "permanent", "no"]);
});
