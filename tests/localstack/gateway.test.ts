// The local gateway behaves like Supabase's: verify_jwt per config.toml, JSON 401s with
// sb-error-code, 404 for unknown functions, CORS preflight answered, Authorization passed on.
import assert from "node:assert/strict";
import { it, newUser } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";
import { expired, wrongSecret } from "../_helpers/tokens.ts";

async function raw(path: string, init: RequestInit = {}) {
  const res = await fetch(`${stack.url}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* text */ }
  return { res, body: body as Record<string, unknown> };
}

it("gateway: verify_jwt refusals are 401 JSON with the platform's error codes", async () => {
  const user = await newUser("gw");
  const fn = "/functions/v1/task-status/00000000-0000-4000-8000-000000000000";
  const cases: [string, Record<string, string>, string][] = [
    ["missing", {}, "UNAUTHORIZED_NO_AUTH_HEADER"],
    ["not bearer", { authorization: "Token abc" }, "UNAUTHORIZED_INVALID_JWT_FORMAT"],
    ["malformed", { authorization: "Bearer not-a-jwt" }, "UNAUTHORIZED_INVALID_JWT_FORMAT"],
    [
      "wrong signature",
      { authorization: `Bearer ${await wrongSecret(user.id)}` },
      "UNAUTHORIZED_INVALID_JWT",
    ],
    ["expired", { authorization: `Bearer ${await expired(user.id)}` }, "UNAUTHORIZED_INVALID_JWT"],
  ];
  for (const [label, headers, code] of cases) {
    const { res, body } = await raw(fn, { headers });
    assert.equal(res.status, 401, label);
    assert.equal(res.headers.get("content-type"), "application/json", label);
    assert.equal(res.headers.get("sb-error-code"), code, label);
    assert.equal(body.code, code, label);
    assert.equal(typeof body.message, "string", label);
  }
  // A valid token passes the gateway and reaches the function (which answers 404 JSON).
  const ok = await raw(fn, { headers: { authorization: `Bearer ${user.token}` } });
  assert.equal(ok.res.status, 404);
  assert.deepEqual(Object.keys(ok.body), ["error"]);
});

it("gateway: verify_jwt = false lets process-jobs decide (it refuses without its secret)", async () => {
  const { res, body } = await raw("/functions/v1/process-jobs", { method: "POST" });
  assert.equal(res.status, 401);
  assert.equal((body.error as Record<string, string>).code, "unauthorized");
  assert.equal(res.headers.get("sb-error-code"), null, "refused by the function, not the gateway");
});

it("gateway: unknown function is 404, unknown route 404, odd method 405", async () => {
  const a = await raw("/functions/v1/no-such-function", {
    headers: { authorization: `Bearer ${stack.anonKey}` },
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
  assert.ok(res.status === 204 || res.status === 200, `status ${res.status}`);
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
