// The Storage stand-in (tests/localstack/_storage_setup.ts): uploads and reads, and who may do
// what. Authorisation comes from the storage.objects policies the migrations create for
// `input-assets` and `generated-assets`: the owner, another user, anon and the service role,
// and the upsert rules.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { stack } from "../_helpers/stack.ts";
import {
  anon,
  assertStorageError,
  bytesOf,
  INPUT,
  OUTPUT,
  PNG,
  service,
  user,
} from "./_storage_setup.ts";

Deno.test("a user uploads to their own input-assets folder and reads it back", async () => {
  const a = await user();
  const path = `${a.id}/x.png`;
  // A Blob goes out as multipart/form-data, as the app sends it.
  const up = await a.client.storage.from(INPUT).upload(
    path,
    new Blob([PNG], { type: "image/png" }),
  );
  assert.equal(up.error, null);
  assert.equal(up.data?.path, path);
  assert.equal(up.data?.fullPath, `${INPUT}/${path}`);
  assert.match(up.data!.id, /^[0-9a-f-]{36}$/);

  const down = await a.client.storage.from(INPUT).download(path);
  assert.equal(down.error, null);
  assert.deepEqual(await bytesOf(down.data), PNG);
  assert.equal(down.data?.type, "image/png");

  const info = await a.client.storage.from(INPUT).info(path);
  assert.equal(info.error, null);
  assert.equal(info.data?.size, PNG.length);
  assert.equal(info.data?.contentType, "image/png");
  assert.equal(info.data?.cacheControl, "max-age=3600");
  assert.equal(await a.client.storage.from(INPUT).exists(path).then((r) => r.data), true);

  // Raw bytes (not multipart) with explicit options.
  const raw = await a.client.storage.from(INPUT).upload(`${a.id}/raw.png`, PNG, {
    contentType: "image/png",
    cacheControl: "60",
  });
  assert.equal(raw.error, null);
  const res = await fetch(`${stack.url}/storage/v1/object/authenticated/${INPUT}/${a.id}/raw.png`, {
    headers: { authorization: `Bearer ${a.token}` },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.equal(res.headers.get("content-length"), String(PNG.length));
  assert.equal(res.headers.get("cache-control"), "max-age=60");
  assert.equal(res.headers.get("etag"), `"${createHash("md5").update(PNG).digest("hex")}"`);
  assert.ok(res.headers.get("last-modified"));
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG);
});

Deno.test("another user cannot read, sign, list, overwrite or delete someone else's object", async () => {
  const a = await user();
  const b = await user();
  const path = `${a.id}/private.png`;
  assert.equal(
    (await a.client.storage.from(INPUT).upload(path, PNG, { contentType: "image/png" })).error,
    null,
  );
  const bucket = b.client.storage.from(INPUT);

  const read = await bucket.download(path);
  assert.equal(read.data, null);
  assertStorageError(read.error, {
    status: 400,
    statusCode: "404",
    code: "NoSuchKey",
    message: "Object not found",
  });

  const sign = await bucket.createSignedUrl(path, 60);
  assertStorageError(sign.error, { status: 400, statusCode: "404", code: "NoSuchKey" });
  const signMany = await bucket.createSignedUrls([path], 60);
  assert.equal(signMany.error, null);
  assert.equal(signMany.data?.[0].signedUrl, null);
  assert.ok(signMany.data?.[0].error);

  const listed = await bucket.list(a.id);
  assert.equal(listed.error, null);
  assert.deepEqual(listed.data, []);
  const root = await bucket.list("");
  assert.ok(!root.data?.some((e) => e.name === a.id));

  const overwrite = await bucket.upload(path, new Uint8Array([1]), {
    contentType: "image/png",
    upsert: true,
  });
  assertStorageError(overwrite.error, {
    status: 400,
    statusCode: "403",
    code: "AccessDenied",
    message: "new row violates row-level security policy",
  });
  const plain = await bucket.upload(path, new Uint8Array([1]), { contentType: "image/png" });
  assertStorageError(plain.error, { status: 400, statusCode: "403", code: "AccessDenied" });
  const update = await bucket.update(path, new Uint8Array([1]), { contentType: "image/png" });
  assertStorageError(update.error, { status: 400, statusCode: "403" });

  const removed = await bucket.remove([path]);
  assert.equal(removed.error, null);
  assert.deepEqual(removed.data, []);

  // A's object is untouched.
  const still = await a.client.storage.from(INPUT).download(path);
  assert.deepEqual(await bytesOf(still.data), PNG);
});

Deno.test("anon can neither read nor write input-assets; the service role can do both", async () => {
  const a = await user();
  const path = `${a.id}/svc.png`;
  assert.equal(
    (await a.client.storage.from(INPUT).upload(path, PNG, { contentType: "image/png" })).error,
    null,
  );

  const anonRead = await anon().storage.from(INPUT).download(path);
  assertStorageError(anonRead.error, { status: 400, statusCode: "404", code: "NoSuchKey" });
  const anonWrite = await anon().storage.from(INPUT).upload(`${a.id}/anon.png`, PNG, {
    contentType: "image/png",
  });
  assertStorageError(anonWrite.error, { status: 400, statusCode: "403", code: "AccessDenied" });

  const svc = service().storage.from(INPUT);
  assert.deepEqual(await bytesOf((await svc.download(path)).data), PNG);
  assert.equal(
    (await svc.upload(`${a.id}/by-service.png`, PNG, { contentType: "image/png" })).error,
    null,
  );
  assert.deepEqual(
    await bytesOf((await a.client.storage.from(INPUT).download(`${a.id}/by-service.png`)).data),
    PNG,
  );
});

Deno.test("generated assets: only the service role writes, the owner reads, others cannot", async () => {
  const a = await user();
  const b = await user();
  const path = `${a.id}/models/${crypto.randomUUID()}/model.glb`;
  const bytes = new TextEncoder().encode("glTF-binary-ish");
  const own = await a.client.storage.from(OUTPUT).upload(path, bytes, {
    contentType: "model/gltf-binary",
  });
  assertStorageError(own.error, { status: 400, statusCode: "403", code: "AccessDenied" });

  assert.equal(
    (await service().storage.from(OUTPUT).upload(path, bytes, { contentType: "model/gltf-binary" }))
      .error,
    null,
  );
  assert.deepEqual(await bytesOf((await a.client.storage.from(OUTPUT).download(path)).data), bytes);
  const other = await b.client.storage.from(OUTPUT).download(path);
  assertStorageError(other.error, { status: 400, statusCode: "404" });
});

Deno.test("upsert rules: duplicate refused without upsert, replaced with it and by update()", async () => {
  const a = await user();
  const path = `${a.id}/upsert.png`;
  const bucket = a.client.storage.from(INPUT);
  assert.equal((await bucket.upload(path, PNG, { contentType: "image/png" })).error, null);

  const dup = await bucket.upload(path, new Uint8Array([9]), { contentType: "image/png" });
  assertStorageError(dup.error, {
    status: 400,
    statusCode: "409",
    message: "The resource already exists",
  });
  assert.deepEqual(await bytesOf((await bucket.download(path)).data), PNG);

  const v2 = new Uint8Array([2, 2, 2]);
  const up = await bucket.upload(path, v2, { contentType: "image/png", upsert: true });
  assert.equal(up.error, null);
  assert.deepEqual(await bytesOf((await bucket.download(path)).data), v2);

  const v3 = new Uint8Array([3, 3, 3, 3]);
  assert.equal((await bucket.update(path, v3, { contentType: "image/png" })).error, null);
  assert.deepEqual(await bytesOf((await bucket.download(path)).data), v3);
  assert.equal((await bucket.info(path)).data?.size, 4);
});
