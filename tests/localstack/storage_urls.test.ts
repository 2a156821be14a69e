// The Storage stand-in (tests/localstack/_storage_setup.ts): URLs that work without auth —
// signed download URLs (tampered, expired, for another path), signed upload URLs, and public
// buckets (against private ones).
import assert from "node:assert/strict";
import * as jose from "jose";
import { stack } from "../_helpers/stack.ts";
import {
  anon,
  assertStorageError,
  bytesOf,
  INPUT,
  PNG,
  service,
  testBucket,
  user,
} from "./_storage_setup.ts";

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
