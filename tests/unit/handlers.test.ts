// The endpoint handlers through `app.request()`, with fakes for the database, Storage and the
// nudge (GenerateDeps is the seam): what reaches the database for each kind, the refusals, the
// error shape, and the service check of process-jobs. No stack, no network.
import assert from "node:assert/strict";
import * as jose from "jose";
import { createApp } from "../../supabase/functions/_shared/app.ts";
import { requireService, requireUser } from "../../supabase/functions/_shared/auth.ts";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";
import type { EnqueueInput, EnqueueResult } from "../../supabase/functions/_shared/db.ts";
import {
  createGenerateHandler,
  type GenerateDeps,
} from "../../supabase/functions/_shared/handlers/generate.ts";
import { createTaskStatusHandlers } from "../../supabase/functions/_shared/handlers/task_status.ts";
import { PLANS } from "../../supabase/functions/_shared/jobs/plans.ts";
import { jobRequest } from "../../supabase/functions/_shared/jobs/schemas.ts";

const URL_ = "https://ref.supabase.co";
const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
const jwks = { keys: [{ ...(await jose.exportJWK(publicKey)), kid: "k1", alg: "ES256" }] };
const config = loadConfig({
  SUPABASE_URL: URL_,
  SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_unit"}',
  SUPABASE_SECRET_KEYS: '{"default":"sb_secret_unit"}',
  SUPABASE_JWKS: JSON.stringify(jwks),
  SUPABASE_DB_URL: "postgres://unused",
  PROCESS_JOBS_SECRET: "unit-process-jobs-secret",
}, { userTokens: true });
const userId = crypto.randomUUID();
const token = await new jose.SignJWT({
  sub: userId,
  role: "authenticated",
  aud: "authenticated",
  exp: Math.floor(Date.now() / 1000) + 600,
}).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const GLB = new Uint8Array([0x67, 0x6c, 0x54, 0x46, 2, 0, 0, 0, 100, 0, 0, 0]);

function fakes(result: EnqueueResult = { outcome: "created", job_id: crypto.randomUUID() }) {
  const enqueued: EnqueueInput[] = [];
  let nudges = 0;
  const deps: GenerateDeps = {
    config,
    db: {
      enqueueJob: (i) => {
        enqueued.push(i);
        return Promise.resolve(result);
      },
      jobStatus: () => Promise.resolve(undefined),
      findRefineDraft: (_u, _b, path) =>
        Promise.resolve(path.endsWith("mine.glb") ? "draft-1" : null),
      ownsDraft: (_u, id) => Promise.resolve(id === "draft-1"),
    },
    storage: {
      readHeadAsUser: (ref) =>
        Promise.resolve(
          ref.path.endsWith(".glb")
            ? { status: 206, head: GLB, size: 1000 }
            : ref.path.includes("forbidden")
            ? { status: 400, head: new Uint8Array(), size: 0 }
            : { status: 206, head: PNG, size: 1000 },
        ),
    },
    nudge: () => void nudges++,
  };
  return { deps, enqueued, nudges: () => nudges };
}

function app(deps: GenerateDeps, kind: keyof typeof PLANS) {
  const { app } = createApp("fn", { ...config, LOG_LEVEL: "error" });
  app.use("*", requireUser(config));
  app.post("/", createGenerateHandler(PLANS[kind] as typeof PLANS.text_to_model, deps));
  return app;
}

async function post(
  a: ReturnType<typeof app>,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const res = await a.request("/fn", {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

const img = (name: string) =>
  `${URL_}/storage/v1/object/authenticated/input-assets/${userId}/${name}`;

Deno.test("text-to-model: the stored request is the body minus task_id; 202, Location, one nudge", async () => {
  const f = fakes();
  const r = await post(app(f.deps, "text_to_model"), {
    task_id: "ws-1",
    prompt: "a teapot",
    pbr: true,
  });
  assert.equal(r.status, 202);
  assert.match(
    r.headers.get("location") ?? "",
    /^\/functions\/v1\/task-status\/[0-9a-f-]{36}\?service=tripoai$/,
  );
  assert.equal(f.enqueued.length, 1);
  const e = f.enqueued[0];
  assert.deepEqual(e.request, {
    op: "tripo_task",
    tripo_type: "text_to_model",
    params: { prompt: "a teapot", pbr: true },
    inputs: [],
  });
  assert.ok(jobRequest.safeParse(e.request).success, "what is stored parses back in the worker");
  assert.deepEqual([e.userId, e.kind, e.rateBucket, e.clientTaskId], [
    userId,
    "text_to_model",
    "model",
    "ws-1",
  ]);
  assert.equal(f.nudges(), 1);
});

Deno.test("image-to-image: probed inputs and OpenAI params are stored; style appended", async () => {
  const f = fakes();
  const r = await post(app(f.deps, "image_to_image"), {
    task_id: "ws-2",
    prompt: "a cabin",
    style: "watercolour",
    n: 2,
    input_image_asset_url: img("in.png"),
  });
  assert.equal(r.status, 202);
  const e = f.enqueued[0];
  assert.equal(e.outputs, 2);
  assert.deepEqual(e.request, {
    op: "openai_edit",
    prompt: "a cabin Style: watercolour",
    params: { n: 2 },
    inputs: [{
      bucket: "input-assets",
      path: `${userId}/in.png`,
      size: 1000,
      content_type: "image/png",
    }],
  });
});

Deno.test("refine: options Tripo does not document are refused, not dropped", async () => {
  const f = fakes();
  const a = app(f.deps, "refine_model");
  for (
    const extra of [{ prompt: "shinier" }, { texture: true }, { pbr: true }, { face_limit: 1000 }]
  ) {
    const r = await post(a, { task_id: "r", input_model_asset_url: img("mine.glb"), ...extra });
    assert.equal(r.status, 400, JSON.stringify(extra));
    assert.equal(r.body.error.code, "validation_failed");
  }
  assert.equal(f.enqueued.length, 0, "nothing reached the database");
  const ok = await post(a, { task_id: "r", input_model_asset_url: img("mine.glb") });
  assert.equal(ok.status, 202);
  assert.deepEqual(f.enqueued[0].request, {
    op: "tripo_task",
    tripo_type: "refine_model",
    params: {},
    draft_model_task_id: "draft-1",
    inputs: [{
      bucket: "input-assets",
      path: `${userId}/mine.glb`,
      size: 1000,
      content_type: "model/gltf-binary",
    }],
  });
  const foreign = await post(a, {
    task_id: "r",
    input_model_asset_url: img("mine.glb"),
    draft_model_task_id: "someone-elses",
  });
  assert.equal(foreign.status, 403);
});

Deno.test("image endpoints refuse text-only Tripo options (negative_prompt)", async () => {
  const f = fakes();
  const r = await post(app(f.deps, "image_to_model"), {
    task_id: "i",
    input_image_asset_urls: [img("a.png")],
    negative_prompt: "blurry",
  });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body.error.details.map((d: { path: string }) => d.path), ["(body)"]);
  assert.equal(f.enqueued.length, 0);
});

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
                seq: 3,
                updated_at: new Date().toISOString(),
              },
              outputs: [{ bucket: "generated-assets", path: `${userId}/m.glb`, url: "u" }],
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
