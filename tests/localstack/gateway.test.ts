// The local gateway behaves like Supabase's: verify_jwt per config.toml (legacy HS256 only, as
// the platform's check), JSON 401s with sb-error-code, the new API keys swapped for JWTs, 404 for
// unknown functions, CORS preflight answered, Authorization passed on.
import assert from "node:assert/strict";
import { it, newUser } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";
import * as jose from "jose";
import { createGateway } from "../../localstack/gateway.ts";
import { createKeys, signToken } from "../../localstack/keys.ts";
import { FunctionRunner, readFunctionConfig } from "../../localstack/runtime/runner.ts";

async function raw(path: string, init: RequestInit = {}) {
  const res = await fetch(path.startsWith("http") ? path : `${stack.url}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* text */ }
  return { res, body: body as Record<string, unknown> };
}

/** A gateway of its own with one probe function behind `verify_jwt = true`. */
async function strictGateway() {
  const keys = await createKeys({ publicUrl: "http://127.0.0.1:1" });
  const runner = new FunctionRunner(
    { name: "edge-probe", verifyJwt: true, entry: "tests/localstack/fixtures/edge-probe/index.ts" },
    {},
    {},
    () => {},
  );
  const fail = () => Promise.resolve(new Response(null, { status: 500 }));
  const handle = createGateway({
    keys,
    functions: new Map([["edge-probe", runner]]),
    storage: fail,
    auth: fail,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
  return {
    keys,
    url: `http://127.0.0.1:${server.addr.port}/functions/v1/edge-probe/whoami`,
    async stop() {
      await runner.stop();
      await server.shutdown();
    },
  };
}

it("gateway: verify_jwt = true takes only legacy HS256 JWTs, as the platform's check does", async () => {
  const g = await strictGateway();
  try {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      sub: crypto.randomUUID(),
      role: "authenticated",
      aud: "authenticated",
      exp: now + 60,
    };
    const es256 = await signToken(g.keys, claims, "ES256");
    const hs256 = await signToken(g.keys, claims, "HS256");
    const expiredHs = await signToken(g.keys, { ...claims, exp: now - 60 }, "HS256");
    const foreignHs = await new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode("not-the-project-secret-but-long-enough-000"));
    const cases: [string, Record<string, string>, number, string | null][] = [
      ["missing", {}, 401, "UNAUTHORIZED_NO_AUTH_HEADER"],
      ["not bearer", { authorization: "Token abc" }, 401, "UNAUTHORIZED_INVALID_JWT_FORMAT"],
      ["malformed", { authorization: "Bearer not-a-jwt" }, 401, "UNAUTHORIZED_INVALID_JWT_FORMAT"],
      [
        "an API key",
        { authorization: `Bearer ${g.keys.publishableKey}` },
        401,
        "UNAUTHORIZED_INVALID_JWT_FORMAT",
      ],
      [
        "wrong signature",
        { authorization: `Bearer ${foreignHs}` },
        401,
        "UNAUTHORIZED_INVALID_JWT",
      ],
      ["expired", { authorization: `Bearer ${expiredHs}` }, 401, "UNAUTHORIZED_INVALID_JWT"],
      // A valid user session of a project on JWT signing keys: refused before the function.
      [
        "valid ES256 user token",
        { authorization: `Bearer ${es256}` },
        401,
        "UNAUTHORIZED_INVALID_JWT",
      ],
      ["legacy HS256 user token", { authorization: `Bearer ${hs256}` }, 200, null],
      ["legacy anon key", { authorization: `Bearer ${g.keys.anonKey}` }, 200, null],
    ];
    for (const [label, headers, status, code] of cases) {
      const { res, body } = await raw(g.url, { headers });
      assert.equal(res.status, status, label);
      if (code === null) {
        assert.equal(typeof body.isolate, "string", `${label} reached the function`);
        continue;
      }
      assert.equal(res.headers.get("content-type"), "application/json", label);
      assert.equal(res.headers.get("sb-error-code"), code, label);
      assert.equal(typeof body.message, "string", label);
    }
    const { body } = await raw(g.url, { headers: { authorization: `Bearer ${es256}` } });
    assert.deepEqual(body, { code: 401, message: "Invalid JWT" }, "the platform's body for ES256");
  } finally {
    await g.stop();
  }
});

it("gateway: every function of this project runs with verify_jwt = false", async () => {
  for (const fn of await readFunctionConfig()) assert.equal(fn.verifyJwt, false, fn.name);
  // So an ES256 session reaches the function, which verifies it itself.
  const user = await newUser("gw-es256");
  assert.equal(
    JSON.parse(atob(user.token.split(".")[0])).alg,
    stack.project === "legacy" ? "HS256" : "ES256",
  );
  const { res } = await raw(
    `${stack.url}/functions/v1/task-status/00000000-0000-4000-8000-000000000000`,
    {
      headers: { authorization: `Bearer ${user.token}` },
    },
  );
  assert.equal(res.status, 404, "the function answered (no such job), not the gateway");
});

it("gateway: new API keys are swapped for their role's JWT; an unknown sb_ key is refused", async () => {
  const list = await raw(`${stack.url}/storage/v1/bucket`, {
    headers: { apikey: stack.secretKey },
  });
  assert.equal(list.res.status, 200, "the secret key alone lists buckets (service role)");
  const anon = await raw(`${stack.url}/storage/v1/bucket`, {
    headers: { apikey: stack.publishableKey, authorization: `Bearer ${stack.publishableKey}` },
  });
  assert.equal(anon.res.status, 200);
  assert.deepEqual(anon.body, [], "the publishable key sees no private bucket");
  const bad = await raw(`${stack.url}/storage/v1/bucket`, {
    headers: { apikey: "sb_secret_nope" },
  });
  assert.equal(bad.res.status, 401);
  assert.deepEqual(bad.body, { message: "Invalid API key" });
});

it("gateway: verify_jwt = false lets process-jobs decide (it refuses without its secret)", async () => {
  const { res, body } = await raw("/functions/v1/process-jobs", { method: "POST" });
  assert.equal(res.status, 401);
  assert.equal((body.error as Record<string, string>).code, "unauthorized");
  assert.equal(res.headers.get("sb-error-code"), null, "refused by the function, not the gateway");
});

it("gateway: unknown function is 404, unknown route 404, odd method 405", async () => {
  const a = await raw("/functions/v1/no-such-function", {
    headers: { apikey: stack.publishableKey },
  });
  assert.equal(a.res.status, 404);
  assert.equal(a.body.code, "NOT_FOUND");
  const b = await raw("/rest/v1/jobs");
  assert.equal(b.res.status, 404);
  const user = await newUser("gw-405");
  const c = await raw("/functions/v1/task-status/00000000-0000-4000-8000-000000000000", {
    method: "PATCH",
    headers: { authorization: `Bearer ${user.token}` },
  });
  assert.equal(c.res.status, 405);
  assert.equal((c.body.error as Record<string, string>).code, "method_not_allowed");
});

it("gateway: CORS preflight is answered without a token", async () => {
  const res = await fetch(`${stack.url}/functions/v1/generate-text-to-model`, {
    method: "OPTIONS",
    headers: {
      origin: "http://localhost:8081",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type, idempotency-key",
    },
  });
  await res.body?.cancel();
  // Hono's CORS middleware answers a preflight with 204 No Content.
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("access-control-allow-methods") ?? "", /POST/);
  assert.match(res.headers.get("access-control-allow-headers") ?? "", /idempotency-key/i);
});

it("gateway: the Authorization header reaches the function unchanged", async () => {
  const user = await newUser("gw-pass");
  // task-status identifies the caller from the forwarded token: a job of theirs is found.
  const gen = await fetch(`${stack.url}/functions/v1/generate-text-to-model`, {
    method: "POST",
    headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
    body: JSON.stringify({ task_id: "pass", prompt: "pass-through" }),
  });
  const job = await gen.json();
  assert.equal(gen.status, 202);
  const s = await raw(`/functions/v1/task-status/${job.job_id}`, {
    headers: { authorization: `Bearer ${user.token}` },
  });
  assert.equal(s.res.status, 200);
  assert.equal(s.body.task_id, job.job_id);
});
