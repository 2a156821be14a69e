// The four Tripo flows end to end, as the app drives them: supabase-js user, inputs in
// `input-assets`, functions.invoke, task-status polling; then the stored model is checked.
import assert from "node:assert/strict";
import {
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
import { inspectGlb } from "../../localstack/simulators/glb.ts";

async function generate(user: TestUser, fn: string, body: Record<string, unknown>) {
  const { data, error, response } = await user.client.functions.invoke(fn, {
    body,
    headers: { authorization: `Bearer ${user.token}` },
  });
  if (error) throw new Error(`${fn}: ${error.message} ${await response?.text()}`);
  assert.equal(response?.status, 202);
  assert.equal(data.status, "pending");
  assert.equal(data.celery_task_id, data.job_id);
  assert.equal(data.task_id, body.task_id);
  assert.match(
    response!.headers.get("location")!,
    new RegExp(`^/functions/v1/task-status/${data.job_id}\\?service=(tripoai|openai)$`),
  );
  return data.job_id as string;
}

async function assertStoredModel(user: TestUser, jobId: string, taskId: string, assetUrl: string) {
  const res = await fetch(assetUrl);
  assert.equal(res.status, 200);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const glb = inspectGlb(bytes);
  assert.equal(glb.ok, true, "stored model is a valid GLB");
  const [row] = await db()`
    select status, storage_bucket, storage_path, asset_url, progress, ai_service_task_id
    from public.models where job_id = ${jobId}`;
  assert.equal(row.status, "complete");
  assert.equal(row.storage_bucket, "generated-assets");
  assert.equal(row.storage_path, `${user.id}/models/${taskId}/${jobId}.glb`);
  assert.ok(!String(row.asset_url).includes("token="), "rows never store signed URLs");
  assert.equal(row.progress, 100);
  assert.ok(row.ai_service_task_id, "the Tripo task id is recorded");
  return row.ai_service_task_id as string;
}

it("text-to-model: 202, polled to complete, GLB stored under the user's folder", async () => {
  const user = await newUser("t2m");
  const mark = await simMark("tripo");
  const taskId = `ws-${crypto.randomUUID().slice(0, 8)}`;
  const jobId = await generate(user, "generate-text-to-model", {
    task_id: taskId,
    prompt: "a small red teapot",
    texture_quality: "detailed",
    pbr: true,
  });
  const status = await waitForJob(user, jobId, "tripoai");
  assert.equal(status.status, "complete", JSON.stringify(status));
  assert.equal(status.progress, 100);
  assert.equal(status.client_task_id, taskId);
  assert.equal(status.asset_urls.length, 1);
  assert.match(status.asset_url!, /\/storage\/v1\/object\/sign\/generated-assets\/.+token=/);
  await assertStoredModel(user, jobId, taskId, status.asset_url!);

  const posts = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/task");
  const mine = posts.filter((r) => r.body?.prompt === "a small red teapot");
  assert.equal(mine.length, 1, "exactly one paid submission");
  assert.equal(mine[0].body.type, "text_to_model");
  assert.equal(mine[0].body.texture_quality, "detailed");
  assert.equal(mine[0].body.task_id, undefined, "the client's task_id never reaches Tripo");
});

it("image-to-model: one view → image_to_model; three views → multiview with four slots", async () => {
  const user = await newUser("i2m");
  const front = await uploadInput(user, "front.png", makePng(64, 64, 1));
  const left = await uploadInput(user, "left.png", makePng(64, 64, 2));
  const back = await uploadInput(user, "back.png", makePng(64, 64, 3));

  const mark = await simMark("tripo");
  const single = await generate(user, "generate-image-to-model", {
    task_id: "single-view",
    input_image_asset_urls: [front],
    orientation: "align_image",
  });
  const multi = await generate(user, "generate-image-to-model", {
    task_id: "multi-view",
    input_image_asset_urls: [front, left, back],
  });
  const [s1, s2] = await Promise.all([
    waitForJob(user, single, "tripoai"),
    waitForJob(user, multi, "tripoai"),
  ]);
  assert.equal(s1.status, "complete", JSON.stringify(s1));
  assert.equal(s2.status, "complete", JSON.stringify(s2));
  await assertStoredModel(user, single, "single-view", s1.asset_url!);
  await assertStoredModel(user, multi, "multi-view", s2.asset_url!);

  const posts = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/task");
  const types = posts.map((p) => p.body?.type).sort();
  assert.deepEqual(types, ["image_to_model", "multiview_to_model"]);
  const mv = posts.find((p) => p.body?.type === "multiview_to_model")!;
  assert.equal(mv.body.files.length, 4);
  assert.ok(mv.body.files[0].file_token, "front view is slot 0");
  assert.ok(mv.body.files[2].file_token, "back view is slot 2");
  assert.deepEqual(mv.body.files[3], {}, "missing right view is {}");
  const iv = posts.find((p) => p.body?.type === "image_to_model")!;
  assert.equal(iv.body.orientation, "align_image");
  const uploads = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/upload");
  assert.equal(uploads.length, 4, "each input uploaded once");
});

it("sketch-to-model: sent to Tripo as image_to_model", async () => {
  const user = await newUser("s2m");
  const sketch = await uploadInput(user, "sketch.png", makePng(48, 48, 9));
  const mark = await simMark("tripo");
  const jobId = await generate(user, "generate-sketch-to-model", {
    task_id: "sketch-1",
    input_sketch_asset_url: sketch,
  });
  const s = await waitForJob(user, jobId, "tripoai");
  assert.equal(s.status, "complete", JSON.stringify(s));
  await assertStoredModel(user, jobId, "sketch-1", s.asset_url!);
  const posts = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/task");
  assert.equal(posts.length, 1);
  assert.equal(posts[0].body.type, "image_to_model");
});

it("refine-model: finds the caller's own draft when draft_model_task_id is absent", async () => {
  const user = await newUser("refine");
  const draftJob = await generate(user, "generate-text-to-model", {
    task_id: "draft-1",
    prompt: "a chair to refine",
  });
  const draft = await waitForJob(user, draftJob, "tripoai");
  assert.equal(draft.status, "complete", JSON.stringify(draft));
  const [row] = await db()`
    select ai_service_task_id, asset_url from public.models where job_id = ${draftJob}`;

  const mark = await simMark("tripo");
  const jobId = await generate(user, "generate-refine-model", {
    task_id: "draft-1",
    input_model_asset_url: row.asset_url,
  });
  const s = await waitForJob(user, jobId, "tripoai");
  assert.equal(s.status, "complete", JSON.stringify(s));
  const posts = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/task");
  assert.equal(posts.length, 1);
  assert.equal(posts[0].body.type, "refine_model");
  assert.equal(posts[0].body.draft_model_task_id, row.ai_service_task_id);

  // Another user may not refine it, with or without the draft id.
  const other = await newUser("refine-other");
  for (
    const body of [
      { task_id: "steal", input_model_asset_url: row.asset_url },
      {
        task_id: "steal",
        input_model_asset_url: row.asset_url,
        draft_model_task_id: row.ai_service_task_id,
      },
    ]
  ) {
    const { error, response } = await other.client.functions.invoke("generate-refine-model", {
      body,
      headers: { authorization: `Bearer ${other.token}` },
    });
    assert.ok(error, "refused");
    assert.ok([400, 403].includes(response!.status), `status ${response!.status}`);
  }
});

it("a GLB input is accepted only by refine; an image is refused there", async () => {
  const user = await newUser("types");
  const glbUrl = await uploadInput(user, "in.glb", makeGlb(2048), "model/gltf-binary");
  const { error, response } = await user.client.functions.invoke("generate-image-to-model", {
    body: { task_id: "x", input_image_asset_urls: [glbUrl] },
    headers: { authorization: `Bearer ${user.token}` },
  });
  assert.ok(error);
  assert.equal(response!.status, 415);
  const body = await response!.json();
  assert.equal(body.error.code, "unsupported_asset_type");
});
