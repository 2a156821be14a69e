// Table-driven hostile input. Every case asserts: the status, the one error shape, nothing
// leaked (no SQL, stack, keys, internal URLs), no row or job created or changed, no object
// written, and no call made to a provider (read from the simulators' request logs).
import assert from "node:assert/strict";
import {
  call,
  db,
  it,
  makeGlb,
  makePng,
  newUser,
  simMark,
  simRequests,
  type TestUser,
  uploadInput,
  waitForJob,
} from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";
import {
  es256Forged,
  expired,
  hs256,
  unsignedToken,
  userClaims,
  wrongSecret,
} from "../_helpers/tokens.ts";

interface Case {
  name: string;
  fn?: string;
  method?: string;
  token?: string | null | ((w: World) => string | Promise<string>);
  headers?: Record<string, string>;
  body?: Record<string, unknown> | unknown[] | ((w: World) => unknown);
  rawBody?: BodyInit | (() => BodyInit);
  status: number;
  /** Our `{error:{code}}`; gateway refusals use Supabase's `{code,message}` shape instead. */
  code?: string;
  gateway?: boolean;
}

interface World {
  a: TestUser;
  b: TestUser;
  aImage: string;
  aGlb: string;
  aText: string;
  bImage: string;
  bJobId: string;
  bModelUrl: string;
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

async function fingerprint(): Promise<string> {
  const parts: string[] = [];
  for (const t of TABLES) {
    const [r] = await db().unsafe(
      `select count(*)::text || ':' || md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as f from ${t} t`,
    );
    parts.push(`${t}=${r.f}`);
  }
  return parts.join(" ");
}

async function waitIdle() {
  for (let i = 0; i < 150; i++) {
    const [r] =
      await db()`select count(*)::int as n from public.jobs where state in ('queued','running')`;
    if (r.n === 0) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error("queue did not drain before the hostile-input suite");
}

const LEAKS = [
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

const big = "x".repeat(70 * 1024);
const T2M = "generate-text-to-model";
const I2I = "generate-image-to-image";
const I2M = "generate-image-to-model";
const REF = "generate-refine-model";
const own = (path: string) => `${stack.url}/storage/v1/object/authenticated/input-assets/${path}`;

const cases: Case[] = [
  // --- authentication -----------------------------------------------------------------------
  {
    name: "no Authorization header",
    token: null,
    body: { task_id: "t", prompt: "p" },
    status: 401,
    gateway: true,
  },
  {
    name: "Basic instead of Bearer",
    token: null,
    headers: { authorization: "Basic dXNlcjpwdw==" },
    body: { task_id: "t", prompt: "p" },
    status: 401,
    gateway: true,
  },
  {
    name: "garbage token",
    token: "abc.def.ghi",
    body: { task_id: "t", prompt: "p" },
    status: 401,
    gateway: true,
  },
  {
    name: "token signed with another secret",
    token: (w) => wrongSecret(w.a.id),
    body: { task_id: "t", prompt: "p" },
    status: 401,
    gateway: true,
  },
  {
    name: "expired token",
    token: (w) => expired(w.a.id),
    body: { task_id: "t", prompt: "p" },
    status: 401,
    gateway: true,
  },
  {
    name: "alg none token",
    token: (w) => unsignedToken(w.a.id),
    body: { task_id: "t", prompt: "p" },
    status: 401,
    gateway: true,
  },
  {
    name: "ES256 token from a stranger's key",
    token: (w) => es256Forged(userClaims(w.a.id)),
    body: { task_id: "t", prompt: "p" },
    status: 401,
    gateway: true,
  },
  {
    name: "anon key posing as a user",
    token: () => stack.anonKey,
    body: { task_id: "t", prompt: "p" },
    status: 401,
    code: "unauthorized",
  },
  {
    name: "service key posing as a user",
    token: () => stack.serviceRoleKey,
    body: { task_id: "t", prompt: "p" },
    status: 401,
    code: "unauthorized",
  },
  {
    name: "wrong audience",
    token: (w) => hs256(userClaims(w.a.id, { aud: "other-app" })),
    body: { task_id: "t", prompt: "p" },
    status: 401,
    code: "unauthorized",
  },
  {
    name: "role anon with a user sub",
    token: (w) => hs256(userClaims(w.a.id, { role: "anon" })),
    body: { task_id: "t", prompt: "p" },
    status: 401,
    code: "unauthorized",
  },
  {
    name: "sub that is not a UUID",
    token: () => hs256(userClaims("admin")),
    body: { task_id: "t", prompt: "p" },
    status: 401,
    code: "unauthorized",
  },
  {
    name: "token without expiry",
    token: (w) => hs256({ sub: w.a.id, role: "authenticated", aud: "authenticated" }),
    body: { task_id: "t", prompt: "p" },
    status: 401,
    code: "unauthorized",
  },
  {
    name: "task-status without a token",
    fn: "task-status/00000000-0000-4000-8000-000000000000",
    method: "GET",
    token: null,
    status: 401,
    gateway: true,
  },
  {
    name: "process-jobs without its secret",
    fn: "process-jobs",
    token: null,
    body: {},
    status: 401,
    code: "unauthorized",
  },
  {
    name: "process-jobs with a wrong secret",
    fn: "process-jobs",
    token: "wrong-secret-wrong-secret",
    body: {},
    status: 401,
    code: "unauthorized",
  },
  {
    name: "process-jobs with a user token",
    fn: "process-jobs",
    token: (w) => w.a.token,
    body: {},
    status: 401,
    code: "unauthorized",
  },
  {
    name: "process-jobs with the service key",
    fn: "process-jobs",
    token: () => stack.serviceRoleKey,
    body: {},
    status: 401,
    code: "unauthorized",
  },

  // --- transport and shape ------------------------------------------------------------------
  {
    name: "text/plain body",
    headers: { "content-type": "text/plain" },
    rawBody: '{"task_id":"t","prompt":"p"}',
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "no content type",
    rawBody: '{"task_id":"t","prompt":"p"}',
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "multipart posing as JSON",
    headers: { "content-type": "multipart/form-data; boundary=x" },
    rawBody: "--x\r\n\r\n--x--",
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "JSON header, form body",
    headers: { "content-type": "application/json" },
    rawBody: "task_id=t&prompt=p",
    status: 400,
    code: "invalid_json",
  },
  {
    name: "truncated JSON",
    headers: { "content-type": "application/json" },
    rawBody: '{"task_id":"t","prompt":',
    status: 400,
    code: "invalid_json",
  },
  {
    name: "empty body",
    headers: { "content-type": "application/json" },
    rawBody: "",
    status: 400,
    code: "invalid_json",
  },
  {
    name: "JSON array",
    body: [{ task_id: "t", prompt: "p" }],
    status: 400,
    code: "validation_failed",
  },
  {
    name: "JSON null",
    headers: { "content-type": "application/json" },
    rawBody: "null",
    status: 400,
    code: "validation_failed",
  },
  {
    name: "invalid UTF-8",
    headers: { "content-type": "application/json" },
    rawBody: () => new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
    status: 400,
    code: "invalid_json",
  },
  {
    name: "oversized body",
    body: { task_id: "t", prompt: big },
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "oversized body without Content-Length (streamed)",
    headers: { "content-type": "application/json" },
    rawBody: () =>
      new ReadableStream({
        start(c) {
          for (let i = 0; i < 40; i++) c.enqueue(new TextEncoder().encode(" ".repeat(4096)));
          c.close();
        },
      }),
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "unknown field",
    body: { task_id: "t", prompt: "p", admin: true },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "client tries to pass provider fields",
    body: { task_id: "t", prompt: "p", type: "refine_model" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "prompt is a number",
    body: { task_id: "t", prompt: 42 },
    status: 400,
    code: "validation_failed",
  },
  { name: "prompt missing", body: { task_id: "t" }, status: 400, code: "validation_failed" },
  {
    name: "prompt over 1024 chars",
    body: { task_id: "t", prompt: "a".repeat(1025) },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "prompt with control characters",
    body: { task_id: "t", prompt: "hi\u0000there" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "prompt only whitespace",
    body: { task_id: "t", prompt: "   " },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "task_id with traversal",
    body: { task_id: "../../other-user", prompt: "p" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "task_id with a slash",
    body: { task_id: "a/b", prompt: "p" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "task_id with encoded slash",
    body: { task_id: "a%2Fb", prompt: "p" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "task_id too long",
    body: { task_id: "a".repeat(129), prompt: "p" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "task_id empty",
    body: { task_id: "", prompt: "p" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "task_id unicode",
    body: { task_id: "tâche", prompt: "p" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "face_limit negative",
    body: { task_id: "t", prompt: "p", face_limit: -5 },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "face_limit not an integer",
    body: { task_id: "t", prompt: "p", face_limit: 1.5 },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "texture_quality not in enum",
    body: { task_id: "t", prompt: "p", texture_quality: "ultra" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "style not in enum",
    body: { task_id: "t", prompt: "p", style: "object:evil" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "pbr as a string",
    body: { task_id: "t", prompt: "p", pbr: "yes" },
    status: 400,
    code: "validation_failed",
  },
  {
    name: "n = 5",
    fn: I2I,
    body: (w) => ({ task_id: "t", prompt: "p", input_image_asset_url: w.aImage, n: 5 }),
    status: 400,
    code: "validation_failed",
  },
  {
    name: "n = 0",
    fn: I2I,
    body: (w) => ({ task_id: "t", prompt: "p", input_image_asset_url: w.aImage, n: 0 }),
    status: 400,
    code: "validation_failed",
  },
  {
    name: "size not offered",
    fn: I2I,
    body: (w) => ({
      task_id: "t",
      prompt: "p",
      input_image_asset_url: w.aImage,
      size: "4096x4096",
    }),
    status: 400,
    code: "validation_failed",
  },
  {
    name: "five views",
    fn: I2M,
    body: (w) => ({
      task_id: "t",
      input_image_asset_urls: [w.aImage, w.aImage, w.aImage, w.aImage, w.aImage],
    }),
    status: 400,
    code: "validation_failed",
  },
  {
    name: "no views",
    fn: I2M,
    body: { task_id: "t", input_image_asset_urls: [] },
    status: 400,
    code: "validation_failed",
  },
  { name: "GET on a generation endpoint", method: "GET", status: 405, code: "method_not_allowed" },
  {
    name: "PUT on a generation endpoint",
    method: "PUT",
    body: { task_id: "t", prompt: "p" },
    status: 405,
    code: "method_not_allowed",
  },
  {
    name: "Idempotency-Key with spaces",
    headers: { "idempotency-key": "a b" },
    body: { task_id: "t", prompt: "p" },
    status: 400,
    code: "bad_request",
  },
  {
    name: "Idempotency-Key reused with another body",
    headers: { "idempotency-key": "hostile-key-1" },
    body: { task_id: "t", prompt: "a different prompt" },
    status: 409,
    code: "idempotency_conflict",
  },

  // --- SSRF: only this project's Storage ----------------------------------------------------
  ...[
    ["another host", "https://evil.example.com/storage/v1/object/public/input-assets/x.png"],
    ["cloud metadata IP", "http://169.254.169.254/latest/meta-data/iam"],
    ["loopback database port", "http://127.0.0.1:5432/storage/v1/object/public/input-assets/x.png"],
    [
      "localhost alias of our host",
      () =>
        `http://localhost:${
          new URL(stack.url).port
        }/storage/v1/object/authenticated/input-assets/x.png`,
    ],
    [
      "IPv6 loopback",
      () =>
        `http://[::1]:${
          new URL(stack.url).port
        }/storage/v1/object/authenticated/input-assets/x.png`,
    ],
    ["file URL", "file:///etc/passwd"],
    ["data URL", "data:image/png;base64,iVBORw0KGgo="],
    [
      "credentials in URL",
      () =>
        stack.url.replace("://", "://user:pw@") +
        "/storage/v1/object/authenticated/input-assets/x.png",
    ],
    [
      "https on our http host",
      () =>
        stack.url.replace("http:", "https:") +
        "/storage/v1/object/authenticated/input-assets/x.png",
    ],
    [
      "dot-dot traversal",
      () => `${stack.url}/storage/v1/object/authenticated/input-assets/%2e%2e/%2e%2e/auth/users`,
    ],
    [
      "encoded slash",
      () => `${stack.url}/storage/v1/object/authenticated/input-assets/a%2F..%2Fb.png`,
    ],
    ["not an object route", () => `${stack.url}/storage/v1/bucket/input-assets`],
    ["the auth API", () => `${stack.url}/auth/v1/admin/users`],
    ["a function URL", () => `${stack.url}/functions/v1/process-jobs`],
    ["not a URL", "input-assets/x.png"],
  ].map(([label, url]): Case => ({
    name: `SSRF: ${label}`,
    fn: I2M,
    body: () => ({
      task_id: "t",
      input_image_asset_urls: [typeof url === "function" ? url() : url],
    }),
    status: 400,
    code: "bad_request",
  })),
  {
    name: "SSRF in image-to-image",
    fn: I2I,
    body: { task_id: "t", prompt: "p", input_image_asset_url: "http://169.254.169.254/" },
    status: 400,
    code: "bad_request",
  },
  {
    name: "SSRF in a later view",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.aImage, "http://10.0.0.1/x.png"] }),
    status: 400,
    code: "bad_request",
  },

  // --- other users' things ------------------------------------------------------------------
  {
    name: "another user's input image",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.bImage] }),
    status: 403,
    code: "asset_not_readable",
  },
  {
    name: "another user's image as a later view",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.aImage, w.bImage] }),
    status: 403,
    code: "asset_not_readable",
  },
  {
    name: "another user's image via a path in my folder name",
    fn: I2I,
    body: (w) => ({ task_id: "t", prompt: "p", input_image_asset_url: own(`${w.b.id}/in.png`) }),
    status: 403,
    code: "asset_not_readable",
  },
  {
    name: "an object that does not exist",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [own(`${w.a.id}/missing.png`)] }),
    status: 403,
    code: "asset_not_readable",
  },
  {
    name: "a text file named .png",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.aText] }),
    status: 415,
    code: "unsupported_asset_type",
  },
  {
    name: "a GLB where an image belongs",
    fn: I2I,
    body: (w) => ({ task_id: "t", prompt: "p", input_image_asset_url: w.aGlb }),
    status: 415,
    code: "unsupported_asset_type",
  },
  {
    name: "an input image over the size limit",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.bigImage] }),
    status: 413,
    code: "asset_too_large",
  },
  {
    name: "refine another user's model",
    fn: REF,
    body: (w) => ({ task_id: "t", input_model_asset_url: w.bModelUrl }),
    status: 400,
    code: "bad_request",
  },
  {
    name: "refine with another user's draft id",
    fn: REF,
    body: (w) => ({ task_id: "t", input_model_asset_url: w.aGlb, draft_model_task_id: w.bDraftId }),
    status: 403,
    code: "forbidden",
  },
  { name: "another user's job status", method: "GET", fn: "@bjob", status: 404, code: "not_found" },
  {
    name: "a job that does not exist",
    method: "GET",
    fn: "task-status/3f1d2c4b-5a69-4e7f-8d0c-1b2a3c4d5e6f",
    status: 404,
    code: "not_found",
  },
  {
    name: "task-status with a path trick",
    method: "GET",
    fn: "task-status/..%2F..%2Fetc",
    status: 400,
    code: "bad_request",
  },
  {
    name: "task-status with an unknown service",
    method: "GET",
    fn: "@bjob?service=stability",
    status: 400,
    code: "bad_request",
  },
  {
    name: "cancel another user's job",
    method: "DELETE",
    fn: "@bjob",
    status: 404,
    code: "not_found",
  },
];

let world: World;

async function setup(): Promise<World> {
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
    bDraftId: m.ai_service_task_id,
  };
}

it(`hostile input: ${cases.length} cases refused cleanly and change nothing`, async () => {
  assert.ok(cases.length >= 60, `only ${cases.length} cases`);
  world = await setup();
  const failures: string[] = [];
  for (const c of cases) {
    const before = await fingerprint();
    const marks = [await simMark("tripo"), await simMark("openai")];
    let fn = c.fn ?? T2M;
    if (fn.startsWith("@bjob")) fn = `task-status/${world.bJobId}${fn.slice(5)}`;
    const token = c.token === undefined
      ? world.a.token
      : typeof c.token === "function"
      ? await c.token(world)
      : c.token;
    const body = typeof c.body === "function"
      ? await (c.body as (w: World) => unknown)(world)
      : c.body;
    const rawBody = typeof c.rawBody === "function" ? c.rawBody() : c.rawBody;
    const res = await call(fn, { token, method: c.method, headers: c.headers, body, rawBody });
    const text = JSON.stringify(res.body);
    try {
      assert.equal(res.status, c.status, `status (body ${text})`);
      if (c.gateway) {
        assert.equal(typeof res.body?.code, "string", "gateway error shape");
        assert.ok(res.headers.get("sb-error-code"), "gateway error header");
      } else {
        assert.equal(typeof res.body?.error?.message, "string", `error shape ${text}`);
        assert.equal(res.body.error.code, c.code, "error code");
        assert.ok(res.body.error.message.length > 0 && res.body.error.message.length < 300);
      }
      for (const leak of LEAKS) assert.ok(!leak.test(text), `leak ${leak} in ${text}`);
      if (c.status === 429) assert.ok(res.headers.get("retry-after"));
      assert.equal(await fingerprint(), before, "database or storage changed");
      const calls = [
        ...(await simRequests("tripo", marks[0])),
        ...(await simRequests("openai", marks[1])),
      ];
      assert.equal(calls.length, 0, `provider called: ${JSON.stringify(calls.map((r) => r.path))}`);
    } catch (e) {
      failures.push(`${c.name}: ${(e as Error).message}`);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
});

it("rate limit burst: the fifth model request in a minute is 429 with Retry-After and creates nothing", async () => {
  const user = await newUser("burst");
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await call(T2M, {
      token: user.token,
      body: { task_id: `burst-${i}`, prompt: `burst ${i}` },
    });
    statuses.push(r.status);
  }
  assert.deepEqual(statuses, [202, 202, 202, 202]);
  const before = await fingerprint();
  const r = await call(T2M, { token: user.token, body: { task_id: "burst-5", prompt: "burst 5" } });
  assert.equal(r.status, 429);
  assert.equal(r.body.error.code, "rate_limited");
  const after = Number(r.headers.get("retry-after"));
  assert.ok(after >= 1 && after <= 60, `Retry-After ${after}`);
  const [n] = await db()`select count(*)::int as n from public.jobs where user_id = ${user.id}`;
  assert.equal(n.n, 4);
  assert.notEqual(before, "", "fingerprint taken");
  // Another user is not affected by this user's burst (per user, not per IP).
  const other = await newUser("burst-other");
  const ok = await call(T2M, { token: other.token, body: { task_id: "calm", prompt: "calm" } });
  assert.equal(ok.status, 202);
  await waitIdle();
});

it("jobs in flight per user are capped: the next request is 429 and creates nothing", async () => {
  const user = await newUser("active-cap");
  // Ten waiting jobs (the default USER_MAX_ACTIVE_JOBS), parked an hour ahead so no worker runs
  // them during the test; cancelled at the end.
  // One transaction, so no worker can claim a job before it is parked.
  const ids = await db().begin(async (tx) => {
    const out: string[] = [];
    for (let i = 0; i < 10; i++) {
      const [r] = await tx`
        select job_id from bff.enqueue_job(${user.id}::uuid, 'text_to_model', 'tripo',
          ${`parked-${i}`}, '{"tripo_type":"text_to_model","params":{"prompt":"parked"}}'::jsonb,
          ${`hdr:parked-${i}`}, ${`h${i}`}, 'parked', 100000, 100000, 1,
          '{"table":"models","task_id":"parked","prompt":"parked"}'::jsonb)`;
      out.push(r.job_id);
    }
    await tx`update public.jobs set run_at = now() + interval '1 hour'
             where id = any (${out}::uuid[])`;
    return out;
  });
  try {
    const before = await fingerprint();
    const r = await call(T2M, {
      token: user.token,
      body: { task_id: "one-more", prompt: "one more" },
    });
    assert.equal(r.status, 429, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "too_many_active_jobs");
    assert.ok(Number(r.headers.get("retry-after")) >= 1);
    assert.equal(await fingerprint(), before, "nothing created");
  } finally {
    for (const id of ids) await db()`select bff.cancel_job(${id}::uuid, ${user.id}::uuid)`;
  }
});
