// The ops function's checks through `app.request()` with a fake database: only a signed-in user
// whose app_metadata marks an operator reads the views; anyone else is refused before the
// database is asked anything.
import assert from "node:assert/strict";
import * as jose from "jose";
import { createApp } from "../../supabase/functions/_shared/app.ts";
import { isOperator, requireOperator, requireUser } from "../../supabase/functions/_shared/auth.ts";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";
import type { OpsOverview } from "../../supabase/functions/_shared/db.ts";
import { createOpsHandlers, CREDIT_ROWS } from "../../supabase/functions/_shared/handlers/ops.ts";

const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
const jwks = { keys: [{ ...(await jose.exportJWK(publicKey)), kid: "k1", alg: "ES256" }] };
const config = loadConfig({
  SUPABASE_URL: "https://ref.supabase.co",
  SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_unit"}',
  SUPABASE_SECRET_KEYS: '{"default":"sb_secret_unit"}',
  SUPABASE_JWKS: JSON.stringify(jwks),
  SUPABASE_DB_URL: "postgres://unused",
  LOG_LEVEL: "error",
}, { userTokens: true });

async function token(appMetadata: Record<string, unknown>, role = "authenticated") {
  return await new jose.SignJWT({
    sub: crypto.randomUUID(),
    role,
    aud: "authenticated",
    exp: Math.floor(Date.now() / 1000) + 600,
    app_metadata: appMetadata,
  }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);
}

const ROWS: OpsOverview = {
  queue: [{ state: "queued", provider: "tripo", jobs: 3, oldest_waiting_seconds: 12 }],
  failures: [{
    provider: "openai",
    error_code: "provider_refused",
    jobs: 2,
    last_seen: "2026-12-02T00:00:00+00:00",
  }],
  credits: [{
    user_id: crypto.randomUUID(),
    granted: 100,
    charged: 30,
    reserved: 10,
    balance: 70,
    available: 60,
    jobs_charged: 1,
    updated_at: "2026-12-02T00:00:00+00:00",
  }],
  credit_totals: [{ entry: "grant", entries: 1, amount: 100 }],
};

function world(rows: unknown = ROWS) {
  const calls: number[] = [];
  const handlers = createOpsHandlers({
    db: {
      opsOverview: (n) => {
        calls.push(n);
        return Promise.resolve(rows as OpsOverview);
      },
    },
  });
  const { app } = createApp("ops", config);
  app.use("*", requireUser(config), requireOperator());
  app.get("/", handlers.overview);
  const req = async (headers: Record<string, string>, method = "GET") => {
    const res = await app.request("/ops", { method, headers });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return { req, calls };
}

Deno.test("ops: the claim is role = operator or operator = true, nothing looser", () => {
  assert.equal(isOperator({ role: "operator" }), true);
  assert.equal(isOperator({ operator: true }), true);
  for (
    const m of [{}, { role: "Operator" }, { operator: "true" }, { operator: 1 }, {
      roles: ["operator"],
    }]
  ) {
    assert.equal(isOperator(m), false, JSON.stringify(m));
  }
});

Deno.test("ops: an operator reads the views (parsed, stamped, not cached)", async () => {
  const { req, calls } = world();
  for (const meta of [{ role: "operator" }, { operator: true, provider: "email" }]) {
    const r = await req({ authorization: `Bearer ${await token(meta)}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.queue, ROWS.queue);
    assert.deepEqual(r.body.failures, ROWS.failures);
    assert.deepEqual(r.body.credits, ROWS.credits);
    assert.deepEqual(r.body.credit_totals, ROWS.credit_totals);
    assert.ok(!Number.isNaN(Date.parse(r.body.generated_at)));
  }
  assert.deepEqual(calls, [CREDIT_ROWS, CREDIT_ROWS]);
});

Deno.test("ops: other users 403, no token or an API key 401, all before the database", async () => {
  const { req, calls } = world();
  const plain = await req({ authorization: `Bearer ${await token({ provider: "email" })}` });
  assert.deepEqual([plain.status, plain.body.error.code], [403, "forbidden"]);
  // user_metadata is the user's own to write: it never makes an operator.
  const claimed = await req({ authorization: `Bearer ${await token({ role: "user" })}` });
  assert.equal(claimed.status, 403);
  const none = await req({});
  assert.deepEqual([none.status, none.body.error.code], [401, "unauthorized"]);
  const key = await req({ apikey: "sb_publishable_unit" });
  assert.equal(key.status, 401);
  const keyBearer = await req({ authorization: "Bearer sb_secret_unit" });
  assert.equal(keyBearer.status, 401);
  // A JWT of another role (what the gateway mints for an API key) carrying the claim.
  const anon = await req({ authorization: `Bearer ${await token({ role: "operator" }, "anon")}` });
  assert.equal(anon.status, 401);
  assert.deepEqual(calls, []);
});

Deno.test("ops: a view that drifts from the documented shape is a 500 without detail", async () => {
  const { req } = world({ ...ROWS, queue: [{ state: "lost", provider: "tripo", jobs: 1 }] });
  const r = await req({ authorization: `Bearer ${await token({ role: "operator" })}` });
  assert.equal(r.status, 500);
  assert.equal(r.body.error.code, "internal_error");
  assert.doesNotMatch(JSON.stringify(r.body), /lost|queue/);
});
