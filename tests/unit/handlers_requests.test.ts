// The endpoint handlers through `app.request()` (tests/unit/_handlers_setup.ts): what reaches the
// database for each kind — the stored request, the probed inputs, the rows — and the options
// refused rather than dropped. No stack, no network.
import assert from "node:assert/strict";
import { jobRequest } from "../../supabase/functions/_shared/jobs/schemas.ts";
import { app, fakes, img, post, userId } from "./_handlers_setup.ts";
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

Deno.test("text-to-image: a generation from the prompt, style appended, n concept rows", async () => {
  const f = fakes();
  const a = app(f.deps, "text_to_image");
  const r = await post(a, {
    task_id: "t2i",
    prompt: "a fox",
    style: "ink",
    n: 3,
    size: "1024x1536",
  });
  assert.equal(r.status, 202);
  assert.match(r.headers.get("location") ?? "", /\?service=openai$/);
  const e = f.enqueued[0];
  assert.deepEqual([e.kind, e.provider, e.rateBucket, e.outputs], [
    "text_to_image",
    "openai",
    "image",
    3,
  ]);
  assert.deepEqual(e.request, {
    op: "openai_generate",
    prompt: "a fox Style: ink",
    params: { n: 3, size: "1024x1536" },
  });
  assert.ok(jobRequest.safeParse(e.request).success, "what is stored parses back in the worker");
  for (const bad of [{ n: 5 }, { n: 0 }, { size: "256x256" }, { prompt: "" }, { image: "x" }]) {
    const b = await post(a, { task_id: "t2i", prompt: "a fox", ...bad });
    assert.equal(b.status, 400, JSON.stringify(bad));
  }
  assert.equal(f.enqueued.length, 1, "refused bodies reach nothing");
});

Deno.test("convert-model: the caller's own GLB, the documented options, the provider's refusals", async () => {
  const f = fakes();
  const a = app(f.deps, "convert_model");
  const body = { task_id: "cv", input_model_asset_url: img("mine.glb"), format: "USDZ" };
  const r = await post(a, { ...body, texture_size: 4096, pivot_to_center_bottom: true });
  assert.equal(r.status, 202);
  const e = f.enqueued[0];
  assert.deepEqual([e.kind, e.provider, e.rateBucket], ["convert_model", "tripo", "convert"]);
  assert.deepEqual(e.request, {
    op: "tripo_task",
    tripo_type: "convert_model",
    params: { format: "USDZ", texture_size: 4096, pivot_to_center_bottom: true },
    original_model_task_id: "draft-1",
    inputs: [],
  });
  assert.equal(e.rows.format, "USDZ");
  assert.match(e.rows.source_model_id ?? "", /^[0-9a-f-]{36}$/, "linked to the source model row");
  assert.ok(jobRequest.safeParse(e.request).success);
  const refused: [Record<string, unknown>, string][] = [
    [{ format: "GLB" }, "format"],
    [{ format: "usdz" }, "format"],
    [{ format: undefined }, "format"],
    [{ prompt: "x" }, "(body)"],
    [{ face_limit: 0 }, "face_limit"],
    [{ scale_factor: 0 }, "scale_factor"],
    [{ texture_size: 8192 }, "texture_size"],
    [{ format: "FBX", texture_format: "WEBP" }, "texture_format"],
    [{ format: "STL", export_vertex_colors: true }, "export_vertex_colors"],
    [{ format: "OBJ", fbx_preset: "mixamo" }, "fbx_preset"],
    [{ export_orientation: "+z" }, "export_orientation"],
    [{ draft_model_task_id: "draft-1" }, "(body)"],
  ];
  for (const [extra, path] of refused) {
    const b = await post(a, { ...body, ...extra });
    assert.equal(b.status, 400, JSON.stringify(extra));
    assert.ok(
      b.body.error.details.some((d: { path: string }) => d.path === path),
      `${JSON.stringify(extra)}: ${JSON.stringify(b.body.error.details)}`,
    );
  }
  // A model made with an old model_version takes textures up to 2048 only (Tripo's rule).
  const old = await post(a, { ...body, input_model_asset_url: img("old.glb"), texture_size: 4096 });
  assert.equal(old.status, 400);
  assert.deepEqual(old.body.error.details.map((d: { path: string }) => d.path), ["texture_size"]);
  // Not one of the caller's finished models.
  const none = await post(a, { ...body, input_model_asset_url: img("someone.glb") });
  assert.equal(none.status, 400);
  assert.equal(none.body.error.details.field, "input_model_asset_url");
  assert.equal(f.enqueued.length, 1, "no refused body reached the database");
});

Deno.test("output_formats: distinct formats, at most six, kept out of the provider's params", async () => {
  const f = fakes();
  const a = app(f.deps, "image_to_model");
  const base = { task_id: "of", input_image_asset_urls: [img("a.png")] };
  for (
    const bad of [[], ["USDZ", "USDZ"], ["GLB"], [
      "GLTF",
      "USDZ",
      "FBX",
      "OBJ",
      "STL",
      "3MF",
      "STL",
    ]]
  ) {
    const r = await post(a, { ...base, output_formats: bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
  assert.equal(f.enqueued.length, 0);
  const all = ["GLTF", "USDZ", "FBX", "OBJ", "STL", "3MF"];
  const ok = await post(a, { ...base, output_formats: all, texture: true });
  assert.equal(ok.status, 202);
  const req = f.enqueued[0].request as {
    params: Record<string, unknown>;
    output_formats: string[];
  };
  assert.deepEqual(req.output_formats, all);
  assert.deepEqual(req.params, { texture: true });
  // The image endpoint with one view, image_to_image has no such field.
  const i2i = await post(app(f.deps, "image_to_image"), {
    task_id: "x",
    prompt: "p",
    input_image_asset_url: img("a.png"),
    output_formats: ["STL"],
  });
  assert.equal(i2i.status, 400);
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
