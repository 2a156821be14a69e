// The world the hostile-input cases run in (two users, their inputs, B's finished model and
// job), the shape of a case, and the fingerprint that proves a refused request changed nothing.
import assert from "node:assert/strict";
import {
  call,
  db,
  makeGlb,
  makePng,
  newUser,
  type TestUser,
  uploadInput,
  waitForJob,
} from "../../_helpers/app.ts";
import { stack } from "../../_helpers/stack.ts";

export interface Case {
  name: string;
  fn?: string;
  method?: string;
  token?: string | null | ((w: World) => string | Promise<string>);
  headers?: Record<string, string>;
  body?: Record<string, unknown> | unknown[] | ((w: World) => unknown);
  rawBody?: BodyInit | (() => BodyInit);
  status: number;
  /** The error table code of the refusal (every refusal is the function's own JSON shape). */
  code: string;
}

export interface World {
  a: TestUser;
  b: TestUser;
  aImage: string;
  aGlb: string;
  aText: string;
  bImage: string;
  bJobId: string;
  bModelUrl: string;
  /** A's own finished model (the job under the fixed Idempotency-Key). */
  aModelUrl: string;
  bDraftId: string;
  bigImage: string;
}

const TABLES = [
  "public.jobs",
  "public.models",
  "public.concept_images",
  "public.input_assets",
  "storage.objects",
];

export async function fingerprint(): Promise<string> {
  const parts: string[] = [];
  for (const t of TABLES) {
    const [r] = await db().unsafe(
      `select count(*)::text || ':' || md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as f from ${t} t`,
    );
    parts.push(`${t}=${r.f}`);
  }
  return parts.join(" ");
}

export async function waitIdle() {
  for (let i = 0; i < 150; i++) {
    const [r] =
      await db()`select count(*)::int as n from public.jobs where state in ('queued','running')`;
    if (r.n === 0) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error("queue did not drain before the hostile-input suite");
}

export const LEAKS = [
  /postgres/i,
  /\bselect\b.*\bfrom\b/i,
  /syntax error/i,
  /relation "/i,
  /at file:\/\//,
  /\.ts:\d+/,
  /stack/i,
  /super-secret-jwt/,
  /127\.0\.0\.1:5432/,
  /tsk_/,
  /sk-local/,
  /__sim/,
];

export const big = "x".repeat(70 * 1024);
export const T2M = "generate-text-to-model";
export const I2I = "generate-image-to-image";
export const I2M = "generate-image-to-model";
export const REF = "generate-refine-model";
export const own = (path: string) =>
  `${stack.url}/storage/v1/object/authenticated/input-assets/${path}`;

export async function setup(): Promise<World> {
  const [a, b] = await Promise.all([newUser("hostile-a"), newUser("hostile-b")]);
  const aImage = await uploadInput(a, "in.png", makePng(32, 32, 1));
  const aGlb = await uploadInput(a, "in.glb", makeGlb(4096), "model/gltf-binary");
  const aText = await uploadInput(
    a,
    "fake.png",
    new TextEncoder().encode("hello, not an image"),
    "image/png",
  );
  const bImage = await uploadInput(b, "in.png", makePng(32, 32, 2));
  // A PNG header followed by padding: 21 MB, over the 20 MB image limit.
  const bigBytes = new Uint8Array(21 * 1024 * 1024);
  bigBytes.set(makePng(8, 8, 3).subarray(0, 16));
  const bigImage = await uploadInput(a, "big.png", bigBytes, "image/png");
  // B owns a finished model (for refine and task-status cases).
  const gen = await call(T2M, {
    token: b.token,
    body: { task_id: "b-model", prompt: "b's model" },
  });
  assert.equal(gen.status, 202, JSON.stringify(gen.body));
  const done = await waitForJob(b, gen.body.job_id, "tripoai");
  assert.equal(done.status, "complete");
  const [m] =
    await db()`select asset_url, ai_service_task_id from public.models where job_id = ${gen.body.job_id}`;
  // A's job under a fixed Idempotency-Key, so reusing the key with another body is a conflict.
  const first = await call(T2M, {
    token: a.token,
    headers: { "idempotency-key": "hostile-key-1" },
    body: { task_id: "t", prompt: "the first prompt" },
  });
  assert.equal(first.status, 202);
  await waitIdle();
  const [am] = await db()`select asset_url from public.models where job_id = ${first.body.job_id}`;
  assert.ok(am?.asset_url, "A's model is stored");
  return {
    a,
    b,
    aImage,
    aGlb,
    aText,
    bImage,
    bigImage,
    bJobId: gen.body.job_id,
    bModelUrl: m.asset_url,
    aModelUrl: am.asset_url,
    bDraftId: m.ai_service_task_id,
  };
}
