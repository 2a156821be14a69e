// The Storage stand-in (tests/localstack/_storage_setup.ts) on test buckets created here with
// the service role: bucket limits (size, MIME types), a 50 MB streamed upload and an aborted
// one, bucket creation; and invalid or expired JWTs refused with Storage's error shape.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createClient } from "@supabase/supabase-js";
import * as jose from "jose";
import { stack } from "../_helpers/stack.ts";
import {
  assertStorageError,
  bytesOf,
  INPUT,
  opts,
  PNG,
  service,
  testBucket,
  user,
} from "./_storage_setup.ts";

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
