// Configuration as the platform provides it (SPEC §6): the new key variables first, the legacy
// ones only as fallbacks, nothing legacy required, and a misconfiguration named at boot.
import assert from "node:assert/strict";
import {
  ConfigError,
  type ConfigNeeds,
  loadConfig,
} from "../../supabase/functions/_shared/config.ts";

const JWKS = { keys: [{ kty: "EC", crv: "P-256", x: "x", y: "y", kid: "k1", alg: "ES256" }] };
const current = {
  SUPABASE_URL: "https://ref.supabase.co",
  SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({
    default: "sb_publishable_a",
    web: "sb_publishable_w",
  }),
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: "sb_secret_a" }),
  SUPABASE_JWKS: JSON.stringify(JWKS),
  SUPABASE_DB_URL: "postgres://postgres.ref:pw@pooler.supabase.com:6543/postgres",
};
const legacy = {
  SUPABASE_URL: "https://ref.supabase.co",
  SUPABASE_ANON_KEY: "eyJ.anon.key",
  SUPABASE_SERVICE_ROLE_KEY: "eyJ.service.key",
  SUPABASE_JWT_SECRET: "a-legacy-jwt-secret-of-at-least-32-characters",
  SUPABASE_DB_URL: "postgres://postgres@db:5432/postgres",
};
const all: ConfigNeeds = { userTokens: true, secretKey: true };

function problems(env: Record<string, string>, needs = all): string {
  try {
    loadConfig(env, needs);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("a project with only the new keys and a JWKS: the default keys are used", () => {
  const c = loadConfig(current, all);
  assert.equal(c.publishableKey, "sb_publishable_a");
  assert.equal(c.secretKey, "sb_secret_a");
  assert.deepEqual(c.SUPABASE_JWKS, JWKS);
  assert.equal(c.SUPABASE_JWT_SECRET, undefined);
  assert.equal(c.PROCESS_JOBS_SECRET, undefined, "no process-jobs secret is needed");
});

Deno.test("a legacy project: JWT keys and the HS256 secret", () => {
  const c = loadConfig(legacy, all);
  assert.equal(c.publishableKey, "eyJ.anon.key");
  assert.equal(c.secretKey, "eyJ.service.key");
  assert.equal(c.SUPABASE_JWKS, undefined);
  assert.equal(c.legacyJwtSecret, legacy.SUPABASE_JWT_SECRET);
});

Deno.test("the legacy JWT secret as JWT_SECRET, the name a hosted project can set", () => {
  // `supabase secrets set` refuses names starting with SUPABASE_, and the platform provisions
  // no JWT secret: on a hosted legacy project this is the only way to configure one.
  const { SUPABASE_JWT_SECRET: secret, ...rest } = legacy;
  const c = loadConfig({ ...rest, JWT_SECRET: secret }, all);
  assert.equal(c.legacyJwtSecret, secret);
  // SPEC §6's name wins where both are set; neither is needed where a JWKS is.
  const both = loadConfig({ ...legacy, JWT_SECRET: "another-secret-of-at-least-32-characters" });
  assert.equal(both.legacyJwtSecret, secret);
  assert.equal(loadConfig(current, all).legacyJwtSecret, undefined);
  assert.match(
    problems(rest),
    /SUPABASE_JWKS: required to verify user tokens \(or the legacy JWT secret as JWT_SECRET\)/,
  );
  assert.match(problems({ ...rest, JWT_SECRET: "short" }), /JWT_SECRET/);
});

Deno.test("new keys win over singular and legacy ones; a bare JWKS array is accepted", () => {
  const c = loadConfig({
    ...legacy,
    ...current,
    SUPABASE_PUBLISHABLE_KEY: "sb_publishable_single",
    SUPABASE_JWKS: JSON.stringify(JWKS.keys),
  }, all);
  assert.equal(c.publishableKey, "sb_publishable_a");
  assert.equal(c.secretKey, "sb_secret_a");
  assert.deepEqual(c.SUPABASE_JWKS, JWKS);
  const single = loadConfig({
    ...current,
    SUPABASE_PUBLISHABLE_KEYS: "",
    SUPABASE_SECRET_KEYS: "",
    SUPABASE_PUBLISHABLE_KEY: "sb_publishable_single",
    SUPABASE_SECRET_KEY: "sb_secret_single",
  }, all);
  assert.equal(single.publishableKey, "sb_publishable_single");
  assert.equal(single.secretKey, "sb_secret_single");
  // A map without `default` still yields its key.
  const named = loadConfig({ ...current, SUPABASE_SECRET_KEYS: '{"internal":"sb_secret_i"}' }, all);
  assert.equal(named.secretKey, "sb_secret_i");
});

Deno.test("misconfigurations fail at boot naming the variable", () => {
  assert.match(problems({ ...current, SUPABASE_URL: "" }), /SUPABASE_URL/);
  assert.match(
    problems({ ...current, SUPABASE_PUBLISHABLE_KEYS: "{not json" }),
    /SUPABASE_PUBLISHABLE_KEYS/,
  );
  assert.match(problems({ ...current, SUPABASE_SECRET_KEYS: "[]" }), /SUPABASE_SECRET_KEYS/);
  assert.match(problems({ ...current, SUPABASE_JWKS: '{"keys":"x"}' }), /SUPABASE_JWKS/);
  const noJwks = { ...current, SUPABASE_JWKS: "" };
  assert.match(problems(noJwks), /SUPABASE_JWKS: required to verify user tokens/);
  const noSecret = { ...current, SUPABASE_SECRET_KEYS: "" };
  assert.match(problems(noSecret), /SUPABASE_SECRET_KEYS: required/);
  // task-status needs no secret key; a function that verifies no user needs no JWKS.
  assert.ok(loadConfig(noSecret, { userTokens: true }));
  assert.ok(loadConfig(noJwks, { secretKey: true }));
  const { SUPABASE_PUBLISHABLE_KEYS: _, ...noPublishable } = current;
  assert.match(problems(noPublishable), /SUPABASE_PUBLISHABLE_KEYS: required/);
  assert.match(
    problems(current, { ...all, providers: true }),
    /TRIPO_API_KEY: required[\s\S]*OPENAI_API_KEY: required/,
  );
  assert.match(problems({ ...legacy, SUPABASE_JWT_SECRET: "short" }), /SUPABASE_JWT_SECRET/);
});

Deno.test("the connection budget: two per user-facing isolate, four for process-jobs", () => {
  assert.equal(loadConfig(current, all).dbPoolSize, 2);
  assert.equal(
    loadConfig({ ...current, TRIPO_API_KEY: "t", OPENAI_API_KEY: "o" }, { ...all, providers: true })
      .dbPoolSize,
    4,
  );
  assert.equal(loadConfig({ ...current, DB_POOL_SIZE: "6" }, all).dbPoolSize, 6);
});
