// The credits function's handlers through `app.request()` with a fake database: who may call
// what (users read; only the secret key grants and prices), what is refused before the database
// (bodies, queries, the Idempotency-Key), and how the SQL outcomes map to the error table.
import assert from "node:assert/strict";
import * as jose from "jose";
import { createApp } from "../../supabase/functions/_shared/app.ts";
import { requireService, requireUser } from "../../supabase/functions/_shared/auth.ts";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";
import type { GrantResult } from "../../supabase/functions/_shared/db.ts";
import { createCreditsHandlers } from "../../supabase/functions/_shared/handlers/credits.ts";

const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
const jwks = { keys: [{ ...(await jose.exportJWK(publicKey)), kid: "k1", alg: "ES256" }] };
const config = loadConfig({
  SUPABASE_URL: "https://ref.supabase.co",
  SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_unit"}',
  SUPABASE_SECRET_KEYS: '{"default":"sb_secret_unit"}',
  SUPABASE_JWKS: JSON.stringify(jwks),
  SUPABASE_DB_URL: "postgres://unused",
  CREDITS_SIGNUP_GRANT: "25",
  LOG_LEVEL: "error",
}, { userTokens: true, secretKey: true });
const userId = crypto.randomUUID();
const token = await new jose.SignJWT({
  sub: userId,
  role: "authenticated",
  aud: "authenticated",
  exp: Math.floor(Date.now() / 1000) + 600,
}).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey);
const USER = { authorization: `Bearer ${token}` };
const SERVICE = { apikey: "sb_secret_unit" };

function world(grant: GrantResult = { outcome: "created", entry_id: 7, available: 125 }) {
  const calls: { fn: string; args: unknown[] }[] = [];
  const handlers = createCreditsHandlers({
    config,
    db: {
      creditStatement: (...args) => {
        calls.push({ fn: "statement", args });
        return Promise.resolve({
          balance: 25,
          reserved: 0,
          available: 25,
          ledger: [],
          next_before: null,
        });
      },
      creditPrices: () => Promise.resolve({ text_to_model: 30 }),
      grantCredits: (...args) => {
        calls.push({ fn: "grant", args });
        return Promise.resolve(grant);
      },
      setCreditPrices: (p) => {
        calls.push({ fn: "prices", args: [p] });
        return Promise.resolve({ text_to_model: 30, ...p });
      },
    },
  });
  const { app } = createApp("credits", config);
  app.get("/", requireUser(config), handlers.statement);
  app.get("/prices", requireUser(config), handlers.prices);
  app.put("/prices", requireService(config), handlers.setPrices);
  app.post("/grant", requireService(config), handlers.grant);
  const req = async (
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
  ) => {
    const res = await app.request(`/credits${path}`, {
      method: init.method ?? "GET",
      headers: { "content-type": "application/json", ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    return { status: res.status, headers: res.headers, body: await res.json() };
  };
  return { req, calls };
}

Deno.test("credits: users read their statement (signup grant passed, page bounds) and prices", async () => {
  const { req, calls } = world();
  const st = await req("?limit=10&before=99", { headers: USER });
  assert.equal(st.status, 200);
  assert.equal(st.headers.get("cache-control"), "no-store");
  assert.deepEqual(calls[0], { fn: "statement", args: [userId, 25, 10, 99] });
  for (const q of ["limit=0", "limit=201", "limit=x", "before=0", "page=2"]) {
    const r = await req(`?${q}`, { headers: USER });
    assert.equal(r.status, 400, q);
    assert.equal(r.body.error.code, "validation_failed");
  }
  assert.equal((await req("/prices", { headers: USER })).body.text_to_model, 30);
  assert.equal((await req("", {})).status, 401, "anonymous");
  assert.equal((await req("", { headers: SERVICE })).status, 401, "a key is not a user");
  assert.equal(calls.length, 1, "refused requests reach nothing");
});

Deno.test("credits: grants and prices are for the secret key only; bodies checked first", async () => {
  const { req, calls } = world();
  const grant = { user_id: userId, amount: 100, reason: "welcome" };
  assert.equal((await req("/grant", { method: "POST", headers: USER, body: grant })).status, 401);
  assert.equal(
    (await req("/prices", { method: "PUT", headers: USER, body: { text_to_model: 1 } })).status,
    401,
  );
  for (
    const bad of [
      { ...grant, amount: 0 },
      { ...grant, amount: 1.5 },
      { ...grant, user_id: "not-a-uuid" },
      { ...grant, reason: "" },
      { ...grant, extra: true },
    ]
  ) {
    const r = await req("/grant", { method: "POST", headers: SERVICE, body: bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
  const badKey = await req("/grant", {
    method: "POST",
    headers: { ...SERVICE, "idempotency-key": "has space" },
    body: grant,
  });
  assert.equal(badKey.status, 400);
  for (const bad of [{}, { text_to_model: -1 }, { gif_to_model: 3 }, { text_to_model: "3" }]) {
    const r = await req("/prices", { method: "PUT", headers: SERVICE, body: bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
  }
  assert.equal(calls.length, 0, "nothing refused reached the database");
  const ok = await req("/grant", {
    method: "POST",
    headers: { ...SERVICE, "idempotency-key": "g-1" },
    body: grant,
  });
  assert.deepEqual([ok.status, ok.body], [201, { entry_id: 7, available: 125 }]);
  assert.deepEqual(calls[0], { fn: "grant", args: [userId, 100, "welcome", "g-1"] });
  const set = await req("/prices", {
    method: "PUT",
    headers: SERVICE,
    body: { convert_model: 2, text_to_image: 4 },
  });
  assert.equal(set.status, 200);
  assert.deepEqual(calls[1], { fn: "prices", args: [{ convert_model: 2, text_to_image: 4 }] });
});

Deno.test("credits: grant outcomes map to the error table", async () => {
  const grant = { user_id: userId, amount: 5, reason: "r" };
  const post = (w: ReturnType<typeof world>) =>
    w.req("/grant", {
      method: "POST",
      headers: { ...SERVICE, "idempotency-key": "k" },
      body: grant,
    });
  const replay = await post(world({ outcome: "existing", entry_id: 7, available: 125 }));
  assert.equal(replay.status, 200);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  const conflict = await post(world({ outcome: "conflict", entry_id: null, available: null }));
  assert.deepEqual([conflict.status, conflict.body.error.code], [409, "idempotency_conflict"]);
  const nobody = await post(world({ outcome: "no_user", entry_id: null, available: null }));
  assert.deepEqual([nobody.status, nobody.body.error.code], [404, "not_found"]);
});
