// Tripo convert_model in the simulator (provider_apis.md §1.4 convert_model, §1.5, §1.6).
import assert from "node:assert/strict";
import { inspectModel } from "../../../localstack/simulators/formats/inspect.ts";
import {
  CONVERT_FORMATS,
  type ConvertFormat,
} from "../../../localstack/simulators/formats/layout.ts";
import { readZip } from "../../../localstack/simulators/formats/zip_reader.ts";
import { serveTripoSimulator } from "../../../localstack/simulators/tripo.ts";

const KEY = "tsk_convert_key_one";
const OTHER = "tsk_convert_key_two";

type Served = ReturnType<typeof serveTripoSimulator>;
type Res = { status: number; headers: Headers; json: Record<string, unknown> };
type Task = Record<string, unknown> & { status: string; output: Record<string, string> };

async function withSim(fn: (s: Served) => Promise<void>, config = {}) {
  const s = serveTripoSimulator({ port: 0, config });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

async function call(s: Served, method: string, path: string, body?: unknown, key = KEY) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${s.baseUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() } as Res;
}

async function control(s: Served, path: string, body?: unknown) {
  const res = await fetch(`${s.url}/__sim/${path}`, {
    method: body === undefined ? "GET" : "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

function assertError(r: Res, status: number, code: number) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json.code, code, JSON.stringify(r.json));
  assert.equal(typeof r.json.message, "string");
  assert.equal(typeof r.json.suggestion, "string");
  assert.match(r.headers.get("x-tripo-trace-id") ?? "", /^[0-9a-f-]{36}$/);
}

async function create(s: Served, body: Record<string, unknown>, key = KEY): Promise<string> {
  const r = await call(s, "POST", "/task", body, key);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.code, 0);
  const id = (r.json.data as { task_id: string }).task_id;
  assert.match(id, /^[0-9a-f-]{36}$/);
  return id;
}

async function finish(s: Served, id: string, outcome = "success") {
  const r = await control(s, `tasks/${id}`, { outcome, finish: true });
  assert.equal(r.status, 200);
}

/** A finished text_to_model task to convert. */
async function model(s: Served, prompt = "a chair", key = KEY): Promise<string> {
  const id = await create(s, { type: "text_to_model", prompt }, key);
  await finish(s, id);
  return id;
}

async function getTask(s: Served, id: string, key = KEY): Promise<Task> {
  const r = await call(s, "GET", `/task/${id}`, undefined, key);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.data as Task;
}

const FINAL = new Set(["success", "failed", "banned", "expired", "cancelled"]);

/** Polls until a final status (at most `max` polls); returns every view seen. */
async function poll(s: Served, id: string, max = 400): Promise<Task[]> {
  const seen: Task[] = [];
  for (let i = 0; i < max; i++) {
    const t = await getTask(s, id);
    seen.push(t);
    if (FINAL.has(t.status)) return seen;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${id} not final after ${max} polls: ${seen.at(-1)?.status}`);
}

async function download(url: string): Promise<{ res: Response; bytes: Uint8Array }> {
  const res = await fetch(url);
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o, true);
const ascii = (b: Uint8Array, a: number, z: number) => new TextDecoder().decode(b.subarray(a, z));

/** Format checks written independently of the inspectors, from the format definitions. */
async function assertSignature(format: ConvertFormat, b: Uint8Array) {
  if (format === "STL") {
    assert.notEqual(ascii(b, 0, 5).toLowerCase(), "solid");
    assert.equal(b.length, 84 + 50 * u32(b, 80));
    return;
  }
  if (format === "FBX") {
    assert.equal(ascii(b, 0, 23), "Kaydara FBX Binary  \x00\x1a\x00");
    assert.equal(u32(b, 23), 7400);
    return;
  }
  assert.deepEqual([...b.subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04]);
  assert.deepEqual([...b.subarray(b.length - 22, b.length - 18)], [0x50, 0x4b, 0x05, 0x06]);
  const zip = await readZip(b);
  assert.equal(zip.ok, true, zip.error);
  const names = zip.entries.map((e) => e.name);
  if (format === "USDZ") {
    assert.match(names[0], /\.usd[ac]$/);
    for (const e of zip.entries) assert.equal(e.dataOffset % 64, 0, `${e.name} alignment`);
    assert.equal(ascii(zip.entries[0].data, 0, 9), "#usda 1.0");
  } else if (format === "3MF") {
    for (const n of ["[Content_Types].xml", "_rels/.rels", "3D/3dmodel.model"]) {
      assert.ok(names.includes(n), `${n} in ${names}`);
    }
  } else if (format === "OBJ") {
    const obj = zip.entries.find((e) => e.name.endsWith(".obj"))!;
    assert.ok(names.some((n) => n.endsWith(".mtl")));
    const text = new TextDecoder().decode(obj.data);
    assert.match(text, /^v [-\d.]+ [-\d.]+ [-\d.]+$/m);
    assert.match(text, /^f \d/m);
  } else if (format === "GLTF") {
    const g = zip.entries.find((e) => e.name.endsWith(".gltf"))!;
    assert.ok(names.some((n) => n.endsWith(".bin")));
    assert.equal(JSON.parse(new TextDecoder().decode(g.data)).asset.version, "2.0");
  }
}

Deno.test("tripo convert: every format goes queued → running → success and serves a whole file", async () => {
  await withSim(async (s) => {
    const original = await model(s);
    const ids = new Map<ConvertFormat, string>();
    for (const format of CONVERT_FORMATS) {
      ids.set(
        format,
        await create(s, { type: "convert_model", original_model_task_id: original, format }),
      );
    }
    const runs = await Promise.all(CONVERT_FORMATS.map((f) => poll(s, ids.get(f)!)));
    const everySeen = new Set<string>();
    for (const [i, format] of CONVERT_FORMATS.entries()) {
      const seen = runs[i];
      const statuses = seen.map((t) => t.status).filter((st, k, a) => a[k - 1] !== st);
      statuses.forEach((st) => everySeen.add(st));
      assert.equal(statuses.at(-1), "success", `${format}: ${statuses}`);
      assert.deepEqual(
        statuses,
        ["queued", "running", "success"].filter((x) => statuses.includes(x)),
        `${format}: statuses out of order ${statuses}`,
      );
      for (const t of seen.filter((t) => t.status === "queued")) {
        assert.equal(t.progress, 0);
        assert.deepEqual(t.output, {});
      }
      for (const t of seen.filter((t) => t.status === "running")) {
        assert.ok((t.progress as number) >= 1 && (t.progress as number) <= 99);
        assert.equal(typeof t.running_left_time, "number");
      }
      const done = seen.at(-1)!;
      assert.equal(done.task_id, ids.get(format));
      assert.equal(done.type, "convert_model");
      assert.deepEqual(done.input, {
        type: "convert_model",
        original_model_task_id: original,
        format,
      });
      assert.equal(done.progress, 100);
      assert.equal(typeof done.create_time, "number");
      assert.equal(done.error_code, undefined);
      assert.deepEqual(Object.keys(done.output), ["model"]);
      assert.ok(done.output.model.startsWith(`${s.url}/files/`), done.output.model);

      const { res, bytes } = await download(done.output.model);
      assert.equal(res.status, 200);
      assert.equal(Number(res.headers.get("content-length")), bytes.length);
      assert.ok(bytes.length > 200 && bytes.length < 8192, `${format}: ${bytes.length} bytes`);
      await assertSignature(format, bytes);
      const info = await inspectModel(format, bytes);
      assert.equal(info.ok, true, `${format}: ${info.error}`);
      assert.equal(info.format, format);
    }
    assert.ok(everySeen.has("queued") && everySeen.has("running"), [...everySeen].join());
    const ct = async (f: ConvertFormat) => {
      const t = await getTask(s, ids.get(f)!);
      const res = await fetch(t.output.model, { method: "HEAD" });
      return res.headers.get("content-type");
    };
    assert.equal(await ct("USDZ"), "model/vnd.usdz+zip");
    assert.equal(await ct("STL"), "model/stl");
    assert.equal(await ct("3MF"), "model/3mf");
  }, { queueMs: 200, runMs: 500 });
});

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

Deno.test("tripo convert: markers carried by the original's prompt (convert- prefix)", async () => {
  await withSim(async (s) => {
    const convert = (original: string) =>
      create(s, { type: "convert_model", original_model_task_id: original, format: "STL" });
    // The original itself ignores convert- markers and succeeds on its own.
    const o1 = await create(s, { type: "text_to_model", prompt: "x [sim:convert-fail]" });
    assert.equal((await poll(s, o1)).at(-1)!.status, "success");
    const failed = (await poll(s, await convert(o1))).at(-1)!;
    assert.equal(failed.status, "failed");
    assert.equal(failed.error_code, 1001);
    assert.deepEqual(failed.output, {});
    assert.equal(failed.running_left_time, -1);

    const o2 = await model(s, "x [sim:convert-expired]");
    const expired = (await poll(s, await convert(o2))).at(-1)!;
    assert.deepEqual([expired.status, expired.error_code], ["expired", 2018]);

    const o3 = await model(s, "x [sim:convert-banned-late]");
    const banned = (await poll(s, await convert(o3))).at(-1)!;
    assert.deepEqual([banned.status, banned.error_code], ["banned", 2008]);

    const o4 = await model(s, "x [sim:convert-banned]");
    assertError(
      await call(s, "POST", "/task", {
        type: "convert_model",
        original_model_task_id: o4,
        format: "STL",
      }),
      400,
      2008,
    );
    const o5 = await model(s, "x [sim:convert-credits]");
    assertError(
      await call(s, "POST", "/task", {
        type: "convert_model",
        original_model_task_id: o5,
        format: "OBJ",
      }),
      403,
      2010,
    );

    // Slow and stuck: still running right after creation although runMs is tiny.
    const o6 = await model(s, "x [sim:convert-slow=600000]");
    const slow = await convert(o6);
    const o7 = await model(s, "x __sim-convert_stuck__");
    const stuck = await convert(o7);
    assert.equal((await getTask(s, slow)).status, "running");
    assert.equal((await getTask(s, stuck)).status, "running");
    const listed = (await control(s, "tasks")).json.tasks as {
      task_id: string;
      outcome: string;
      format: string;
      original: string;
    }[];
    const st = listed.find((t) => t.task_id === stuck)!;
    assert.deepEqual([st.outcome, st.format, st.original], ["stuck", "STL", o7]);

    // Markers survive a refine in between (the refine keeps its draft's texts).
    const draft = await model(s, "x [sim:convert-fail]");
    const refine = await create(s, { type: "refine_model", draft_model_task_id: draft });
    assert.equal((await poll(s, refine)).at(-1)!.status, "success");
    assert.equal((await poll(s, await convert(refine))).at(-1)!.status, "failed");
  }, { queueMs: 0, runMs: 30 });
});

Deno.test("tripo convert: faults matched by taskType (status, outcome) leave other tasks alone", async () => {
  await withSim(async (s) => {
    const original = await model(s);
    const body = { type: "convert_model", original_model_task_id: original, format: "USDZ" };
    const cfg = await control(s, "config", {
      faults: [
        { match: "POST /v2/openapi/task", taskType: "convert_model", status: 503, retryAfter: 4 },
        {
          match: "POST /v2/openapi/task",
          taskType: "convert_model",
          kind: "outcome",
          outcome: "banned",
          runMs: 0,
          times: 1,
        },
        {
          match: "POST /v2/openapi/task",
          taskType: "convert_model",
          kind: "outcome",
          outcome: "cancelled",
          times: 1,
        },
      ],
    });
    assert.equal(cfg.status, 200);
    // A text task is not matched by the convert faults.
    const text = await create(s, { type: "text_to_model", prompt: "unaffected" });
    const r = await call(s, "POST", "/task", body);
    assertError(r, 503, 1000);
    assert.equal(r.headers.get("retry-after"), "4");
    const banned = (await poll(s, await create(s, body))).at(-1)!;
    assert.deepEqual([banned.status, banned.error_code], ["banned", 2008]);
    const cancelled = (await poll(s, await create(s, body))).at(-1)!;
    assert.equal(cancelled.status, "cancelled");
    assert.equal(typeof cancelled.error_code, "number");
    // Faults used up: the next convert succeeds, and the text task was never touched.
    assert.equal((await poll(s, await create(s, body))).at(-1)!.status, "success");
    assert.equal((await poll(s, text)).at(-1)!.status, "success");
    const log = (await control(s, "requests?method=POST&path=/v2/openapi/task")).json.requests as {
      fault?: string;
      status: number;
      body: { type: string };
    }[];
    assert.deepEqual(
      log.map((e) => [e.body?.type ?? null, e.status, e.fault ?? null]),
      [
        ["text_to_model", 200, null],
        ["text_to_model", 200, null],
        ["convert_model", 503, "status"],
        ["convert_model", 200, "outcome"],
        ["convert_model", 200, "outcome"],
        ["convert_model", 200, null],
      ],
    );
    // nextOutcomes apply to converts too; bad outcome names are refused.
    await control(s, "config", { nextOutcomes: ["expired"] });
    assert.equal((await poll(s, await create(s, body))).at(-1)!.status, "expired");
    assert.equal((await control(s, "config", { nextOutcomes: ["exploded"] })).status, 400);
    assert.equal(
      (await control(s, "config", {
        faults: [{ match: "POST /v2/openapi/task", kind: "outcome", outcome: "exploded" }],
      })).status,
      400,
    );
  }, { queueMs: 0, runMs: 30 });
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

Deno.test("tripo convert: output URL expires (403), truncate fault cuts it, big files stream", async () => {
  await withSim(async (s) => {
    const original = await model(s, "big [sim:convert-size=3000000]");
    const id = await create(s, {
      type: "convert_model",
      original_model_task_id: original,
      format: "GLTF",
    });
    await finish(s, id);
    const t = await getTask(s, id);
    // Big: ~3 MB, still whole.
    const { res, bytes } = await download(t.output.model);
    assert.equal(Number(res.headers.get("content-length")), bytes.length);
    assert.ok(bytes.length > 2_900_000 && bytes.length <= 3_000_000, String(bytes.length));
    const info = await inspectModel("GLTF", bytes);
    assert.equal(info.ok, true, info.error);
    // A damaged copy is not whole.
    const damaged = bytes.slice();
    damaged[damaged.length - 100] ^= 0xff;
    assert.equal((await inspectModel("GLTF", damaged)).ok, false);
    assert.equal((await inspectModel("GLTF", bytes.subarray(0, bytes.length - 1))).ok, false);

    // Truncated download.
    await control(s, "config", {
      faults: [{ match: "GET /files/**", kind: "truncate", truncateAt: 1000 }],
    });
    let cut = false;
    try {
      await (await fetch(t.output.model)).arrayBuffer();
    } catch {
      cut = true;
    }
    assert.ok(cut, "truncate fault must cut the convert download");

    // Expiry: URLs minted under a tiny TTL are 403 once it is over; a fresh GET mints new ones.
    await control(s, "config", { outputTtlSec: 0.05 });
    const short = (await getTask(s, id)).output.model;
    await new Promise((r) => setTimeout(r, 120));
    const expired = await fetch(short);
    assert.equal(expired.status, 403);
    assert.match(await expired.text(), /AccessDenied/);
    await control(s, "config", { outputTtlSec: 300 });
    const fresh = await download((await getTask(s, id)).output.model);
    assert.equal(fresh.res.status, 200);
    assert.equal(fresh.bytes.length, bytes.length);
  });
});

Deno.test("tripo convert: convertSize config sets the output size of every format", async () => {
  await withSim(async (s) => {
    await control(s, "config", { convertSize: 40_000 });
    const original = await model(s);
    for (const format of CONVERT_FORMATS) {
      const id = await create(s, {
        type: "convert_model",
        original_model_task_id: original,
        format,
      });
      await finish(s, id);
      const { bytes } = await download((await getTask(s, id)).output.model);
      assert.ok(bytes.length > 39_000 && bytes.length <= 40_000, `${format}: ${bytes.length}`);
      const info = await inspectModel(format, bytes);
      assert.equal(info.ok, true, `${format}: ${info.error}`);
    }
  });
});
