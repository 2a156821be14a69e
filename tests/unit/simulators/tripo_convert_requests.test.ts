// Tripo convert_model in the simulator (provider_apis.md §1.4 convert_model): what POST /task
// accepts — the documented options echoed, the refusals (1004, 2001, 2006, 2007), and the
// concurrency cap.
import assert from "node:assert/strict";
import {
  assertError,
  call,
  control,
  create,
  finish,
  getTask,
  KEY,
  model,
  OTHER,
  withSim,
} from "./_tripo_convert_sim.ts";

Deno.test("tripo convert: documented options are accepted and echoed", async () => {
  await withSim(async (s) => {
    const original = await model(s);
    const body = {
      type: "convert_model",
      original_model_task_id: original,
      format: "FBX",
      quad: true,
      force_symmetry: true,
      face_limit: 5000,
      flatten_bottom: true,
      flatten_bottom_threshold: 0.02,
      texture_size: 1024,
      texture_format: "PNG",
      pivot_to_center_bottom: true,
      scale_factor: 2.5,
      with_animation: false,
      pack_uv: true,
      bake: false,
      part_names: ["head", "body"],
      animate_in_place: true,
      export_orientation: "-y",
      fbx_preset: "mixamo",
    };
    const id = await create(s, body);
    assert.deepEqual((await getTask(s, id)).input, body);
    for (const format of ["OBJ", "GLTF"]) {
      await create(s, {
        type: "convert_model",
        original_model_task_id: original,
        format,
        export_vertex_colors: true,
        texture_format: "WEBP",
        texture_size: 4096,
      });
    }
    // Converting a converted model: the format alone.
    await finish(s, id);
    await create(s, { type: "convert_model", original_model_task_id: id, format: "STL" });
  });
});

Deno.test("tripo convert: refusals (1004, 2001, 2006, 2007)", async () => {
  await withSim(async (s) => {
    const original = await model(s);
    const conv = (extra: Record<string, unknown>, key = KEY) =>
      call(s, "POST", "/task", {
        type: "convert_model",
        original_model_task_id: original,
        format: "GLTF",
        ...extra,
      }, key);
    // 1004: bad formats and option values, unknown and missing fields.
    for (
      const extra of [
        { format: "GLB" },
        { format: "gltf" },
        { format: undefined },
        { format: 3 },
        { original_model_task_id: undefined },
        { original_model_task_id: 42 },
        { prompt: "a chair" },
        { model_version: "v2.5-20250123" },
        { quad: "yes" },
        { face_limit: 0 },
        { face_limit: 1.5 },
        { flatten_bottom_threshold: -1 },
        { scale_factor: 0 },
        { texture_size: 8192 },
        { texture_format: "GIF" },
        { format: "FBX", texture_format: "TARGA" },
        { format: "FBX", texture_format: "WEBP" },
        { format: "STL", export_vertex_colors: true },
        { format: "USDZ", export_vertex_colors: true },
        { export_vertex_colors: "true" },
        { export_orientation: "+z" },
        { fbx_preset: "maya" },
        { part_names: "head" },
        { part_names: [] },
        { bake: 1 },
      ]
    ) {
      const body: Record<string, unknown> = {
        type: "convert_model",
        original_model_task_id: original,
        format: "GLTF",
      };
      for (const [k, v] of Object.entries(extra)) {
        if (v === undefined) delete body[k];
        else body[k] = v;
      }
      const r = await call(s, "POST", "/task", body);
      assertError(r, 400, 1004);
    }
    // 2001: unknown original, another key's original.
    assertError(await conv({ original_model_task_id: crypto.randomUUID() }), 404, 2001);
    assertError(await conv({}, OTHER), 404, 2001);
    // 2006: an original that is not a model task.
    const image = await create(s, { type: "text_to_image", prompt: "a chair" });
    await finish(s, image);
    assert.ok((await getTask(s, image)).output.generated_image);
    assertError(await conv({ original_model_task_id: image }), 400, 2006);
    // 2007: original queued/running, failed, banned.
    const pending = await create(s, { type: "text_to_model", prompt: "pending" });
    assertError(await conv({ original_model_task_id: pending }), 400, 2007);
    const failed = await create(s, { type: "text_to_model", prompt: "fails" });
    await finish(s, failed, "failed");
    assertError(await conv({ original_model_task_id: failed }), 400, 2007);
    const banned = await create(s, { type: "text_to_model", prompt: "banned" });
    await finish(s, banned, "banned");
    assertError(await conv({ original_model_task_id: banned }), 400, 2007);
    // A converted model can be converted again, but with the format only.
    const first = await create(s, {
      type: "convert_model",
      original_model_task_id: original,
      format: "OBJ",
    });
    await finish(s, first);
    assertError(await conv({ original_model_task_id: first, face_limit: 5000 }), 400, 1004);
    // texture_size above 2048 for an original before v2.0-20240919.
    const old = await create(s, {
      type: "text_to_model",
      prompt: "old",
      model_version: "v1.4-20240625",
    });
    await finish(s, old);
    assertError(await conv({ original_model_task_id: old, texture_size: 4096 }), 400, 1004);
    assert.equal((await conv({ original_model_task_id: old, texture_size: 2048 })).status, 200);
    // None of the refusals made a task.
    const tasks = (await control(s, "tasks")).json.tasks as { type: string }[];
    assert.equal(tasks.filter((t) => t.type === "convert_model").length, 2);
  });
});

Deno.test("tripo convert: counted against the concurrency cap like other tasks", async () => {
  await withSim(async (s) => {
    const original = await model(s);
    await control(s, "config", { cap: 2, stuck: true });
    const body = { type: "convert_model", original_model_task_id: original, format: "OBJ" };
    const a = await create(s, body);
    await create(s, { type: "text_to_model", prompt: "second" });
    const r = await call(s, "POST", "/task", body);
    assertError(r, 429, 2000);
    assert.ok(r.headers.get("retry-after"));
    await finish(s, a);
    await create(s, body);
  });
});
