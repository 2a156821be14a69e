// The Storage stand-in, driven through supabase-js (storage-js). Authorisation comes from the
// storage.objects policies the migrations create for `input-assets` and `generated-assets`;
// the remaining cases use test buckets created here with the service role.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import * as jose from "jose";
import { stack } from "../_helpers/stack.ts";

const opts = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
};
const INPUT = "input-assets";
const OUTPUT = stack.outputsBucket;
const PNG = new Uint8Array([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
]);

const service = (): SupabaseClient => createClient(stack.url, stack.serviceRoleKey, opts);
const anon = (): SupabaseClient => createClient(stack.url, stack.anonKey, opts);

interface TestUser {
  id: string;
  client: SupabaseClient;
  token: string;
}

async function user(): Promise<TestUser> {
  const email = `storage-${crypto.randomUUID()}@example.com`;
  const password = "storage-test-password";
  const created = await service().auth.admin.createUser({ email, password, email_confirm: true });
  assert.equal(created.error, null);
  const client = createClient(stack.url, stack.anonKey, opts);
  const { data, error } = await client.auth.signInWithPassword({ email, password });
  assert.equal(error, null);
  return { id: data.user!.id, client, token: data.session!.access_token };
}

/** Asserts a storage-js error: HTTP status and the body's statusCode / code / error. */
function assertStorageError(
  error: unknown,
  want: { status: number; statusCode: string; code?: string; message?: string | RegExp },
): void {
  assert.ok(error, "expected an error");
  const e = error as { status: number; statusCode: string; code?: string; message: string };
  assert.equal(e.status, want.status);
  assert.equal(e.statusCode, want.statusCode);
  if (want.code) assert.equal(e.code, want.code);
  if (typeof want.message === "string") assert.equal(e.message, want.message);
  if (want.message instanceof RegExp) assert.match(e.message, want.message);
}

async function bytesOf(blob: Blob | null): Promise<Uint8Array> {
  assert.ok(blob);
  return new Uint8Array(await blob.arrayBuffer());
}

async function testBucket(
  options: { public: boolean; fileSizeLimit?: string | number; allowedMimeTypes?: string[] },
): Promise<string> {
  const id = `ls-test-${crypto.randomUUID().slice(0, 8)}`;
  const { error } = await service().storage.createBucket(id, options);
  assert.equal(error, null);
  return id;
}

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

Deno.test("signed URLs: work without auth, fail when tampered, expired or for another path", async () => {
  const a = await user();
  const path = `${a.id}/signed.png`;
  const other = `${a.id}/other.png`;
  const bucket = a.client.storage.from(INPUT);
  assert.equal((await bucket.upload(path, PNG, { contentType: "image/png" })).error, null);
  assert.equal(
    (await bucket.upload(other, new Uint8Array([7]), { contentType: "image/png" })).error,
    null,
  );

  const { data, error } = await bucket.createSignedUrl(path, 60);
  assert.equal(error, null);
  const signed = new URL(data!.signedUrl);
  assert.equal(signed.pathname, `/storage/v1/object/sign/${INPUT}/${path}`);
  const ok = await fetch(signed);
  assert.equal(ok.status, 200);
  assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), PNG);

  const token = signed.searchParams.get("token")!;
  const tampered = new URL(signed);
  tampered.searchParams.set("token", token.slice(0, -3) + (token.endsWith("AAA") ? "BBB" : "AAA"));
  const bad = await fetch(tampered);
  assert.equal(bad.status, 400);
  const badBody = await bad.json();
  assert.equal(badBody.statusCode, "400");
  assert.equal(badBody.code, "InvalidJWT");

  const moved = new URL(signed);
  moved.pathname = `/storage/v1/object/sign/${INPUT}/${other}`;
  const wrongPath = await fetch(moved);
  assert.equal(wrongPath.status, 400);
  assert.equal((await wrongPath.json()).code, "InvalidSignature");

  // An expired token (minted with the stack's signing secret, a second in the past).
  const now = Math.floor(Date.now() / 1000);
  const expired = await new jose.SignJWT({ url: `${INPUT}/${path}`, iat: now - 120, exp: now - 1 })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(stack.jwtSecret));
  const late = await fetch(`${stack.url}/storage/v1/object/sign/${INPUT}/${path}?token=${expired}`);
  assert.equal(late.status, 400);
  const lateBody = await late.json();
  assert.equal(lateBody.code, "InvalidJWT");
  assert.equal(lateBody.message, "jwt expired");

  const many = await bucket.createSignedUrls([path, other, `${a.id}/missing.png`], 60);
  assert.equal(many.error, null);
  assert.equal(many.data!.length, 3);
  assert.ok(many.data![0].signedUrl && many.data![1].signedUrl);
  assert.equal(many.data![2].signedUrl, null);
  assert.equal((await fetch(many.data![1].signedUrl!)).status, 200);
});

Deno.test("signed upload URL: minted by an allowed caller, used without auth", async () => {
  const a = await user();
  const b = await user();
  const path = `${a.id}/via-signed-upload.png`;
  const { data, error } = await a.client.storage.from(INPUT).createSignedUploadUrl(path);
  assert.equal(error, null);
  assert.ok(data?.token);
  const up = await anon().storage.from(INPUT).uploadToSignedUrl(path, data!.token, PNG, {
    contentType: "image/png",
  });
  assert.equal(up.error, null);
  assert.deepEqual(await bytesOf((await a.client.storage.from(INPUT).download(path)).data), PNG);
  // The token names one path only.
  const elsewhere = await anon().storage.from(INPUT).uploadToSignedUrl(
    `${a.id}/elsewhere.png`,
    data!.token,
    PNG,
    {
      contentType: "image/png",
    },
  );
  assertStorageError(elsewhere.error, { status: 400, statusCode: "400", code: "InvalidSignature" });

  const refused = await b.client.storage.from(INPUT).createSignedUploadUrl(`${a.id}/not-yours.png`);
  assertStorageError(refused.error, { status: 400, statusCode: "403", code: "AccessDenied" });
});

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

Deno.test("public buckets serve without auth; private buckets do not", async () => {
  const pub = await testBucket({ public: true });
  const svc = service();
  assert.equal(
    (await svc.storage.from(pub).upload("dir/p.png", PNG, { contentType: "image/png" })).error,
    null,
  );
  const url = anon().storage.from(pub).getPublicUrl("dir/p.png").data.publicUrl;
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG);
  const dl = await fetch(
    anon().storage.from(pub).getPublicUrl("dir/p.png", { download: "name.png" }).data.publicUrl,
  );
  assert.match(dl.headers.get("content-disposition") ?? "", /^attachment; filename=name\.png/);
  await dl.body?.cancel();

  const a = await user();
  assert.equal(
    (await a.client.storage.from(INPUT).upload(`${a.id}/p.png`, PNG, { contentType: "image/png" }))
      .error,
    null,
  );
  const priv = await fetch(anon().storage.from(INPUT).getPublicUrl(`${a.id}/p.png`).data.publicUrl);
  assert.equal(priv.status, 400);
  const body = await priv.json();
  assert.equal(body.statusCode, "404");
  assert.equal(body.message, "Bucket not found");
});

Deno.test("bucket limits: file_size_limit gives Payload too large, allowed_mime_types is enforced", async () => {
  const id = await testBucket({
    public: false,
    fileSizeLimit: "1KB",
    allowedMimeTypes: ["image/*"],
  });
  const bucket = service().storage.from(id);
  const big = await bucket.upload("big.png", new Uint8Array(2048), { contentType: "image/png" });
  assertStorageError(big.error, { status: 400, statusCode: "413", code: "EntityTooLarge" });
  assert.equal((big.error as unknown as { message: string }).message.length > 0, true);
  const bigBlob = await bucket.upload(
    "big2.png",
    new Blob([new Uint8Array(2048)], { type: "image/png" }),
  );
  assertStorageError(bigBlob.error, { status: 400, statusCode: "413" });
  const text = await bucket.upload("t.txt", "hello", { contentType: "text/plain" });
  assertStorageError(text.error, { status: 400, statusCode: "415", code: "InvalidMimeType" });
  assert.equal(
    (await bucket.upload("ok.png", new Uint8Array(1024), { contentType: "image/png" })).error,
    null,
  );
  assert.deepEqual((await bucket.list("")).data!.map((e) => e.name), ["ok.png"]);
});

Deno.test("an invalid or expired JWT is refused with Storage's error shape", async () => {
  const garbage = createClient(stack.url, stack.anonKey, {
    ...opts,
    global: { headers: { Authorization: "Bearer not.a.jwt" } },
  });
  const r = await garbage.storage.from(INPUT).download("x/y.png");
  assertStorageError(r.error, { status: 403, statusCode: "403", code: "InvalidJWT" });

  const now = Math.floor(Date.now() / 1000);
  const stale = await new jose.SignJWT({
    sub: crypto.randomUUID(),
    role: "authenticated",
    iat: now - 7200,
    exp: now - 60,
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(stack.jwtSecret));
  const expired = createClient(stack.url, stack.anonKey, {
    ...opts,
    global: { headers: { Authorization: `Bearer ${stale}` } },
  });
  const e = await expired.storage.from(INPUT).upload("x/y.png", PNG, { contentType: "image/png" });
  assertStorageError(e.error, {
    status: 403,
    statusCode: "403",
    code: "InvalidJWT",
    message: "jwt expired",
  });
});

/** Deterministic pseudo-random bytes, generated chunk by chunk (never held whole). */
function generated(
  total: number,
  chunk = 1 << 20,
): { stream: ReadableStream<Uint8Array>; digest: Promise<string> } {
  const hash = createHash("sha256");
  let sent = 0;
  let seed = 0x9e3779b9;
  let resolve!: (d: string) => void;
  const digest = new Promise<string>((r) => (resolve = r));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) {
        resolve(hash.digest("hex"));
        controller.close();
        return;
      }
      const n = Math.min(chunk, total - sent);
      const buf = new Uint8Array(n);
      const words = new Uint32Array(buf.buffer, 0, n >>> 2);
      for (let i = 0; i < words.length; i++) {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        words[i] = seed >>> 0;
      }
      hash.update(buf);
      sent += n;
      controller.enqueue(buf);
    },
  });
  return { stream, digest };
}

Deno.test("a 50 MB streamed upload round-trips byte for byte", async () => {
  const id = await testBucket({ public: false });
  const bucket = service().storage.from(id);
  const total = 50 * 1024 * 1024;
  const src = generated(total);
  const up = await bucket.upload("big/blob.bin", src.stream, {
    contentType: "application/octet-stream",
  });
  assert.equal(up.error, null);
  const sent = await src.digest;

  const res = await fetch(`${stack.url}/storage/v1/object/${id}/big/blob.bin`, {
    headers: { authorization: `Bearer ${stack.serviceRoleKey}`, apikey: stack.serviceRoleKey },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String(total));
  const hash = createHash("sha256");
  let received = 0;
  for await (const chunk of res.body!) {
    hash.update(chunk);
    received += chunk.byteLength;
  }
  assert.equal(received, total);
  assert.equal(hash.digest("hex"), sent);
  assert.equal((await bucket.info("big/blob.bin")).data?.size, total);
});

Deno.test("an aborted upload leaves neither an object nor a row", async () => {
  const id = await testBucket({ public: false });
  const controller = new AbortController();
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent >= 4 * 1024 * 1024) {
        controller.abort();
        await new Promise(() => {}); // never finishes: the request is aborted mid-body
        return;
      }
      sent += 256 * 1024;
      c.enqueue(new Uint8Array(256 * 1024));
    },
  });
  await fetch(`${stack.url}/storage/v1/object/${id}/aborted.bin`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${stack.serviceRoleKey}`,
      "content-type": "application/octet-stream",
    },
    body,
    signal: controller.signal,
  }).then((r) => r.body?.cancel(), () => {});
  // Let the server see the broken body; then the key must be free: a plain (non-upsert)
  // upload succeeds and serves only its own bytes.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual((await service().storage.from(id).list("")).data, []);
  const again = await service().storage.from(id).upload("aborted.bin", PNG, {
    contentType: "application/octet-stream",
  });
  assert.equal(again.error, null);
  assert.deepEqual(
    await bytesOf((await service().storage.from(id).download("aborted.bin")).data),
    PNG,
  );
});

Deno.test("buckets: service role creates and reads; users cannot create", async () => {
  const id = await testBucket({ public: false, fileSizeLimit: 1024 });
  const got = await service().storage.getBucket(id);
  assert.equal(got.error, null);
  assert.equal(got.data?.id, id);
  assert.equal(got.data?.public, false);
  assert.equal(Number(got.data?.file_size_limit), 1024);
  const listed = await service().storage.listBuckets();
  assert.ok(listed.data?.some((b) => b.id === INPUT));
  const dup = await service().storage.createBucket(id, { public: false });
  assertStorageError(dup.error, { status: 400, statusCode: "409" });

  const a = await user();
  const refused = await a.client.storage.createBucket(
    `ls-user-${crypto.randomUUID().slice(0, 8)}`,
    { public: true },
  );
  assertStorageError(refused.error, { status: 400, statusCode: "403", code: "AccessDenied" });
});
