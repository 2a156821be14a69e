// The Auth stand-in, driven through supabase-js (auth-js) exactly as the app and the BFF use it.
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import * as jose from "jose";
import bcrypt from "bcryptjs";
import postgres from "postgres";
import { stack } from "../_helpers/stack.ts";

const opts = {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
};
const anon = (): SupabaseClient => createClient(stack.url, stack.anonKey, opts);
const admin = (): SupabaseClient => createClient(stack.url, stack.serviceRoleKey, opts);
const email = () => `auth-${crypto.randomUUID()}@example.com`;
const PASSWORD = "correct-horse-battery";

async function newUser(): Promise<{ id: string; email: string }> {
  const e = email();
  const { data, error } = await admin().auth.admin.createUser({
    email: e,
    password: PASSWORD,
    email_confirm: true,
  });
  assert.deepEqual(error, null);
  return { id: data.user!.id, email: e };
}

Deno.test("admin.createUser works with the service key and is refused with the anon key", async () => {
  const e = email();
  const { data, error } = await admin().auth.admin.createUser({
    email: e,
    password: PASSWORD,
    email_confirm: true,
    user_metadata: { name: "Ada" },
  });
  assert.deepEqual(error, null);
  const u = data.user!;
  assert.deepEqual(u.email, e);
  assert.deepEqual(u.aud, "authenticated");
  assert.deepEqual(u.role, "authenticated");
  assert.deepEqual(u.app_metadata, { provider: "email", providers: ["email"] });
  assert.deepEqual(u.user_metadata, { name: "Ada" });
  assert(u.email_confirmed_at);

  const refused = await anon().auth.admin.createUser({ email: email(), password: PASSWORD });
  assert.deepEqual(refused.data.user, null);
  assert.deepEqual(refused.error?.status, 403);
  assert.deepEqual(refused.error?.code, "not_admin");

  const dup = await admin().auth.admin.createUser({ email: e, password: PASSWORD });
  assert.deepEqual(dup.error?.status, 422);
  assert.deepEqual(dup.error?.code, "email_exists");
});

Deno.test("signUp returns a session; a second signUp and a weak password are refused", async () => {
  const e = email();
  const { data, error } = await anon().auth.signUp({
    email: e,
    password: PASSWORD,
    options: { data: { plan: "free" } },
  });
  assert.deepEqual(error, null);
  assert(data.session?.access_token);
  assert.deepEqual(data.session?.token_type, "bearer");
  assert.deepEqual(data.user?.email, e);
  assert.deepEqual(data.user?.user_metadata, { plan: "free" });

  const again = await anon().auth.signUp({ email: e, password: PASSWORD });
  assert.deepEqual(again.error?.status, 422);
  assert.deepEqual(again.error?.code, "user_already_exists");

  const weak = await anon().auth.signUp({ email: email(), password: "123" });
  assert.deepEqual(weak.error?.status, 422);
  assert.deepEqual(weak.error?.code, "weak_password");
  assert.deepEqual((weak.error as unknown as { reasons: string[] }).reasons, ["length"]);
});

Deno.test("signInWithPassword: right password gives a GoTrue session, wrong one is refused", async () => {
  const u = await newUser();
  const c = anon();
  const { data, error } = await c.auth.signInWithPassword({ email: u.email, password: PASSWORD });
  assert.deepEqual(error, null);
  const s = data.session!;
  assert.deepEqual(s.token_type, "bearer");
  assert.deepEqual(s.user.id, u.id);
  assert(s.refresh_token.length >= 12);
  assert(s.expires_in > 0);
  assert.deepEqual(s.expires_at, jose.decodeJwt(s.access_token).exp);

  const claims = jose.decodeJwt(s.access_token);
  assert.deepEqual(claims.iss, `${stack.url}/auth/v1`);
  assert.deepEqual(claims.sub, u.id);
  assert.deepEqual(claims.aud, "authenticated");
  assert.deepEqual(claims.role, "authenticated");
  assert.deepEqual(claims.email, u.email);
  assert.deepEqual(claims.is_anonymous, false);
  assert.deepEqual(claims.exp! - claims.iat!, s.expires_in);
  assert.deepEqual(typeof claims.session_id, "string");
  assert.deepEqual(claims.app_metadata, { provider: "email", providers: ["email"] });

  const wrong = await anon().auth.signInWithPassword({ email: u.email, password: "nope-nope" });
  assert.deepEqual(wrong.data.session, null);
  assert.deepEqual(wrong.error?.status, 400);
  assert.deepEqual(wrong.error?.code, "invalid_credentials");
  const unknown = await anon().auth.signInWithPassword({ email: email(), password: PASSWORD });
  assert.deepEqual(unknown.error?.code, "invalid_credentials");
});

Deno.test("getUser reads the user behind a token; a forged token is refused", async () => {
  const u = await newUser();
  const c = anon();
  const { data } = await c.auth.signInWithPassword({ email: u.email, password: PASSWORD });
  const got = await c.auth.getUser(data.session!.access_token);
  assert.deepEqual(got.error, null);
  assert.deepEqual(got.data.user?.id, u.id);
  assert.deepEqual(got.data.user?.email, u.email);

  const forged = await new jose.SignJWT({ sub: u.id, role: "authenticated", aud: "authenticated" })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode("not-the-stack-secret-but-long-enough-1234"));
  const bad = await anon().auth.getUser(forged);
  assert.deepEqual(bad.data.user, null);
  assert.deepEqual(bad.error?.status, 403);
  assert.deepEqual(bad.error?.code, "bad_jwt");
});

Deno.test("refreshSession rotates the refresh token; reusing a rotated one is refused", async () => {
  const u = await newUser();
  const c = anon();
  const { data } = await c.auth.signInWithPassword({ email: u.email, password: PASSWORD });
  const first = data.session!;
  const r = await anon().auth.refreshSession({ refresh_token: first.refresh_token });
  assert.deepEqual(r.error, null);
  const second = r.data.session!;
  assert.notEqual(second.refresh_token, first.refresh_token);
  assert.deepEqual(
    jose.decodeJwt(second.access_token).session_id,
    jose.decodeJwt(first.access_token).session_id,
  );
  assert.deepEqual(second.user.id, u.id);

  const reuse = await anon().auth.refreshSession({ refresh_token: first.refresh_token });
  assert.deepEqual(reuse.data.session, null);
  assert.deepEqual(reuse.error?.status, 400);
  assert.deepEqual(reuse.error?.code, "refresh_token_already_used");
  // Reuse means the token leaked: the whole session ends, including its newest token.
  const after = await anon().auth.refreshSession({ refresh_token: second.refresh_token });
  assert.deepEqual(after.error?.status, 400);

  const unknown = await anon().auth.refreshSession({ refresh_token: "does-not-exist" });
  assert.deepEqual(unknown.error?.code, "refresh_token_not_found");
});

Deno.test("signOut ends the session for getUser and refresh", async () => {
  const u = await newUser();
  const c = anon();
  const { data } = await c.auth.signInWithPassword({ email: u.email, password: PASSWORD });
  const s = data.session!;
  const out = await c.auth.signOut();
  assert.deepEqual(out.error, null);
  const got = await anon().auth.getUser(s.access_token);
  assert.deepEqual(got.data.user, null);
  assert(got.error);
  const r = await anon().auth.refreshSession({ refresh_token: s.refresh_token });
  assert.deepEqual(r.error?.status, 400);
});

Deno.test("JWKS is served on both paths and an ES256 token verifies against it", async () => {
  for (const path of ["/auth/v1/.well-known/jwks.json", "/auth/v1/jwks"]) {
    const res = await fetch(`${stack.url}${path}`);
    assert.deepEqual(res.status, 200);
    const body = await res.json();
    assert.deepEqual(body, JSON.parse(stack.jwks));
    assert.deepEqual(body.keys[0].alg, "ES256");
    assert.deepEqual(body.keys[0].d, undefined); // public part only
  }
  const u = await newUser();
  const { data } = await anon().auth.signInWithPassword({ email: u.email, password: PASSWORD });
  const session = data.session!;
  const jwks = jose.createRemoteJWKSet(new URL(`${stack.url}/auth/v1/.well-known/jwks.json`));

  // Sessions are signed with whatever the stack is configured for; check it either way.
  const alg = jose.decodeProtectedHeader(session.access_token).alg;
  if (alg === "ES256") {
    await jose.jwtVerify(session.access_token, jwks, { issuer: `${stack.url}/auth/v1` });
  } else {
    assert.deepEqual(alg, "HS256");
    await jose.jwtVerify(session.access_token, new TextEncoder().encode(stack.jwtSecret));
  }

  // An ES256 token for the same session (as the stack issues in ES256 mode) verifies through
  // the served JWKS and is accepted by /auth/v1/user.
  const jwk = JSON.parse(stack.es256PrivateJwk);
  const key = await jose.importJWK(jwk, "ES256");
  const es = await new jose.SignJWT({ ...jose.decodeJwt(session.access_token) })
    .setProtectedHeader({ alg: "ES256", kid: jwk.kid, typ: "JWT" })
    .sign(key);
  const { payload } = await jose.jwtVerify(es, jwks, { issuer: `${stack.url}/auth/v1` });
  assert.deepEqual(payload.sub, u.id);
  const got = await anon().auth.getUser(es);
  assert.deepEqual(got.error, null);
  assert.deepEqual(got.data.user?.id, u.id);
});

Deno.test("passwords are stored as bcrypt hashes", async () => {
  const u = await newUser();
  const sql = postgres(stack.dbUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ encrypted_password: string }[]>`
      select encrypted_password from auth.users where id = ${u.id}`;
    assert.match(row.encrypted_password, /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/);
    assert(!row.encrypted_password.includes(PASSWORD));
    assert(await bcrypt.compare(PASSWORD, row.encrypted_password));
  } finally {
    await sql.end();
  }
});

Deno.test("admin get and delete a user; a deleted user can no longer sign in", async () => {
  const u = await newUser();
  const a = admin();
  const got = await a.auth.admin.getUserById(u.id);
  assert.deepEqual(got.error, null);
  assert.deepEqual(got.data.user?.email, u.email);
  const del = await a.auth.admin.deleteUser(u.id);
  assert.deepEqual(del.error, null);
  const gone = await a.auth.admin.getUserById(u.id);
  assert.deepEqual(gone.error?.status, 404);
  assert.deepEqual(gone.error?.code, "user_not_found");
  const signIn = await anon().auth.signInWithPassword({ email: u.email, password: PASSWORD });
  assert.deepEqual(signIn.error?.code, "invalid_credentials");
  const refused = await anon().auth.admin.getUserById(crypto.randomUUID());
  assert.deepEqual(refused.error?.status, 403);
});

Deno.test("requests without a project API key are refused like the Supabase gateway does", async () => {
  const res = await fetch(`${stack.url}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "x@example.com", password: PASSWORD }),
  });
  assert.deepEqual(res.status, 401);
  assert.deepEqual((await res.json()).message, "No API key found in request");
  // Without the API-version header GoTrue answers with its legacy error shape.
  const legacy = await fetch(`${stack.url}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { "content-type": "application/json", apikey: stack.anonKey },
    body: JSON.stringify({ email: "nobody@example.com", password: PASSWORD }),
  });
  assert.deepEqual(legacy.status, 400);
  assert.deepEqual(await legacy.json(), {
    code: 400,
    error_code: "invalid_credentials",
    msg: "Invalid login credentials",
  });
});
