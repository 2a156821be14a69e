// Accepted tokens (ES256 sessions through the JWKS) and what the logs may contain.
import assert from "node:assert/strict";
import { call, it, newUser } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";
import { es256, userClaims } from "../_helpers/tokens.ts";

it("a user token signed with the project's asymmetric key (JWKS) is accepted", async () => {
  const user = await newUser("es256");
  const token = await es256(userClaims(user.id));
  const r = await call("generate-text-to-model", {
    token,
    body: { task_id: "es256", prompt: "an es256 teapot" },
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  assert.match(r.body.job_id, /^[0-9a-f-]{36}$/);
  const s = await call(`task-status/${r.body.job_id}`, { token });
  assert.equal(s.status, 200);
  assert.equal(s.body.client_task_id, "es256");
});

it("process-jobs accepts the project's secret key and answers with a summary", async () => {
  const r = await call("process-jobs?wait=true", {
    headers: { apikey: stack.serviceKey },
    body: {},
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  for (const k of ["claimed", "completed", "failed", "retried"]) {
    assert.equal(typeof r.body[k], "number", k);
  }
});

it("function logs carry request ids and never a token or key", async () => {
  const user = await newUser("logs");
  const r = await call("generate-text-to-model", {
    token: user.token,
    headers: { "x-request-id": "log-check-0001-abcd" },
    body: { task_id: "logs", prompt: 5 },
  });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get("x-request-id"), "log-check-0001-abcd");
  const path = Deno.env.get("STACK_LOG_PATH");
  assert.ok(path, "STACK_LOG_PATH is set by npm test");
  // Logs are written asynchronously by the function processes; give them a moment.
  let text = "";
  for (let i = 0; i < 50 && !text.includes("log-check-0001-abcd"); i++) {
    await new Promise((r) => setTimeout(r, 100));
    text = await Deno.readTextFile(path);
  }
  assert.ok(text.includes("log-check-0001-abcd"), "the request id is logged");
  for (
    const secret of [
      user.token,
      stack.secretKey,
      stack.publishableKey,
      stack.serviceRoleKey,
      stack.anonKey,
      stack.jwtSecret,
    ]
  ) {
    assert.ok(!text.includes(secret), "no token or key in the logs");
  }
  assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text), "no JWT-shaped string in the logs");
});
