// Sessions and tokens: who a bearer is, signing up and in, refresh-token rotation (with
// GoTrue's reuse detection) and sign-out. What GoTrue does in a transaction is ONE statement
// here (see ../db/standin_pool.ts): the writes ride in data-modifying CTEs of that statement.
import bcrypt from "bcryptjs";
import type * as jose from "jose";
import { signToken, verifyToken } from "../keys.ts";
import type { AuthContext } from "./context.ts";
import { API_VERSION, AuthError, E, respond } from "./errors.ts";
import {
  BCRYPT_COST,
  checkEmail,
  checkPassword,
  createUser,
  objectOr,
  userByEmail,
  userById,
  userCols,
  userJson,
  type UserRow,
} from "./users.ts";

const ADMIN_ROLES = new Set(["service_role", "supabase_admin"]);
// Compared against when the email is unknown, so both failures cost the same time.
const DUMMY_HASH = bcrypt.hashSync("not-a-real-password", BCRYPT_COST);

function randomToken(bytes = 16): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function bearerClaims(ctx: AuthContext, req: Request): Promise<jose.JWTPayload> {
  const token = (req.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "").trim();
  if (!token) throw E.noAuthorization();
  try {
    return await verifyToken(ctx.keys, token);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw E.badJwt(
      code === "ERR_JWT_EXPIRED"
        ? "unable to parse or verify signature, token has invalid claims: token is expired"
        : "unable to parse or verify signature, token signature is invalid",
    );
  }
}

export async function requireAdmin(ctx: AuthContext, req: Request): Promise<void> {
  const claims = await bearerClaims(ctx, req);
  if (!ADMIN_ROLES.has(String(claims.role ?? ""))) throw E.notAdmin();
}

/** The signed-in user and session behind a user access token. */
export async function requireUser(
  ctx: AuthContext,
  req: Request,
): Promise<{ user: UserRow; claims: jose.JWTPayload }> {
  const claims = await bearerClaims(ctx, req);
  if (typeof claims.sub !== "string" || !claims.sub) throw E.badJwt("missing sub claim");
  const user = await userById(ctx, claims.sub);
  if (!user) {
    throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
  }
  if (typeof claims.session_id === "string") {
    const s = await ctx.sql`select 1 from auth.sessions where id = ${claims.session_id}`;
    if (s.length === 0) {
      throw new AuthError(
        403,
        "session_not_found",
        "Session from session_id claim in JWT does not exist",
      );
    }
  }
  return { user, claims };
}

async function issueSession(
  ctx: AuthContext,
  user: UserRow,
  sessionId: string,
  refreshToken: string,
  method: string,
): Promise<Record<string, unknown>> {
  const now = Math.floor(Date.now() / 1000);
  const claims: jose.JWTPayload = {
    iss: ctx.keys.issuer,
    sub: user.id,
    aud: user.aud ?? "authenticated",
    exp: now + ctx.expiry,
    iat: now,
    email: user.email ?? "",
    phone: "",
    app_metadata: user.raw_app_meta_data ?? {},
    user_metadata: user.raw_user_meta_data ?? {},
    role: user.role ?? "authenticated",
    aal: "aal1",
    amr: [{ method, timestamp: now }],
    session_id: sessionId,
    is_anonymous: user.is_anonymous,
  };
  return {
    access_token: await signToken(ctx.keys, claims),
    token_type: "bearer",
    expires_in: ctx.expiry,
    expires_at: now + ctx.expiry,
    refresh_token: refreshToken,
    user: userJson(user),
  };
}

/** Starts a new session (sign-in or sign-up) and returns GoTrue's session JSON. */
async function newSession(
  ctx: AuthContext,
  user: UserRow,
  method: string,
): Promise<Record<string, unknown>> {
  const { sql } = ctx;
  const sessionId = crypto.randomUUID();
  const token = randomToken();
  // The session and its first refresh token are written by the CTEs, which run even unread.
  const [updated] = await sql<UserRow[]>`
    with s as (insert into auth.sessions (id, user_id) values (${sessionId}, ${user.id})),
    r as (insert into auth.refresh_tokens (token, user_id, session_id)
          values (${token}, ${user.id}, ${sessionId}))
    update auth.users set last_sign_in_at = now(), updated_at = now() where id = ${user.id}
    returning ${userCols(sql)}`;
  if (!updated) throw E.unexpected(); // the user went meanwhile
  return await issueSession(ctx, updated, sessionId, token, method);
}

export async function signup(ctx: AuthContext, body: Record<string, unknown>): Promise<Response> {
  const email = checkEmail(body.email);
  if (typeof body.password !== "string" || body.password === "") {
    throw E.validation("Signup requires a valid password");
  }
  const password = checkPassword(ctx, body.password);
  // Local Supabase confirms email sign-ups automatically (enable_confirmations = false).
  const user = await createUser(ctx, {
    email,
    password,
    confirmed: true,
    userMetadata: objectOr(body.data),
    appMetadata: {},
  });
  if (!user) throw new AuthError(422, "user_already_exists", "User already registered");
  return respond(await newSession(ctx, user, "password"));
}

export async function passwordGrant(
  ctx: AuthContext,
  body: Record<string, unknown>,
): Promise<Response> {
  const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
  const password = typeof body.password === "string" ? body.password : "";
  if (!email || !password) throw E.invalidCredentials();
  const user = await userByEmail(ctx, email);
  const ok = await bcrypt.compare(password, user?.encrypted_password ?? DUMMY_HASH);
  if (!user || !user.encrypted_password || !ok) throw E.invalidCredentials();
  if (!user.email_confirmed_at) {
    throw new AuthError(400, "email_not_confirmed", "Email not confirmed");
  }
  if (user.banned_until && new Date(user.banned_until) > new Date()) {
    throw new AuthError(400, "user_banned", "User is banned");
  }
  return respond(await newSession(ctx, user, "password"));
}

export async function refreshGrant(
  ctx: AuthContext,
  body: Record<string, unknown>,
): Promise<Response> {
  const presented = typeof body.refresh_token === "string" ? body.refresh_token : "";
  if (!presented) throw E.validation("refresh_token required");
  const next = randomToken();
  // One statement with the presented token locked first (`tok`, FOR UPDATE, read by every
  // other part): two concurrent refreshes of the same token cannot both rotate it. A live
  // token of a live session is rotated; a revoked one is reuse (GoTrue's refresh token reuse
  // detection): the session is treated as compromised and ended.
  const [r] = await ctx.sql<
    { found: number; reused: number; user_id: string | null; session_id: string | null }[]
  >`
    with tok as (
      select id, user_id, session_id, revoked from auth.refresh_tokens
      where token = ${presented} for update
    ), live as (
      select tok.* from tok
      where not tok.revoked and exists (select 1 from auth.sessions s where s.id = tok.session_id)
    ), rotate as (
      update auth.refresh_tokens t set revoked = true, updated_at = now()
      from live where t.id = live.id
    ), successor as (
      insert into auth.refresh_tokens (token, user_id, session_id, parent)
      select ${next}, user_id, session_id, ${presented} from live
    ), touch as (
      update auth.sessions s set refreshed_at = now(), updated_at = now()
      from live where s.id = live.session_id
    ), reused as (
      select session_id from tok where tok.revoked
    ), revoke_all as (
      update auth.refresh_tokens t set revoked = true, updated_at = now()
      from reused where t.session_id = reused.session_id
    ), end_session as (
      delete from auth.sessions s using reused where s.id = reused.session_id
    )
    select (select count(*) from tok)::int as found, (select count(*) from reused)::int as reused,
           live.user_id, live.session_id
    from (select 1) as one left join live on true`;
  if (r.found > 0 && r.reused > 0) {
    throw new AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used");
  }
  if (!r.user_id || !r.session_id) throw E.refreshTokenNotFound();
  const user = await userById(ctx, r.user_id);
  if (!user) throw E.refreshTokenNotFound();
  return respond(await issueSession(ctx, user, r.session_id, next, "token_refresh"));
}

export async function logout(ctx: AuthContext, req: Request, url: URL): Promise<Response> {
  const { sql } = ctx;
  const { user, claims } = await requireUser(ctx, req);
  const scope = url.searchParams.get("scope") ?? "global";
  const sid = typeof claims.session_id === "string" ? claims.session_id : null;
  const which = scope === "local"
    ? sql`id = ${sid}`
    : scope === "others"
    ? sql`user_id = ${user.id} and id is distinct from ${sid}`
    : sql`user_id = ${user.id}`;
  // The ended sessions' refresh tokens are revoked in the same statement.
  await sql`
    with ended as (delete from auth.sessions where ${which} returning id)
    update auth.refresh_tokens set revoked = true, updated_at = now()
    where session_id in (select id from ended)`;
  return new Response(null, { status: 204, headers: { "x-supabase-api-version": API_VERSION } });
}
