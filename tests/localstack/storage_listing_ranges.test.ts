// The Storage stand-in (tests/localstack/_storage_setup.ts): listing (folders, prefix, search,
// sort, paging), remove, and range requests.
import assert from "node:assert/strict";
import { stack } from "../_helpers/stack.ts";
import { assertStorageError, INPUT, PNG, user } from "./_storage_setup.ts";

Deno.test("list shows folders (id null) and files, with prefix, search, sort and paging", async () => {
  const a = await user();
  const bucket = a.client.storage.from(INPUT);
  for (const p of ["b.png", "a.png", "sub/one.png", "sub/two.png", "sub/deeper/three.png"]) {
    assert.equal(
      (await bucket.upload(`${a.id}/${p}`, PNG, { contentType: "image/png" })).error,
      null,
    );
  }
  const top = await bucket.list(a.id);
  assert.equal(top.error, null);
  assert.deepEqual(top.data!.map((e) => e.name), ["a.png", "b.png", "sub"]);
  const folder = top.data!.find((e) => e.name === "sub")!;
  assert.equal(folder.id, null);
  assert.equal(folder.metadata, null);
  const file = top.data!.find((e) => e.name === "a.png")!;
  assert.match(file.id!, /^[0-9a-f-]{36}$/);
  assert.equal(file.metadata?.size, PNG.length);
  assert.equal(file.metadata?.mimetype, "image/png");

  assert.deepEqual((await bucket.list(`${a.id}/sub`)).data!.map((e) => e.name), [
    "deeper",
    "one.png",
    "two.png",
  ]);
  assert.deepEqual((await bucket.list(a.id, { search: "b" })).data!.map((e) => e.name), ["b.png"]);
  assert.deepEqual(
    (await bucket.list(a.id, { sortBy: { column: "name", order: "desc" } })).data!.map((e) =>
      e.name
    ),
    ["sub", "b.png", "a.png"],
  );
  assert.deepEqual((await bucket.list(a.id, { limit: 1, offset: 1 })).data!.map((e) => e.name), [
    "b.png",
  ]);
});

Deno.test("remove deletes and returns the objects; they are gone afterwards", async () => {
  const a = await user();
  const bucket = a.client.storage.from(INPUT);
  const paths = [`${a.id}/r1.png`, `${a.id}/r2.png`];
  for (const p of paths) {
    assert.equal((await bucket.upload(p, PNG, { contentType: "image/png" })).error, null);
  }
  const { data, error } = await bucket.remove([...paths, `${a.id}/never-existed.png`]);
  assert.equal(error, null);
  assert.deepEqual(data!.map((o) => o.name).sort(), paths);
  for (const p of paths) {
    assertStorageError((await bucket.download(p)).error, { status: 400, statusCode: "404" });
  }
  assert.deepEqual((await bucket.list(a.id)).data, []);
});

Deno.test("range requests: 206 with Content-Range, 416 when unsatisfiable", async () => {
  const a = await user();
  const path = `${a.id}/range.png`;
  assert.equal(
    (await a.client.storage.from(INPUT).upload(path, PNG, { contentType: "image/png" })).error,
    null,
  );
  const url = `${stack.url}/storage/v1/object/authenticated/${INPUT}/${path}`;
  const auth = { authorization: `Bearer ${a.token}` };

  const part = await fetch(url, { headers: { ...auth, range: "bytes=2-5" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 2-5/${PNG.length}`);
  assert.equal(part.headers.get("content-length"), "4");
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), PNG.slice(2, 6));

  const suffix = await fetch(url, { headers: { ...auth, range: "bytes=-3" } });
  assert.equal(suffix.status, 206);
  assert.deepEqual(new Uint8Array(await suffix.arrayBuffer()), PNG.slice(-3));

  const open = await fetch(url, { headers: { ...auth, range: "bytes=10-" } });
  assert.equal(open.status, 206);
  assert.deepEqual(new Uint8Array(await open.arrayBuffer()), PNG.slice(10));

  const beyond = await fetch(url, { headers: { ...auth, range: `bytes=${PNG.length}-` } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get("content-range"), `bytes */${PNG.length}`);
  const body = await beyond.json();
  assert.equal(body.statusCode, "416");
  assert.equal(body.code, "InvalidRange");
});
