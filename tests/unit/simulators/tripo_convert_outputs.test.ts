// Tripo convert_model in the simulator (provider_apis.md §1.4 convert_model, §1.5, §1.6): the
// files it serves — every format through queued → running → success, checked against the format
// definitions; expiring and truncated URLs, big files, the convertSize config.
import assert from "node:assert/strict";
import { inspectModel } from "../../../localstack/simulators/formats/inspect.ts";
import {
  CONVERT_FORMATS,
  type ConvertFormat,
} from "../../../localstack/simulators/formats/layout.ts";
import { readZip } from "../../../localstack/simulators/formats/zip_reader.ts";
import {
  control,
  create,
  download,
  finish,
  getTask,
  model,
  poll,
  withSim,
} from "./_tripo_convert_sim.ts";

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
