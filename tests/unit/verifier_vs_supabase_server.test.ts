// The asymmetric path of the user-token check (auth.ts, jose with the JWKS) held to the answers
// of Supabase's own library, @supabase/server's `verifyCredentials` in `user` mode with the
// `authenticated` audience. For every token below: ours accepts only if the library accepts,
// and where the library accepts and ours refuses, the reason is one of our own user rules (role
// `authenticated`, a UUID `sub`, an `exp`), which the library leaves to the caller. We keep our
// own verifier for cold starts (the library pulls in supabase-js on import); see BENCHMARKS.md.
import assert from "node:assert/strict";
import * as jose from "jose";
import { verifyCredentials } from "@supabase/server/core";
import { createTokenVerifier } from "../../supabase/functions/_shared/auth.ts";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";

const es = await jose.generateKeyPair("ES256", { extractable: true });
const rs = await jose.generateKeyPair("RS256", { extractable: true });
const stranger = await jose.generateKeyPair("ES256");
const jwks = {
  keys: [
    { ...(await jose.exportJWK(es.publicKey)), kid: "es-1", alg: "ES256", use: "sig" },
    { ...(await jose.exportJWK(rs.publicKey)), kid: "rs-1", alg: "RS256", use: "sig" },
  ],
};
const url = "https://ref.supabase.co";
const config = loadConfig({
  SUPABASE_URL: url,
  SUPABASE_PUBLISHABLE_KEY: "sb_publishable_x",
  SUPABASE_JWKS: JSON.stringify(jwks),
  SUPABASE_DB_URL: "postgres://unused",
}, { userTokens: true });
const ours = createTokenVerifier(config);

const now = Math.floor(Date.now() / 1000);
const sub = crypto.randomUUID();
const good = { sub, role: "authenticated", aud: "authenticated", iat: now, exp: now + 600 };

function sign(
  claims: jose.JWTPayload,
  header: jose.JWTHeaderParameters = { alg: "ES256", kid: "es-1", typ: "JWT" },
  key: CryptoKey = es.privateKey,
): Promise<string> {
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
}
const b64 = (v: unknown) =>
  btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-")
    .replace(/\//g, "_");

const cases: Record<string, string> = {
  "valid ES256": await sign(good),
  "valid RS256": await sign(good, { alg: "RS256", kid: "rs-1" }, rs.privateKey),
  "valid, audience list": await sign({ ...good, aud: ["other", "authenticated"] }),
  "valid, with app_metadata": await sign({ ...good, app_metadata: { operator: true } }),
  "expired": await sign({ ...good, exp: now - 10 }),
  "not yet valid (nbf)": await sign({ ...good, nbf: now + 600 }),
  "no kid": await sign(good, { alg: "ES256" }),
  "unknown kid": await sign(good, { alg: "ES256", kid: "nope" }),
  "a stranger's key with our kid": await sign(
    good,
    { alg: "ES256", kid: "es-1" },
    stranger.privateKey,
  ),
  "payload changed after signing": await (async () => {
    const [h, , s] = (await sign(good)).split(".");
    return [h, b64({ ...good, sub: crypto.randomUUID() }), s].join(".");
  })(),
  "alg none": `${b64({ alg: "none", kid: "es-1" })}.${b64(good)}.`,
  "HS256 (no secret configured)": await new jose.SignJWT(good)
    .setProtectedHeader({ alg: "HS256", kid: "es-1" })
    .sign(new TextEncoder().encode("a-secret-that-is-not-configured-here-0000")),
  "kid of the RSA key on an ES256 token": await sign(good, { alg: "ES256", kid: "rs-1" }),
  "wrong audience": await sign({ ...good, aud: "anon" }),
  "no audience": await sign({ sub, role: "authenticated", iat: now, exp: now + 600 }),
  "no sub": await sign({ role: "authenticated", aud: "authenticated", exp: now + 600 }),
  "sub not a UUID": await sign({ ...good, sub: "user-1" }),
  "role anon": await sign({ ...good, role: "anon" }),
  "role service_role": await sign({ ...good, role: "service_role" }),
  "no exp": await sign({ sub, role: "authenticated", aud: "authenticated", iat: now }),
  "exp as a string": await sign({ ...good, exp: String(now + 600) as unknown as number }),
  "crit header": await sign(
    good,
    { alg: "ES256", kid: "es-1", crit: ["x"], x: 1 } as jose.JWTHeaderParameters,
  )
    .catch(() => `${b64({ alg: "ES256", kid: "es-1", crit: ["x"] })}.${b64(good)}.sig`),
  "an API key": "sb_publishable_x",
  "garbage": "not.a.jwt",
};

const OUR_RULES = new Set(["no sub", "sub not a UUID", "role anon", "role service_role", "no exp"]);

Deno.test("our JWKS check accepts nothing @supabase/server refuses", async () => {
  const answers: Record<string, { lib: boolean; ours: boolean }> = {};
  for (const [name, token] of Object.entries(cases)) {
    const lib = await verifyCredentials({ token, apikey: null }, {
      auth: "user",
      audience: "authenticated",
      env: { url, publishableKeys: {}, secretKeys: {}, jwks },
    });
    const mine = await ours(token).then(() => true, () => false);
    // A second use (answered from the verified tokens, when the first was accepted) says the same.
    const again = await ours(token).then(() => true, () => false);
    assert.equal(again, mine, `${name}: a second use answers differently`);
    answers[name] = { lib: lib.error === null, ours: mine };
    if (mine) assert.ok(lib.error === null, `${name}: ours accepts what the library refuses`);
    if (lib.error === null && !mine) {
      assert.ok(OUR_RULES.has(name), `${name}: the library accepts it and we refuse it`);
    }
  }
  // The table means something: both accept the valid ones, both refuse the forgeries.
  for (const name of ["valid ES256", "valid RS256", "valid, audience list"]) {
    assert.deepEqual(answers[name], { lib: true, ours: true }, name);
  }
  for (const name of ["expired", "unknown kid", "a stranger's key with our kid", "alg none"]) {
    assert.deepEqual(answers[name], { lib: false, ours: false }, name);
  }
  for (const name of OUR_RULES) assert.equal(answers[name].ours, false, name);
});

Deno.test("a verified user carries its id and app_metadata", async () => {
  const user = await ours(cases["valid, with app_metadata"]);
  assert.equal(user.id, sub);
  assert.deepEqual(user.appMetadata, { operator: true });
});

Deno.test("a token verified before keeps the library's answer once it expires", async () => {
  // At least a second of validity left for the first checks, whatever the clock's fraction.
  const exp = Math.floor(Date.now() / 1000) + 2;
  const token = await sign({ ...good, iat: exp - 1, exp });
  const lib = () =>
    verifyCredentials({ token, apikey: null }, {
      auth: "user",
      audience: "authenticated",
      env: { url, publishableKeys: {}, secretKeys: {}, jwks },
    }).then((r) => r.error === null);
  const mine = () => ours(token).then(() => true, () => false);
  assert.deepEqual([await lib(), await mine(), await mine()], [true, true, true]);
  await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
  assert.deepEqual([await lib(), await mine()], [false, false]);
  await assert.rejects(ours(token), /expired/);
});

Deno.test("past the bound of the verified tokens, every token still gets its own user", async () => {
  const tokens = await Promise.all(
    Array.from({ length: 1_100 }, () => sign({ ...good, sub: crypto.randomUUID() })),
  );
  for (const t of tokens) assert.equal((await ours(t)).token, t);
  // The first ones were pushed out and are verified again; the last ones come from memory.
  for (const t of [tokens[0], tokens[1_099]]) {
    assert.equal((await ours(t)).id, jose.decodeJwt(t).sub);
  }
});
