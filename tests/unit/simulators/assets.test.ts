// PNG and GLB generators: the bytes must be valid for real decoders.
import assert from "node:assert/strict";
import { glbLayout, glbStream, inspectGlb, makeGlb } from "../../../localstack/simulators/glb.ts";
import {
  makeJpeg,
  makePng,
  makePngCompressed,
  makeWebp,
  sniffImage,
} from "../../../localstack/simulators/images.ts";

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test("makePng: signature, chunk CRCs and a zlib IDAT that inflates to the pixels", async () => {
  const png = makePng(20, 10, 3);
  assert.equal(sniffImage(png), "png");
  const dv = new DataView(png.buffer);
  let off = 8;
  const chunks: { type: string; data: Uint8Array }[] = [];
  while (off < png.length) {
    const len = dv.getUint32(off);
    const type = new TextDecoder().decode(png.subarray(off + 4, off + 8));
    const data = png.subarray(off + 8, off + 8 + len);
    // CRC over type + data, computed independently (bitwise).
    let c = 0xffffffff;
    for (const b of png.subarray(off + 4, off + 8 + len)) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    assert.equal((c ^ 0xffffffff) >>> 0, dv.getUint32(off + 8 + len), `CRC of ${type}`);
    chunks.push({ type, data });
    off += 12 + len;
  }
  assert.deepEqual(chunks.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
  const ihdr = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset);
  assert.deepEqual([ihdr.getUint32(0), ihdr.getUint32(4), ihdr.getUint8(8), ihdr.getUint8(9)], [
    20,
    10,
    8,
    6,
  ]);
  const raw = await inflate(chunks[1].data);
  assert.equal(raw.length, 10 * (1 + 20 * 4));
  assert.notDeepEqual(makePng(4, 4, 1), makePng(4, 4, 2));
  // A large image needs several stored deflate blocks.
  const big = makePng(300, 300);
  assert.equal(sniffImage(big), "png");
});

Deno.test("sniffImage: magic bytes only", () => {
  assert.equal(sniffImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), "jpeg");
  assert.equal(sniffImage(new TextEncoder().encode("RIFF\0\0\0\0WEBPVP8 ")), "webp");
  assert.equal(sniffImage(new TextEncoder().encode("GIF89a")), null);
  assert.equal(sniffImage(new Uint8Array(0)), null);
});

Deno.test("GLB: exact sizes, valid chunks, inspectGlb rejects corruption", async () => {
  for (const size of [100, 1000, 4096, 65_537, 1_000_003]) {
    const l = glbLayout(size);
    // Below the minimum (header + JSON + one triangle, ~430 B) the minimum is produced.
    if (size >= 600) assert.ok(l.total <= size && l.total > size - 4, `size ${size}`);
    else assert.ok(l.total < 600, `size ${size}`);
    assert.equal(l.total % 4, 0);
    const bytes = makeGlb(size);
    const info = inspectGlb(bytes);
    assert.equal(info.ok, true, info.error);
    assert.equal(info.length, bytes.length);
    const acc = (info.json.accessors as { count: number }[])[0];
    assert.equal(acc.count, 3);
    const { stream, length } = glbStream(size);
    const streamed = new Uint8Array(await new Response(stream).arrayBuffer());
    assert.equal(length, bytes.length);
    assert.deepEqual(streamed, bytes);
  }
  const good = makeGlb(2048);
  const corrupt = good.slice();
  corrupt[0] = 0;
  assert.equal(inspectGlb(corrupt).ok, false);
  assert.equal(inspectGlb(good.subarray(0, 1024)).ok, false);
  const wrongLen = good.slice();
  new DataView(wrongLen.buffer).setUint32(8, 9999, true);
  assert.equal(inspectGlb(wrongLen).ok, false);
});

Deno.test("glbStream: truncateAt errors the stream after that many bytes", async () => {
  const { stream } = glbStream(1_000_000, { truncateAt: 300_000 });
  const reader = stream.getReader();
  let got = 0;
  let failed = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.length;
    }
  } catch {
    failed = true;
  }
  assert.equal(failed, true);
  assert.equal(got, 300_000);
});

Deno.test("makePngCompressed / makeJpeg / makeWebp: real images of odd sizes", async () => {
  const png = makePngCompressed(37, 11, 2);
  const p = await png;
  assert.equal(sniffImage(p), "png");
  const dv = new DataView(p.buffer);
  assert.deepEqual([dv.getUint32(16), dv.getUint32(20)], [37, 11]);
  const idatLen = dv.getUint32(33);
  assert.equal(new TextDecoder().decode(p.subarray(37, 41)), "IDAT");
  const raw = await inflate(p.subarray(41, 41 + idatLen));
  assert.equal(raw.length, 11 * (1 + 37 * 4));

  const j = makeJpeg(37, 11, 2);
  assert.equal(sniffImage(j), "jpeg");
  assert.deepEqual([...j.subarray(j.length - 2)], [0xff, 0xd9]);
  const sof = j.findIndex((b, i) => b === 0xff && j[i + 1] === 0xc0);
  assert.ok(sof > 0);
  assert.deepEqual([(j[sof + 5] << 8) | j[sof + 6], (j[sof + 7] << 8) | j[sof + 8]], [11, 37]);

  const w = makeWebp(37, 11, 2);
  assert.equal(sniffImage(w), "webp");
  const bits = new DataView(w.buffer).getUint32(21, true);
  assert.deepEqual([(bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1], [37, 11]);
});
