// The stand-in gives functions what the platform gives them (SPEC §6, platform_2026.md): the
// variables it provisions, and the project's secrets under names a project can set.
import assert from "node:assert/strict";
import { type EnvKeys, PASSED_THROUGH, platformEnv } from "../../localstack/platform_env.ts";

const keys: EnvKeys = {
  jwtSecret: "a-legacy-jwt-secret-of-at-least-32-characters",
  publishableKey: "sb_publishable_x",
  secretKey: "sb_secret_x",
  anonKey: "eyJ.anon",
  serviceRoleKey: "eyJ.service",
  jwks: { keys: [] },
};
const base = { url: "http://127.0.0.1:54321", keys, dbUrl: "postgres://pooler:6432/db" };
// What the platform provisions itself (platform_2026.md, "Variables every Edge Function gets").
const PROVISIONED = new Set([
  "SUPABASE_URL",
  "SUPABASE_DB_URL",
  "SUPABASE_PUBLISHABLE_KEYS",
  "SUPABASE_SECRET_KEYS",
  "SUPABASE_JWKS",
  "SUPABASE_ANON_KEY",
  "SUPABASE_SERVICE_ROLE_KEY",
]);

Deno.test("a current project gets the new keys and the JWKS, nothing legacy", () => {
  assert.deepEqual(Object.keys(platformEnv("current", base)).sort(), [
    "SUPABASE_DB_URL",
    "SUPABASE_JWKS",
    "SUPABASE_PUBLISHABLE_KEYS",
    "SUPABASE_SECRET_KEYS",
    "SUPABASE_URL",
  ]);
});

Deno.test("a legacy project's JWT secret is a secret its operator set: JWT_SECRET", () => {
  const env = platformEnv("legacy", base);
  assert.equal(env.JWT_SECRET, keys.jwtSecret);
  // The platform provisions no JWT secret, and `supabase secrets set` skips SUPABASE_ names:
  // every SUPABASE_ variable a function sees is one the platform itself provides.
  const notProvisioned = Object.keys(env).filter((k) =>
    k.startsWith("SUPABASE_") && !PROVISIONED.has(k)
  );
  assert.deepEqual(notProvisioned, []);
  assert.ok(PASSED_THROUGH.every((k) => !k.startsWith("SUPABASE_")));
});
