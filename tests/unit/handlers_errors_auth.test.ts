// The endpoint handlers through `app.request()` (tests/unit/_handlers_setup.ts): enqueue outcomes
// mapped to the error table, inputs refused before any read, users only on the generation
// routes, the service check of process-jobs, and task-status's 404 and 502. No stack, no network.
import assert from "node:assert/strict";
import * as jose from "jose";
import { createApp } from "../../supabase/functions/_shared/app.ts";
import { requireService, requireUser } from "../../supabase/functions/_shared/auth.ts";
import { createTaskStatusHandlers } from "../../supabase/functions/_shared/handlers/task_status.ts";
import { app, config, fakes, img, post, privateKey, token, userId } from "./_handlers_setup.ts";

Deno.test("enqueue outcomes map to the error table: 409, 429 with Retry-After, replay", async () => {
  const conflict = fakes({ outcome: "conflict", job_id: crypto.randomUUID() });
  const c = await post(app(conflict.deps, "text_to_model"), { task_id: "x", prompt: "p" }, {
    "idempotency-key": "k-1",
  });
  assert.deepEqual([c.status, c.body.error.code], [409, "idempotency_conflict"]);
  assert.equal(conflict.enqueued[0].idempotencyKey, "hdr:k-1");
  const limited = fakes({ outcome: "rate_limited", retry_after_seconds: 17 });
  const l = await post(app(limited.deps, "text_to_model"), { task_id: "x", prompt: "p" });
  assert.deepEqual([l.status, l.body.error.code, l.headers.get("retry-after")], [
    429,
    "rate_limited",
    "17",
  ]);
  const busy = fakes({ outcome: "too_many_active", retry_after_seconds: 30 });
  const b = await post(app(busy.deps, "text_to_model"), { task_id: "x", prompt: "p" });
  assert.deepEqual([b.status, b.body.error.code], [429, "too_many_active_jobs"]);
  const replay = fakes({ outcome: "existing", job_id: crypto.randomUUID() });
  const r = await post(app(replay.deps, "text_to_model"), { task_id: "x", prompt: "p" });
  assert.deepEqual([r.status, r.headers.get("idempotent-replayed")], [202, "true"]);
  assert.equal(replay.nudges(), 0, "a replay starts nothing");
  for (const f of [conflict, limited, busy]) assert.equal(f.nudges(), 0);
});

Deno.test("inputs: other hosts are 400 before any read; unreadable ones 403", async () => {
  const f = fakes();
  const a = app(f.deps, "sketch_to_model");
  const other = await post(a, {
    task_id: "s",
    input_sketch_asset_url: "https://evil.example/x.png",
  });
  assert.deepEqual([other.status, other.body.error.code], [400, "bad_request"]);
  const denied = await post(a, { task_id: "s", input_sketch_asset_url: img("forbidden.png") });
  assert.deepEqual([denied.status, denied.body.error.code], [403, "asset_not_readable"]);
  assert.equal(f.enqueued.length, 0);
});

Deno.test("users only: API keys and minted service tokens are refused with 401", async () => {
  const f = fakes();
  const a = app(f.deps, "text_to_model");
  const service = await new jose.SignJWT({
    role: "service_role",
    exp: Math.floor(Date.now() / 1000) + 60,
  })
    .setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);
  for (const bearer of ["sb_publishable_unit", "sb_secret_unit", service, "garbage"]) {
    const r = await post(a, { task_id: "x", prompt: "p" }, { authorization: `Bearer ${bearer}` });
    assert.equal(r.status, 401, bearer.slice(0, 20));
    assert.equal(r.body.error.code, "unauthorized");
  }
  assert.equal(f.enqueued.length, 0);
});

Deno.test("service routes: the secret key in apikey or PROCESS_JOBS_SECRET, nothing else", async () => {
  const { app: a } = createApp("pj", { ...config, LOG_LEVEL: "error" });
  a.use("*", requireService(config));
  a.post("/", (c) => c.json({ ok: true }));
  const call = async (headers: Record<string, string>) =>
    (await a.request("/pj", { method: "POST", headers })).status;
  assert.equal(await call({ apikey: "sb_secret_unit" }), 200);
  // The platform may add a bearer of its own next to the apikey: it does not matter.
  assert.equal(await call({ apikey: "sb_secret_unit", authorization: `Bearer ${token}` }), 200);
  assert.equal(await call({ "x-process-jobs-secret": "unit-process-jobs-secret" }), 200);
  assert.equal(await call({ authorization: "Bearer unit-process-jobs-secret" }), 200);
  assert.equal(await call({ apikey: "sb_publishable_unit" }), 401);
  assert.equal(await call({ authorization: "Bearer sb_secret_unit" }), 401);
  assert.equal(await call({ authorization: `Bearer ${token}` }), 401);
  assert.equal(await call({}), 401);
});

Deno.test("task-status: 404 for a job that is not the caller's; signing failures are 502", async () => {
  const { app: a } = createApp("task-status", { ...config, LOG_LEVEL: "error" });
  const jobId = crypto.randomUUID();
  const handlers = createTaskStatusHandlers({
    db: {
      jobStatus: (id, uid) =>
        Promise.resolve(
          id === jobId && uid === userId
            ? {
              view: {
                task_id: jobId,
                client_task_id: "c",
                kind: "text_to_model" as const,
                service: "tripoai" as const,
                status: "complete" as const,
                progress: 100,
                queue_position: 0,
                eta_seconds: null,
                outputs: [{ bucket: "generated-assets", path: `${userId}/m.glb` }],
                error: null,
                error_code: null,
                cost: 0,
                source_task_id: null,
                seq: 3,
                updated_at: new Date().toISOString(),
              },
              outputs: [{ bucket: "generated-assets", path: `${userId}/m.glb`, url: "u" }],
              conversions: [],
            }
            : undefined,
        ),
      cancelJob: () => Promise.resolve("not_found"),
    },
    storage: { signUrlsAsUser: () => Promise.reject(new Error("storage down")) },
  });
  a.use("*", requireUser(config));
  a.get("/:job_id", handlers.get);
  const get = (id: string) =>
    a.request(`/task-status/${id}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await get(crypto.randomUUID())).status, 404);
  assert.equal((await get("not-a-uuid")).status, 400);
  const r = await get(jobId);
  assert.equal(r.status, 502);
  assert.equal((await r.json()).error.code, "upstream_error");
});
