// The Tripo task mapping (supabase/functions/_shared/providers/tripo_task.ts), no network: the
// body built from a plan's stored request, the status normalisation, the poll interval.
import assert from "node:assert/strict";
import { ProviderError } from "../../../supabase/functions/_shared/providers/errors.ts";
import {
  buildTaskBody,
  nextPollSeconds,
  normalizeStatus,
  type TripoTask,
} from "../../../supabase/functions/_shared/providers/tripo_task.ts";
import { PLANS } from "../../../supabase/functions/_shared/jobs/plans.ts";
import { png, tripoRequest } from "./_tripo_fixtures.ts";
Deno.test("buildTaskBody: the stored request's documented parameters, never task_id", () => {
  const options = {
    style: "object:clay" as const,
    texture: true,
    pbr: false,
    model_version: "v2.5-20250123",
    face_limit: 1000,
    auto_size: true,
    texture_quality: "detailed" as const,
    model_seed: 2,
    texture_seed: 3,
  };
  const text = PLANS.text_to_model.request(
    {
      task_id: "client-item-1",
      prompt: "a chair",
      negative_prompt: "ugly",
      image_seed: 1,
      ...options,
    },
    [],
    {},
  );
  assert.equal(text.op, "tripo_task");
  assert.deepEqual(buildTaskBody(tripoRequest(text), []), {
    type: "text_to_model",
    prompt: "a chair",
    negative_prompt: "ugly",
    image_seed: 1,
    ...options,
  });
  const sketch = PLANS.sketch_to_model.request(
    {
      task_id: "client-item-2",
      input_sketch_asset_url: "https://x/y",
      orientation: "align_image",
      texture_alignment: "geometry",
    },
    [png("u/sketch.png")],
    {},
  );
  const img = buildTaskBody(tripoRequest(sketch), ["tok-1"]);
  assert.deepEqual(img, {
    type: "image_to_model",
    orientation: "align_image",
    texture_alignment: "geometry",
    file: { type: "png", file_token: "tok-1" },
  });
  // Two of four views: the front first, the missing trailing slots as {}.
  const mv = PLANS.image_to_model.request(
    { task_id: "t", input_image_asset_urls: ["https://x/f", "https://x/l"] },
    [png("u/f.png"), { ...png("u/l.webp"), contentType: "image/webp" }],
    {},
  );
  assert.deepEqual(buildTaskBody(tripoRequest(mv), ["f", "l"]), {
    type: "multiview_to_model",
    files: [{ type: "png", file_token: "f" }, { type: "webp", file_token: "l" }, {}, {}],
  });
  const refine = PLANS.refine_model.request(
    { task_id: "t", input_model_asset_url: "https://x/m.glb" },
    [{ bucket: "generated-assets", path: "u/m.glb", size: 9, contentType: "model/gltf-binary" }],
    { source: { taskId: "d-1", modelId: null, modelVersion: null } },
  );
  assert.deepEqual(buildTaskBody(tripoRequest(refine), []), {
    type: "refine_model",
    draft_model_task_id: "d-1",
  });
  // A conversion: the original task and exactly the options given (the URL and task id stay
  // with the BFF).
  const convert = PLANS.convert_model.request(
    {
      task_id: "t",
      input_model_asset_url: "https://x/m.glb",
      format: "FBX",
      texture_format: "PNG",
      fbx_preset: "mixamo",
      face_limit: 5000,
    },
    [{ bucket: "generated-assets", path: "u/m.glb", size: 9, contentType: "model/gltf-binary" }],
    { source: { taskId: "orig-1", modelId: crypto.randomUUID(), modelVersion: null } },
  );
  assert.deepEqual(buildTaskBody(tripoRequest(convert), []), {
    type: "convert_model",
    original_model_task_id: "orig-1",
    format: "FBX",
    texture_format: "PNG",
    fbx_preset: "mixamo",
    face_limit: 5000,
  });
  // output_formats is the BFF's (the conversions it chains), never sent to Tripo.
  const chained = PLANS.text_to_model.request(
    { task_id: "t", prompt: "a cat", output_formats: ["USDZ", "STL"] },
    [],
    {},
  );
  assert.deepEqual(chained, {
    op: "tripo_task",
    tripo_type: "text_to_model",
    params: { prompt: "a cat" },
    inputs: [],
    output_formats: ["USDZ", "STL"],
  });
  assert.deepEqual(buildTaskBody(tripoRequest(chained), []), {
    type: "text_to_model",
    prompt: "a cat",
  });
  // A missing upload token is refused before anything is sent.
  assert.throws(() => buildTaskBody(tripoRequest(sketch), []), ProviderError);
  assert.throws(() => buildTaskBody(tripoRequest(mv), ["f"]), ProviderError);
});

Deno.test("normalizeStatus: states, unknown not final, error mapping", () => {
  const t = (x: Partial<TripoTask>): TripoTask => ({ task_id: "t", status: "queued", ...x });
  assert.deepEqual(normalizeStatus(t({ status: "queued", progress: 0 })), {
    state: "waiting",
    progress: 0,
    etaSeconds: null,
  });
  assert.deepEqual(normalizeStatus(t({ status: "running", progress: 40, running_left_time: 20 })), {
    state: "running",
    progress: 40,
    etaSeconds: 20,
  });
  const unk = normalizeStatus(t({ status: "unknown", progress: 100 }));
  assert.deepEqual(unk, { state: "running", progress: 99, etaSeconds: null });
  assert.equal(normalizeStatus(t({ status: "something_new" })).state, "running");
  const ok = normalizeStatus(t({
    status: "success",
    progress: 100,
    output: { model: "https://m", pbr_model: "https://p", base_model: "https://b" },
  }));
  assert.deepEqual(ok, { state: "success", progress: 100, modelUrl: "https://p" });
  const base = normalizeStatus(t({ status: "success", output: { base_model: "https://b" } }));
  assert.equal(base.state === "success" && base.modelUrl, "https://b");
  const noUrl = normalizeStatus(t({ status: "success", output: {} }));
  assert.equal(noUrl.state === "failed" && noUrl.error.code, "bad_response");
  const cases: [string, number | undefined, string, string][] = [
    ["failed", 1001, "task_failed", "permanent"],
    ["failed", 2008, "content_policy", "permanent"],
    ["banned", 2008, "content_policy", "permanent"],
    ["expired", undefined, "task_expired", "transient"],
    ["cancelled", undefined, "task_cancelled", "permanent"],
  ];
  for (const [status, error_code, code, kind] of cases) {
    const n = normalizeStatus(t({ status, error_code }));
    assert.equal(n.state, "failed", status);
    if (n.state !== "failed") continue;
    assert.equal(n.error.code, code, status);
    assert.equal(n.error.kind, kind, status);
    assert.equal(n.error.landed, "yes", status);
  }
});

Deno.test("nextPollSeconds: grows without an estimate, follows Tripo's, tight near the end", () => {
  const t = (x: Partial<TripoTask>): TripoTask => ({ task_id: "t", status: "running", ...x });
  // No estimate at all: the interval grows with the time since submission (the defect this
  // replaces waited 2 s at every poll, however long the task had been running).
  const noEta = normalizeStatus(t({ status: "queued" }));
  const waits = [0, 1, 3, 7, 15, 31, 63].map((since) => nextPollSeconds(noEta, since));
  assert.deepEqual(waits, [1, 1, 3, 7, 15, 30, 30]);
  // Tripo's running_left_time: half of it, capped, and 0.3 s near the predicted end.
  assert.equal(nextPollSeconds(normalizeStatus(t({ running_left_time: 20 })), 5), 10);
  assert.equal(nextPollSeconds(normalizeStatus(t({ running_left_time: 400 })), 5), 30);
  assert.equal(nextPollSeconds(normalizeStatus(t({ running_left_time: 0 })), 5), 0.3);
  // No running_left_time but progress: the rest projected from the rate so far.
  assert.equal(nextPollSeconds(normalizeStatus(t({ progress: 50 })), 8), 4);
  assert.equal(nextPollSeconds(normalizeStatus(t({ progress: 95 })), 9.5), 0.3);
  assert.equal(nextPollSeconds({ state: "success", progress: 100, modelUrl: "x" }, 5), 0);
});
