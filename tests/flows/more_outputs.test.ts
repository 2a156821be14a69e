// SPEC §12 end to end: text-to-image through OpenAI generations; conversions of the caller's own
// model by URL and chained by output_formats, each stored in its format (checked by the format's
// inspector), with its own models row linked to the source, listed in the source's task-status;
// what is refused costs no provider call; a conversion's failure never touches its source.
import assert from "node:assert/strict";
import {
  call,
  db,
  it,
  makeGlb,
  newUser,
  simControl,
  simMark,
  simRequests,
  type TestUser,
  uploadInput,
  waitForJob,
} from "../_helpers/app.ts";
import { sniffImage } from "../../localstack/simulators/images.ts";
import { inspectModel } from "../../localstack/simulators/formats/inspect.ts";
import type { ConvertFormat } from "../../localstack/simulators/formats/layout.ts";

const UNSAFE = /https?:\/\/|tsk_|sk-|postgres|stack|\.ts:\d/i;
const EXT: Record<ConvertFormat, string> = {
  GLTF: "gltf.zip",
  USDZ: "usdz",
  FBX: "fbx",
  OBJ: "obj.zip",
  STL: "stl",
  "3MF": "3mf",
};
const TYPE: Record<ConvertFormat, string> = {
  GLTF: "application/zip",
  USDZ: "model/vnd.usdz+zip",
  FBX: "application/octet-stream",
  OBJ: "application/zip",
  STL: "model/stl",
  "3MF": "model/3mf",
};

async function post(user: TestUser, fn: string, body: Record<string, unknown>) {
  const r = await call(fn, { token: user.token, body });
  assert.equal(r.status, 202, `${fn}: ${JSON.stringify(r.body)}`);
  return r.body.job_id as string;
}

interface Conversion {
  job_id: string;
  format: ConvertFormat;
  status: string;
}

async function statusOf(user: TestUser, jobId: string) {
  const r = await call(`task-status/${jobId}?service=tripoai`, { token: user.token });
  assert.equal(r.status, 200);
  return r.body as { conversions: Conversion[]; source_task_id: string | null };
}

/** A finished text-to-model of `user`: its job id, models row and Tripo task id. */
async function finishedModel(user: TestUser, prompt: string, extra: Record<string, unknown> = {}) {
  const taskId = `src-${crypto.randomUUID().slice(0, 8)}`;
  const job = await post(user, "generate-text-to-model", { task_id: taskId, prompt, ...extra });
  const s = await waitForJob(user, job, "tripoai");
  assert.equal(s.status, "complete", JSON.stringify(s));
  const [row] = await db()`
    select id, asset_url, ai_service_task_id from public.models where job_id = ${job}`;
  return { job, taskId, row };
}

/** The stored conversion: right path, content type and layout; its row linked to the source. */
async function assertConverted(
  user: TestUser,
  conv: { job: string; format: ConvertFormat; taskId: string; sourceModelId: string },
) {
  const s = await waitForJob(user, conv.job, "tripoai");
  assert.equal(s.status, "complete", JSON.stringify(s));
  const res = await fetch(s.asset_url!);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), TYPE[conv.format]);
  const info = await inspectModel(conv.format, new Uint8Array(await res.arrayBuffer()));
  assert.equal(info.ok, true, `${conv.format}: ${info.error}`);
  const [row] = await db()`
    select format, status, storage_path, source_model_id, task_id from public.models
    where job_id = ${conv.job}`;
  assert.deepEqual(
    { ...row },
    {
      format: conv.format,
      status: "complete",
      storage_path: `${user.id}/models/${conv.taskId}/${conv.job}.${EXT[conv.format]}`,
      source_model_id: conv.sourceModelId,
      task_id: conv.taskId,
    },
  );
}

it("text-to-image n=2: one generation, both concepts stored, listed and signed", async () => {
  const user = await newUser("t2i");
  const mark = await simMark("openai");
  const job = await post(user, "generate-text-to-image", {
    task_id: "words-1",
    prompt: "a lighthouse at dusk",
    style: "gouache",
    n: 2,
    quality: "low",
  });
  const s = await waitForJob(user, job, "openai");
  assert.equal(s.status, "complete", JSON.stringify(s));
  assert.equal(s.asset_urls.length, 2);
  for (const url of s.asset_urls) {
    const res = await fetch(url);
    assert.equal(sniffImage(new Uint8Array(await res.arrayBuffer())), "png");
  }
  const rows = await db()`
    select image_index, status, storage_path, prompt, style from public.concept_images
    where job_id = ${job} order by image_index`;
  assert.deepEqual(
    rows.map((r) => r.storage_path),
    [0, 1].map((i) => `${user.id}/concepts/words-1/${job}-${i}.png`),
  );
  assert.ok(rows.every((r) => r.status === "complete" && r.style === "gouache"));
  const gens = await simRequests("openai", mark, "&method=POST&path=/v1/images/generations");
  assert.equal(gens.length, 1, "one billed generation");
  assert.equal(gens[0].body.model, "gpt-image-1");
  assert.equal(gens[0].body.n, 2);
  assert.match(String(gens[0].body.prompt), /a lighthouse at dusk Style: gouache/);
  const edits = await simRequests("openai", mark, "&method=POST&path=/v1/images/edits");
  assert.equal(edits.length, 0, "no edit for a prompt alone");
});

it("text-to-image failures: refused and no-quota fail at once with one call each", async () => {
  const user = await newUser("t2i-fail");
  const cases: [string, string][] = [
    ["a refused picture [sim:moderation]", "content_policy"],
    ["a picture with no quota [sim:quota]", "insufficient_credits"],
  ];
  const mark = await simMark("openai");
  const jobs: string[] = [];
  for (const [prompt] of cases) {
    jobs.push(await post(user, "generate-text-to-image", { task_id: "f", prompt }));
  }
  for (let i = 0; i < cases.length; i++) {
    const s = await waitForJob(user, jobs[i], "openai");
    assert.equal(s.status, "failed", cases[i][0]);
    assert.equal(s.error_code, cases[i][1], cases[i][0]);
    assert.ok(s.error && !UNSAFE.test(s.error), s.error ?? "");
    const calls = (await simRequests("openai", mark, "&method=POST&path=/v1/images/generations"))
      .filter((g) => g.body.prompt === cases[i][0]);
    assert.equal(calls.length, 1, `${cases[i][0]}: one paid call`);
  }
});

it("text-to-image 429 and 500 are retried as for edits, then it completes", async () => {
  const user = await newUser("t2i-retry");
  const mark = await simMark("openai");
  const match = "POST /v1/images/generations";
  await simControl("openai", "config", {
    faults: [
      { match, status: 429, code: "rate_limit_exceeded", retryAfter: 1, times: 1 },
      { match, status: 500, code: "server_error", times: 1 },
    ],
  });
  try {
    const job = await post(user, "generate-text-to-image", { task_id: "r", prompt: "a kite" });
    const s = await waitForJob(user, job, "openai");
    assert.equal(s.status, "complete", JSON.stringify(s));
  } finally {
    await simControl("openai", "config", { faults: [] });
  }
  const gens = await simRequests("openai", mark, "&method=POST&path=/v1/images/generations");
  assert.equal(gens.length, 3, "429, 500, then the one that made the image");
});

it("convert-model by URL: USDZ with options, stored beside the model, linked, listed", async () => {
  const user = await newUser("convert");
  const src = await finishedModel(user, "a vase to view in AR");
  const mark = await simMark("tripo");
  const job = await post(user, "generate-convert-model", {
    task_id: src.taskId,
    input_model_asset_url: src.row.asset_url,
    format: "USDZ",
    texture_size: 1024,
    pivot_to_center_bottom: true,
  });
  await assertConverted(user, {
    job,
    format: "USDZ",
    taskId: src.taskId,
    sourceModelId: src.row.id,
  });
  const posts = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/task");
  assert.equal(posts.length, 1, "one paid conversion");
  assert.deepEqual(posts[0].body, {
    type: "convert_model",
    original_model_task_id: src.row.ai_service_task_id,
    format: "USDZ",
    texture_size: 1024,
    pivot_to_center_bottom: true,
  });
  assert.equal((await statusOf(user, job)).source_task_id, src.job);
  assert.deepEqual((await statusOf(user, src.job)).conversions, [{
    job_id: job,
    format: "USDZ",
    status: "complete",
  }]);
});

it("convert-model refusals: another user's model, one not finished, an upload, bad options", async () => {
  const owner = await newUser("conv-owner");
  const src = await finishedModel(owner, "a lamp");
  const other = await newUser("conv-other");
  const running = await post(owner, "generate-text-to-model", {
    task_id: "slow",
    prompt: "a slow lamp [sim:slow=20000]",
  });
  const upload = await uploadInput(owner, "own.glb", makeGlb(2048), "model/gltf-binary");
  const mark = await simMark("tripo");
  const body = { task_id: "c", input_model_asset_url: src.row.asset_url, format: "STL" };
  const cases: [TestUser, Record<string, unknown>, number, string][] = [
    // Not found among the caller's own models (whose it is is not revealed).
    [other, body, 400, "bad_request"],
    [owner, { ...body, input_model_asset_url: upload }, 400, "bad_request"],
    [owner, { ...body, format: "GLB" }, 400, "validation_failed"],
    [owner, { ...body, format: "FBX", texture_format: "TIFF" }, 400, "validation_failed"],
    [owner, { ...body, quad: "yes" }, 400, "validation_failed"],
    [owner, { ...body, smart_low_poly: true }, 400, "validation_failed"],
  ];
  for (const [user, b, status, code] of cases) {
    const r = await call("generate-convert-model", { token: user.token, body: b });
    assert.equal(r.status, status, JSON.stringify([b, r.body]));
    assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  }
  // A model still running, named by the path it will be stored at: not a finished model yet.
  const [pending] = await db()`select status from public.models where job_id = ${running}`;
  assert.notEqual(pending.status, "complete");
  const future = String(src.row.asset_url).replace(
    /generated-assets\/.*$/,
    `generated-assets/${owner.id}/models/slow/${running}.glb`,
  );
  const notYet = await call("generate-convert-model", {
    token: owner.token,
    body: { ...body, input_model_asset_url: future },
  });
  assert.equal(notYet.status, 400, JSON.stringify(notYet.body));
  assert.equal(notYet.body.error.details.field, "input_model_asset_url");
  const posts = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/task");
  assert.equal(posts.filter((p) => p.body?.type === "convert_model").length, 0, "no paid call");
  const [{ n }] = await db()`
    select count(*)::int as n from public.jobs where kind = 'convert_model'
    and user_id in (${owner.id}, ${other.id})`;
  assert.equal(n, 0, "nothing created");
  const cancel = await call(`task-status/${running}`, { token: owner.token, method: "DELETE" });
  assert.equal(cancel.status, 200, "the slow model is not left running");
});

it("output_formats: three conversions chained after the model, each stored in its format", async () => {
  const user = await newUser("chain");
  const src = await finishedModel(user, "a figurine to print", {
    output_formats: ["STL", "3MF", "FBX"],
  });
  const listed = (await statusOf(user, src.job)).conversions;
  assert.deepEqual(listed.map((c) => c.format), ["STL", "3MF", "FBX"], "listed in the order asked");
  for (const c of listed) {
    await assertConverted(user, {
      job: c.job_id,
      format: c.format,
      taskId: src.taskId,
      sourceModelId: src.row.id,
    });
  }
  assert.ok((await statusOf(user, src.job)).conversions.every((c) => c.status === "complete"));
  const posts = await simRequests("tripo", 0, "&method=POST&path=/v2/openapi/task");
  const mine = posts.filter((p) => p.body?.original_model_task_id === src.row.ai_service_task_id);
  assert.deepEqual(mine.map((p) => p.body.format).sort(), ["3MF", "FBX", "STL"], "each once");
});

it("a chained conversion that fails leaves its model complete, with its own clear error", async () => {
  const user = await newUser("chain-fail");
  const src = await finishedModel(user, "a bust [sim:convert-fail]", { output_formats: ["OBJ"] });
  const [conv] = (await statusOf(user, src.job)).conversions;
  const s = await waitForJob(user, conv.job_id, "tripoai");
  assert.equal(s.status, "failed");
  assert.equal(s.error_code, "task_failed");
  assert.ok(s.error && !UNSAFE.test(s.error), s.error ?? "");
  const source = await waitForJob(user, src.job, "tripoai");
  assert.equal(source.status, "complete");
  assert.equal(source.asset_urls.length, 1);
  const [row] = await db()`select status from public.models where id = ${src.row.id}`;
  assert.equal(row.status, "complete");
});

it("credits: a model with conversions must be affordable whole; each conversion pays its own", async () => {
  const user = await newUser("chain-credits");
  const admin = db();
  await admin`select bff.set_credit_prices('{"text_to_model": 5, "convert_model": 2}')`;
  try {
    await admin`select bff.grant_credits(${user.id}::uuid, 10, 'test', 'chain-grant')`;
    const tooMuch = await call("generate-text-to-model", {
      token: user.token,
      body: { task_id: "p", prompt: "priced", output_formats: ["STL", "3MF", "USDZ"] },
    });
    assert.equal(tooMuch.status, 402);
    assert.deepEqual(tooMuch.body.error.details, { balance: 10, price: 11 });
    const src = await finishedModel(user, "priced", { output_formats: ["STL", "USDZ"] });
    for (const c of (await statusOf(user, src.job)).conversions) {
      assert.equal((await waitForJob(user, c.job_id, "tripoai")).status, "complete");
    }
    const [acct] = await admin`
      select granted::int, charged::int, reserved::int from public.credit_accounts
      where user_id = ${user.id}`;
    assert.deepEqual({ ...acct }, { granted: 10, charged: 9, reserved: 0 });
  } finally {
    await admin`select bff.set_credit_prices('{"text_to_model": 0, "convert_model": 0}')`;
  }
});
