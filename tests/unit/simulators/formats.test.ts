// convert_model file generators and inspectors (localstack/simulators/formats/).
import assert from "node:assert/strict";
import { crc32 } from "../../../localstack/simulators/bytes.ts";
import {
  inspectFbx,
  inspectStl,
} from "../../../localstack/simulators/formats/binary_inspectors.ts";
import { crc32Segments } from "../../../localstack/simulators/formats/crc32.ts";
import { inspectModel } from "../../../localstack/simulators/formats/inspect.ts";
import {
  CONVERT_FORMATS,
  makeModel,
  modelLayout,
  modelStream,
} from "../../../localstack/simulators/formats/layout.ts";
import { segmentsToBytes, segmentStream } from "../../../localstack/simulators/formats/segments.ts";
import { readZip } from "../../../localstack/simulators/formats/zip_reader.ts";
import { checkXml } from "../../../localstack/simulators/formats/zipped_inspectors.ts";
import { makeGlb } from "../../../localstack/simulators/glb.ts";

const enc = new TextEncoder();

/** Bitwise CRC-32, independent of the table and the repeat fast path. */
function crcRef(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("formats: CRC-32 of repeated blocks equals the CRC of the bytes", () => {
  assert.equal(crc32(enc.encode("123456789")), 0xcbf43926); // the standard check value
  for (const [block, count] of [["v 0 0 0\n", 70_000], ["\0", 123_457], ["ab", 3]] as const) {
    const segs = [enc.encode("head"), { repeat: enc.encode(block), count }, enc.encode("tail")];
    assert.equal(crc32Segments(segs), crcRef(segmentsToBytes(segs)), `${block} × ${count}`);
  }
});

Deno.test("formats: every format is whole at the default, minimum and larger sizes", async () => {
  for (const format of CONVERT_FORMATS) {
    for (const size of [undefined, 0, 100_000]) {
      const bytes = makeModel(format, size);
      const info = await inspectModel(format, bytes);
      assert.equal(info.ok, true, `${format}@${size}: ${info.error}`);
      if (size === undefined) assert.ok(bytes.length <= 4096 && bytes.length > 200);
      if (size === 100_000) assert.ok(bytes.length > 99_000 && bytes.length <= 100_000);
      assert.equal(modelLayout(format, size).total, bytes.length);
    }
  }
});

Deno.test("formats: a truncated or damaged file is not whole; a file of another format is refused", async () => {
  for (const format of CONVERT_FORMATS) {
    const bytes = makeModel(format, 6000);
    for (const cut of [bytes.length - 1, Math.floor(bytes.length / 2), 30]) {
      const info = await inspectModel(format, bytes.subarray(0, cut));
      assert.equal(info.ok, false, `${format} cut at ${cut} passed`);
      assert.equal(typeof info.error, "string");
    }
    for (const other of CONVERT_FORMATS.filter((f) => f !== format)) {
      const info = await inspectModel(format, makeModel(other));
      assert.equal(info.ok, false, `${other} passed as ${format}`);
    }
    assert.equal((await inspectModel(format, makeGlb(4096))).ok, false);
    assert.equal((await inspectModel(format, new Uint8Array(0))).ok, false);
  }
  // One flipped byte inside a ZIP entry's data breaks its CRC.
  const usdz = makeModel("USDZ");
  usdz[200] ^= 0x01;
  assert.match((await inspectModel("USDZ", usdz)).error ?? "", /CRC/);
  // STL: the triangle count must match the length; the header must not start with "solid".
  const stl = makeModel("STL");
  new DataView(stl.buffer).setUint32(80, 5, true);
  assert.match(inspectStl(stl).error ?? "", /84 \+ 50/);
  const solid = makeModel("STL");
  solid.set(enc.encode("solid x"), 0);
  assert.match(inspectStl(solid).error ?? "", /solid/);
  // FBX: a node's end offset that does not nest.
  const fbx = makeModel("FBX");
  new DataView(fbx.buffer).setUint32(27, 40, true);
  assert.equal(inspectFbx(fbx).ok, false);
  // GLB is inspected through the same entry point.
  assert.equal((await inspectModel("GLB", makeGlb(4096))).ok, true);
});

Deno.test("formats: ZIP layout details (USDZ alignment, 3MF parts, STL length)", async () => {
  const usdz = await readZip(makeModel("USDZ", 20_000));
  assert.equal(usdz.ok, true, usdz.error);
  assert.equal(usdz.entries[0].name, "model.usda");
  assert.equal(usdz.entries[0].method, 0);
  assert.equal(usdz.entries[0].dataOffset % 64, 0);
  const threeMf = await inspectModel("3MF", makeModel("3MF"));
  assert.deepEqual(
    (threeMf.details.entries as { name: string }[]).map((e) => e.name),
    ["[Content_Types].xml", "_rels/.rels", "3D/3dmodel.model"],
  );
  assert.equal(threeMf.details.triangles, 4);
  const stl = makeModel("STL", 10_000);
  const n = new DataView(stl.buffer).getUint32(80, true);
  assert.equal(stl.length, 84 + 50 * n);
  assert.notEqual(new TextDecoder().decode(stl.subarray(0, 5)), "solid");
  const fbx = inspectFbx(makeModel("FBX"));
  assert.equal(fbx.details.version, 7400);
  assert.deepEqual(fbx.details.nodes, [
    "FBXHeaderExtension",
    "GlobalSettings",
    "Objects",
    "Connections",
  ]);
});

Deno.test("formats: readZip inflates deflated entries (real-world archives)", async () => {
  const data = enc.encode("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n".repeat(50));
  const deflated = new Uint8Array(
    await new Response(
      new Blob([data]).stream().pipeThrough(new CompressionStream("deflate-raw")),
    ).arrayBuffer(),
  );
  const name = enc.encode("a.obj");
  const le = (n: number, size: number) => {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = (n >>> (8 * i)) & 0xff;
    return b;
  };
  const crc = crcRef(data);
  const local = [le(0x04034b50, 4), le(20, 2), le(0, 2), le(8, 2), le(0, 4), le(crc, 4)];
  local.push(le(deflated.length, 4), le(data.length, 4), le(name.length, 2), le(0, 2), name);
  const localBytes = segmentsToBytes(local);
  const central = [le(0x02014b50, 4), le(20, 2), le(20, 2), le(0, 2), le(8, 2), le(0, 4)];
  central.push(le(crc, 4), le(deflated.length, 4), le(data.length, 4), le(name.length, 2));
  central.push(le(0, 2), le(0, 2), le(0, 2), le(0, 2), le(0, 4), le(0, 4), name);
  const cd = segmentsToBytes(central);
  const eocd = [le(0x06054b50, 4), le(0, 2), le(0, 2), le(1, 2), le(1, 2), le(cd.length, 4)];
  eocd.push(le(localBytes.length + deflated.length, 4), le(0, 2));
  const zip = segmentsToBytes([localBytes, deflated, cd, segmentsToBytes(eocd)]);
  const info = await readZip(zip);
  assert.equal(info.ok, true, info.error);
  assert.equal(info.entries[0].method, 8);
  assert.deepEqual(info.entries[0].data, data);
  // No .mtl: not a whole OBJ archive as Tripo ships it.
  assert.match((await inspectModel("OBJ", zip)).error ?? "", /\.mtl/);
});

Deno.test("formats: streams equal the bytes; truncateAt cuts them", async () => {
  for (const format of CONVERT_FORMATS) {
    const { stream, length } = modelStream(format, 700_000);
    const streamed = new Uint8Array(await new Response(stream).arrayBuffer());
    assert.equal(streamed.length, length);
    assert.deepEqual(streamed, makeModel(format, 700_000));
  }
  const l = modelLayout("STL", 50_000);
  const reader = segmentStream(l.segments, { truncateAt: 1000 }).getReader();
  let got = 0;
  let failed = false;
  for (let i = 0; i < 100; i++) {
    try {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.length;
    } catch {
      failed = true;
      break;
    }
  }
  assert.equal(failed, true);
  assert.equal(got, 1000);
});

Deno.test("formats: checkXml accepts well-formed XML and refuses broken markup", () => {
  assert.equal(checkXml('<?xml version="1.0"?>\n<a x="1"><b/><!-- c --><c>t</c></a>\n'), "a");
  for (const bad of ["<a><b></a>", "<a>", "<a/><b/>", "text<a/>", "<a x=1/>", "<a><</a>"]) {
    assert.throws(() => checkXml(bad), Error, bad);
  }
});
