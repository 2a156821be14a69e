// The output checks the worker streams provider files through (jobs/assets.ts): every format a
// conversion can produce passes whole, in any chunking; a file of another format, a damaged
// layout or a cut download is refused before it becomes a stored object.
import assert from "node:assert/strict";
import {
  AssetError,
  OUTPUT_TYPES,
  verifyingStream,
} from "../../supabase/functions/_shared/jobs/assets.ts";
import { CONVERT_FORMATS } from "../../supabase/functions/_shared/jobs/schemas.ts";
import { makeModel } from "../../localstack/simulators/formats/layout.ts";

/** Streams `bytes` in chunks of `chunk` through the check; the error it ends with, if any. */
async function check(
  type: keyof typeof OUTPUT_TYPES,
  bytes: Uint8Array,
  { chunk = 1000, length = bytes.length as number | null } = {},
): Promise<AssetError | null> {
  let refused: AssetError | null = null;
  const src = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += chunk) c.enqueue(bytes.slice(i, i + chunk));
      c.close();
    },
  });
  const out = src.pipeThrough(
    verifyingStream(OUTPUT_TYPES[type], length, 1 << 30, (e) => refused = e),
  );
  try {
    let total = 0;
    for await (const c of out) total += c.length;
    assert.equal(total, bytes.length, "every byte passes through");
    return null;
  } catch (e) {
    assert.ok(e instanceof AssetError);
    assert.equal(refused, e, "the verdict is reported as it is raised");
    return e;
  }
}

Deno.test("every conversion format passes whole, whatever the chunking", async () => {
  assert.deepEqual(
    Object.keys(OUTPUT_TYPES).filter((k) => k === k.toUpperCase()).sort(),
    [
      ...CONVERT_FORMATS,
    ].sort(),
    "a check for each format",
  );
  for (const format of CONVERT_FORMATS) {
    for (const size of [2_000, 300_000]) {
      const bytes = makeModel(format, size);
      for (const chunk of [1, 7, 64 * 1024]) {
        if (chunk === 1 && size > 2_000) continue; // byte by byte only on the small file
        assert.equal(await check(format, bytes, { chunk }), null, `${format} ${size} / ${chunk}`);
      }
    }
  }
});

Deno.test("a file of another format is refused as invalid, not retried", async () => {
  for (const format of CONVERT_FORMATS) {
    for (const other of CONVERT_FORMATS) {
      if (other === format) continue;
      // The zip-packaged formats are told apart by their content only where the container says
      // it (USDZ: its first entry is the USD layer); glTF, OBJ and 3MF zips all pass as zips.
      const zips = ["GLTF", "OBJ", "3MF"];
      if (zips.includes(format) && (zips.includes(other) || other === "USDZ")) continue;
      const e = await check(format, makeModel(other, 4_000));
      assert.ok(e, `${other} bytes stored as ${format} must be refused`);
      assert.equal(e.transient, false, `${other} as ${format}: ${e.message}`);
    }
  }
  // A GLB where a conversion was expected, and the reverse.
  const glb = await check("STL", makeModel("USDZ", 4_000).slice(0, 4_000));
  assert.ok(glb);
  assert.ok(await check("glb", makeModel("FBX", 4_000)));
});

Deno.test("damaged layouts: a binary STL of the wrong length, a zip without its directory", async () => {
  const stl = makeModel("STL", 4_000);
  const longer = new Uint8Array(stl.length + 50);
  longer.set(stl);
  // Content-Length agrees with the bytes: the layout itself is wrong.
  assert.equal((await check("STL", longer))?.transient, false);
  assert.equal((await check("STL", stl.slice(0, stl.length - 10)))?.transient, false);
  const usdz = makeModel("USDZ", 4_000);
  assert.equal((await check("USDZ", usdz.slice(0, usdz.length - 30)))?.transient, false);
  // A text STL is accepted as such.
  const text = new TextEncoder().encode(
    "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n" +
      "endloop\nendfacet\nendsolid t\n".padStart(120, " "),
  );
  assert.equal(await check("STL", text), null);
});

Deno.test("a cut download is transient (fetched again), an empty one too", async () => {
  for (const format of CONVERT_FORMATS) {
    const bytes = makeModel(format, 4_000);
    const cut = await check(format, bytes.slice(0, 2_000), { length: bytes.length });
    assert.ok(cut && cut.transient, `${format}: ${cut?.message}`);
  }
  const empty = await check("FBX", new Uint8Array(0), { length: null });
  assert.ok(empty?.transient);
});
