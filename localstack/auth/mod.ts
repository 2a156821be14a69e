// Local stand-in for Supabase Auth (GoTrue): the subset supabase-js needs to create users, sign
// up / in with a password, refresh and end sessions, read the user, and fetch the JWKS. Wire
// formats (session and user JSON, token claims, error bodies) follow GoTrue.
import type postgres from "postgres";
import bcrypt from "bcryptjs";
import * as jose from "jose";
import { apiKeyRole, signToken, type StackKeys, verifyToken } from "../keys.ts";

export interface AuthHandlerOptions {
  /** Pool connected as the superuser `postgres` to the stack database. */
  sql: postgres.Sql;
  keys: StackKeys;
  /** e.g. http://127.0.0.1:54321 */
  publicUrl: string;
  /** Access-token lifetime in seconds; default $GOTRUE_JWT_EXP or 3600. */
  jwtExpiry?: number;
  /** Minimum password length (Supabase default 6). */
  minPasswordLength?: number;
}

interface UserRow {
  id: string;
  aud: string | null;
  role: string | null;
  email: string | null;
  encrypted_password: string | null;
  email_confirmed_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown> | null;
  raw_user_meta_data: Record<string, unknown> | null;
  is_anonymous: boolean;
  banned_until: Date | null;
  created_at: Date;
  updated_at: Date;
}

const API_VERSION = "2024-01-01";
const INSTANCE_ID = "00000000-0000-0000-0000-000000000000";
const ADMIN_ROLES = new Set(["service_role", "supabase_admin"]);
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BCRYPT_COST = 10; // GoTrue uses bcrypt's default cost
// Compared against when the email is unknown, so both failures cost the same time.
const DUMMY_HASH = bcrypt.hashSync("not-a-real-password", BCRYPT_COST);

class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const E = {
  invalidCredentials: () => new AuthError(400, "invalid_credentials", "Invalid login credentials"),
  notAdmin: () => new AuthError(403, "not_admin", "User not allowed"),
  noAuthorization: () =>
    new AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token"),
  badJwt: (why: string) => new AuthError(403, "bad_jwt", `invalid JWT: ${why}`),
  userNotFound: () => new AuthError(404, "user_not_found", "User not found"),
  validation: (msg: string) => new AuthError(400, "validation_failed", msg),
  weakPassword: (min: number) =>
    new AuthError(422, "weak_password", `Password should be at least ${min} characters.`, {
      weak_password: { reasons: ["length"] },
    }),
};

function randomToken(bytes = 16): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function envNumber(name: string): number | undefined {
  try {
    const v = Deno.env.get(name);
    return v && Number.isFinite(Number(v)) ? Number(v) : undefined;
  } catch {
    return undefined; // no env permission: defaults apply
  }
}

function iso(d: Date | null | undefined): string | null {
  return d ? new Date(d).toISOString() : null;
}

/** GoTrue's user JSON. */
function userJson(u: UserRow): Record<string, unknown> {
  const identityData = {
    email: u.email,
    email_verified: !!u.email_confirmed_at,
    phone_verified: false,
    sub: u.id,
  };
  return {
    id: u.id,
    aud: u.aud ?? "authenticated",
    role: u.role ?? "authenticated",
    email: u.email ?? "",
    email_confirmed_at: iso(u.email_confirmed_at),
    phone: "",
    confirmed_at: iso(u.email_confirmed_at),
    last_sign_in_at: iso(u.last_sign_in_at),
    app_metadata: u.raw_app_meta_data ?? {},
    user_metadata: u.raw_user_meta_data ?? {},
    identities: u.email
      ? [{
        identity_id: u.id,
        id: u.id,
        user_id: u.id,
        identity_data: identityData,
        provider: "email",
        last_sign_in_at: iso(u.last_sign_in_at ?? u.created_at),
        created_at: iso(u.created_at),
        updated_at: iso(u.updated_at),
        email: u.email,
      }]
      : [],
    created_at: iso(u.created_at),
    updated_at: iso(u.updated_at),
    is_anonymous: u.is_anonymous,
  };
}

export function createAuthHandler(opts: AuthHandlerOptions): (req: Request) => Promise<Response> {
  const { sql, keys } = opts;
  const expiry = opts.jwtExpiry ?? envNumber("GOTRUE_JWT_EXP") ?? 3600;
  const minPassword = opts.minPasswordLength ?? 6;

  function respond(body: unknown, status = 200): Response {
    return new Response(body === null ? null : JSON.stringify(body), {
      status,
      headers: {
        "content-type": "application/json",
        "x-supabase-api-version": API_VERSION,
      },
    });
  }

  function errorResponse(req: Request, e: AuthError): Response {
    // GoTrue answers clients that declare API version >= 2024-01-01 with {code, message} and
    // everyone else with the legacy {code: <status>, error_code, msg}.
    const v = req.headers.get("x-supabase-api-version");
    const versioned = v !== null && /^\d{4}-\d{2}-\d{2}$/.test(v) && v >= API_VERSION;
    const body = versioned
      ? { code: e.errorCode, message: e.message, ...e.extra }
      : { code: e.status, error_code: e.errorCode, msg: e.message, ...e.extra };
    return respond(body, e.status);
  }

  const userCols = (s: postgres.Sql | postgres.TransactionSql) =>
    s`id, aud, role, email, encrypted_password, email_confirmed_at, last_sign_in_at,
      raw_app_meta_data, raw_user_meta_data, is_anonymous, banned_until, created_at, updated_at`;

  async function userById(id: string): Promise<UserRow | null> {
    if (!UUID_RE.test(id)) return null;
    const rows = await sql<UserRow[]>`select ${userCols(sql)} from auth.users where id = ${id}`;
    return rows[0] ?? null;
  }

  async function bearerClaims(req: Request): Promise<jose.JWTPayload> {
    const token = (req.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "").trim();
    if (!token) throw E.noAuthorization();
    try {
      return await verifyToken(keys, token);
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw E.badJwt(
        code === "ERR_JWT_EXPIRED"
          ? "unable to parse or verify signature, token has invalid claims: token is expired"
          : "unable to parse or verify signature, token signature is invalid",
      );
    }
  }

  async function requireAdmin(req: Request): Promise<void> {
    const claims = await bearerClaims(req);
    if (!ADMIN_ROLES.has(String(claims.role ?? ""))) throw E.notAdmin();
  }

  /** The signed-in user and session behind a user access token. */
  async function requireUser(req: Request): Promise<{ user: UserRow; claims: jose.JWTPayload }> {
    const claims = await bearerClaims(req);
    if (typeof claims.sub !== "string" || !claims.sub) throw E.badJwt("missing sub claim");
    const user = await userById(claims.sub);
    if (!user) {
      throw new AuthError(403, "user_not_found", "User from sub claim in JWT does not exist");
    }
    if (typeof claims.session_id === "string") {
      const s = await sql`select 1 from auth.sessions where id = ${claims.session_id}`;
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
    user: UserRow,
    sessionId: string,
    refreshToken: string,
    method: string,
  ): Promise<Record<string, unknown>> {
    const now = Math.floor(Date.now() / 1000);
    const claims: jose.JWTPayload = {
      iss: keys.issuer,
      sub: user.id,
      aud: user.aud ?? "authenticated",
      exp: now + expiry,
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
      access_token: await signToken(keys, claims),
      token_type: "bearer",
      expires_in: expiry,
      expires_at: now + expiry,
      refresh_token: refreshToken,
      user: userJson(user),
    };
  }

  /** Starts a new session (sign-in or sign-up) and returns GoTrue's session JSON. */
  async function newSession(user: UserRow, method: string): Promise<Record<string, unknown>> {
    const sessionId = crypto.randomUUID();
    const token = randomToken();
    const [updated] = await sql.begin(async (tx) => {
      await tx`insert into auth.sessions (id, user_id) values (${sessionId}, ${user.id})`;
      await tx`insert into auth.refresh_tokens (token, user_id, session_id)
               values (${token}, ${user.id}, ${sessionId})`;
      return await tx<UserRow[]>`
        update auth.users set last_sign_in_at = now(), updated_at = now() where id = ${user.id}
        returning ${userCols(tx)}`;
    }) as UserRow[];
    return await issueSession(updated, sessionId, token, method);
  }

  function checkPassword(pw: unknown): string {
    if (typeof pw !== "string" || pw.length < minPassword) throw E.weakPassword(minPassword);
    // bcrypt only uses the first 72 bytes; GoTrue refuses longer passwords rather than truncate.
    if (new TextEncoder().encode(pw).length > 72) {
      throw E.validation("Password cannot be longer than 72 characters");
    }
    return pw;
  }

  function checkEmail(email: unknown): string {
    if (typeof email !== "string" || !EMAIL_RE.test(email.trim())) {
      throw E.validation("Unable to validate email address: invalid format");
    }
    return email.trim().toLowerCase();
  }

  async function createUser(input: {
    email: string;
    password: string | null;
    confirmed: boolean;
    userMetadata: Record<string, unknown>;
    appMetadata: Record<string, unknown>;
    role?: string;
    id?: string;
  }): Promise<UserRow | null> {
    const hash = input.password === null ? null : await bcrypt.hash(input.password, BCRYPT_COST);
    const app = { ...input.appMetadata, provider: "email", providers: ["email"] };
    const rows = await sql<UserRow[]>`
      insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
                              email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
      values (${INSTANCE_ID}, ${input.id ?? crypto.randomUUID()}, 'authenticated',
              ${input.role ?? "authenticated"}, ${input.email}, ${hash},
              ${input.confirmed ? new Date() : null}, ${sql.json(app as postgres.JSONValue)},
              ${sql.json(input.userMetadata as postgres.JSONValue)})
      on conflict do nothing
      returning ${userCols(sql)}`;
    return rows[0] ?? null;
  }

  function objectOr(v: unknown): Record<string, unknown> {
    return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {};
  }

  // --- endpoints --------------------------------------------------------------------------
  async function signup(body: Record<string, unknown>): Promise<Response> {
    const email = checkEmail(body.email);
    if (typeof body.password !== "string" || body.password === "") {
      throw E.validation("Signup requires a valid password");
    }
    const password = checkPassword(body.password);
    // Local Supabase confirms email sign-ups automatically (enable_confirmations = false).
    const user = await createUser({
      email,
      password,
      confirmed: true,
      userMetadata: objectOr(body.data),
      appMetadata: {},
    });
    if (!user) throw new AuthError(422, "user_already_exists", "User already registered");
    return respond(await newSession(user, "password"));
  }

  async function passwordGrant(body: Record<string, unknown>): Promise<Response> {
    const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
    const password = typeof body.password === "string" ? body.password : "";
    if (!email || !password) throw E.invalidCredentials();
    const rows = await sql<UserRow[]>`select ${
      userCols(sql)
    } from auth.users where email = ${email}`;
    const user = rows[0];
    const ok = await bcrypt.compare(password, user?.encrypted_password ?? DUMMY_HASH);
    if (!user || !user.encrypted_password || !ok) throw E.invalidCredentials();
    if (!user.email_confirmed_at) {
      throw new AuthError(400, "email_not_confirmed", "Email not confirmed");
    }
    if (user.banned_until && new Date(user.banned_until) > new Date()) {
      throw new AuthError(400, "user_banned", "User is banned");
    }
    return respond(await newSession(user, "password"));
  }

  async function refreshGrant(body: Record<string, unknown>): Promise<Response> {
    const presented = typeof body.refresh_token === "string" ? body.refresh_token : "";
    if (!presented) throw E.validation("refresh_token required");
    // One transaction with the presented token locked: two concurrent refreshes of the same
    // token cannot both rotate it.
    const outcome = await sql.begin(async (tx) => {
      const rows = await tx<
        { id: string; user_id: string; session_id: string; revoked: boolean }[]
      >`
        select id, user_id, session_id, revoked from auth.refresh_tokens
        where token = ${presented} for update`;
      const row = rows[0];
      if (!row) return { error: "not_found" as const };
      if (row.revoked) {
        // Reuse of a rotated token: treat the session as compromised and end it (GoTrue's
        // refresh token reuse detection).
        await tx`update auth.refresh_tokens set revoked = true, updated_at = now()
                 where session_id = ${row.session_id}`;
        await tx`delete from auth.sessions where id = ${row.session_id}`;
        return { error: "reused" as const };
      }
      const session = await tx`select 1 from auth.sessions where id = ${row.session_id}`;
      if (session.length === 0) return { error: "not_found" as const };
      const next = randomToken();
      await tx`update auth.refresh_tokens set revoked = true, updated_at = now() where id = ${row.id}`;
      await tx`insert into auth.refresh_tokens (token, user_id, session_id, parent)
               values (${next}, ${row.user_id}, ${row.session_id}, ${presented})`;
      await tx`update auth.sessions set refreshed_at = now(), updated_at = now()
               where id = ${row.session_id}`;
      return { next, userId: row.user_id, sessionId: row.session_id };
    });
    if ("error" in outcome) {
      throw outcome.error === "reused"
        ? new AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
        : new AuthError(
          400,
          "refresh_token_not_found",
          "Invalid Refresh Token: Refresh Token Not Found",
        );
    }
    const user = await userById(outcome.userId);
    if (!user) {
      throw new AuthError(
        400,
        "refresh_token_not_found",
        "Invalid Refresh Token: Refresh Token Not Found",
      );
    }
    return respond(await issueSession(user, outcome.sessionId, outcome.next, "token_refresh"));
  }

  async function logout(req: Request, url: URL): Promise<Response> {
    const { user, claims } = await requireUser(req);
    const scope = url.searchParams.get("scope") ?? "global";
    const sid = typeof claims.session_id === "string" ? claims.session_id : null;
    await sql.begin(async (tx) => {
      const sessions = scope === "local"
        ? await tx<{ id: string }[]>`delete from auth.sessions where id = ${sid} returning id`
        : scope === "others"
        ? await tx<{ id: string }[]>`
            delete from auth.sessions where user_id = ${user.id} and id is distinct from ${sid}
            returning id`
        : await tx<
          { id: string }[]
        >`delete from auth.sessions where user_id = ${user.id} returning id`;
      const ids = sessions.map((s) => s.id);
      if (ids.length) {
        await tx`update auth.refresh_tokens set revoked = true, updated_at = now()
                 where session_id = any(${ids}::uuid[])`;
      }
    });
    return new Response(null, { status: 204, headers: { "x-supabase-api-version": API_VERSION } });
  }

  async function adminCreate(req: Request, body: Record<string, unknown>): Promise<Response> {
    await requireAdmin(req);
    const email = checkEmail(body.email);
    const password = body.password === undefined || body.password === null
      ? null
      : checkPassword(body.password);
    if (body.id !== undefined && (typeof body.id !== "string" || !UUID_RE.test(body.id))) {
      throw E.validation("ID must conform to the uuid v4 format");
    }
    const user = await createUser({
      email,
      password,
      confirmed: body.email_confirm === true,
      userMetadata: objectOr(body.user_metadata ?? body.data),
      appMetadata: objectOr(body.app_metadata),
      role: typeof body.role === "string" ? body.role : undefined,
      id: body.id as string | undefined,
    });
    if (!user) {
      throw new AuthError(
        422,
        "email_exists",
        "A user with this email address has already been registered",
      );
    }
    return respond(userJson(user));
  }

  async function adminUpdate(
    req: Request,
    id: string,
    body: Record<string, unknown>,
  ): Promise<Response> {
    await requireAdmin(req);
    const user = await userById(id);
    if (!user) throw E.userNotFound();
    const email = body.email === undefined ? user.email : checkEmail(body.email);
    const hash = body.password === undefined
      ? user.encrypted_password
      : await bcrypt.hash(checkPassword(body.password), BCRYPT_COST);
    const confirmedAt = body.email_confirm === true
      ? user.email_confirmed_at ?? new Date()
      : body.email_confirm === false
      ? null
      : user.email_confirmed_at;
    const app = body.app_metadata === undefined
      ? user.raw_app_meta_data ?? {}
      : { ...user.raw_app_meta_data, ...objectOr(body.app_metadata) };
    const meta = body.user_metadata === undefined
      ? user.raw_user_meta_data ?? {}
      : { ...user.raw_user_meta_data, ...objectOr(body.user_metadata) };
    let banned = user.banned_until;
    if (typeof body.ban_duration === "string") {
      const m = /^(\d+)h$/.exec(body.ban_duration);
      banned = body.ban_duration === "none"
        ? null
        : m
        ? new Date(Date.now() + Number(m[1]) * 3600e3)
        : banned;
    }
    try {
      const [updated] = await sql<UserRow[]>`
        update auth.users set email = ${email}, encrypted_password = ${hash},
          email_confirmed_at = ${confirmedAt}, raw_app_meta_data = ${
        sql.json(app as postgres.JSONValue)
      },
          raw_user_meta_data = ${sql.json(meta as postgres.JSONValue)}, banned_until = ${banned},
          updated_at = now()
        where id = ${id} returning ${userCols(sql)}`;
      return respond(userJson(updated));
    } catch (err) {
      if ((err as { code?: string }).code === "23505") {
        throw new AuthError(
          422,
          "email_exists",
          "A user with this email address has already been registered",
        );
      }
      throw err;
    }
  }

  async function adminList(req: Request, url: URL): Promise<Response> {
    await requireAdmin(req);
    const page = Math.max(Number(url.searchParams.get("page") ?? 1) || 1, 1);
    const perPage = Math.min(
      Math.max(Number(url.searchParams.get("per_page") ?? 50) || 50, 1),
      1000,
    );
    const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from auth.users`;
    const rows = await sql<UserRow[]>`
      select ${userCols(sql)} from auth.users order by created_at desc, id
      limit ${perPage} offset ${(page - 1) * perPage}`;
    const res = respond({ users: rows.map(userJson), aud: "authenticated" });
    res.headers.set("x-total-count", String(n));
    const last = Math.max(1, Math.ceil(n / perPage));
    const base = `${opts.publicUrl}/auth/v1/admin/users`;
    const links = [];
    if (page < last) links.push(`<${base}?page=${page + 1}&per_page=${perPage}>; rel="next"`);
    links.push(`<${base}?page=${last}&per_page=${perPage}>; rel="last"`);
    res.headers.set("link", links.join(", "));
    return res;
  }

  async function route(req: Request, url: URL): Promise<Response> {
    const path = url.pathname.replace(/^\/auth\/v1/, "").replace(/\/+$/, "") || "/";
    const m = req.method;
    if (m === "GET" && (path === "/.well-known/jwks.json" || path === "/jwks")) {
      return respond(keys.jwks);
    }
    if (m === "GET" && path === "/health") {
      return respond({
        version: "local",
        name: "GoTrue",
        description: "MakeIt3D local Auth stand-in",
      });
    }
    // Supabase's gateway lets a request into Auth only with a project API key.
    const apikey = req.headers.get("apikey") ?? url.searchParams.get("apikey");
    if (!apikey) return respond({ message: "No API key found in request" }, 401);
    // The new keys (`sb_…`) and the legacy JWT keys alike.
    if (!(await apiKeyRole(keys, apikey))) {
      return respond({ message: "Invalid authentication credentials" }, 401);
    }

    if (m === "GET" && path === "/settings") {
      return respond({
        external: { email: true, phone: false, anonymous_users: false },
        disable_signup: false,
        mailer_autoconfirm: true,
        phone_autoconfirm: false,
        sms_provider: "",
        saml_enabled: false,
      });
    }
    const body = m === "POST" || m === "PUT" ? objectOr(await req.json().catch(() => ({}))) : {};
    if (m === "POST" && path === "/signup") return await signup(body);
    if (m === "POST" && path === "/token") {
      const grant = url.searchParams.get("grant_type");
      if (grant === "password") return await passwordGrant(body);
      if (grant === "refresh_token") return await refreshGrant(body);
      throw new AuthError(400, "unsupported_grant_type", "unsupported_grant_type");
    }
    if (m === "GET" && path === "/user") {
      return respond(userJson((await requireUser(req)).user));
    }
    if (m === "POST" && path === "/logout") return await logout(req, url);
    if (path === "/admin/users") {
      if (m === "POST") return await adminCreate(req, body);
      if (m === "GET") return await adminList(req, url);
    }
    const adm = /^\/admin\/users\/([^/]+)$/.exec(path);
    if (adm) {
      const id = decodeURIComponent(adm[1]);
      if (m === "GET") {
        await requireAdmin(req);
        const user = await userById(id);
        if (!user) throw E.userNotFound();
        return respond(userJson(user));
      }
      if (m === "PUT") return await adminUpdate(req, id, body);
      if (m === "DELETE") {
        await requireAdmin(req);
        const rows = await sql`delete from auth.users where id = ${
          UUID_RE.test(id) ? id : null
        } returning id`;
        if (rows.length === 0) throw E.userNotFound();
        return respond({});
      }
    }
    throw new AuthError(404, "not_found", "Not Found");
  }

  return async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    try {
      return await route(req, url);
    } catch (err) {
      if (err instanceof AuthError) return errorResponse(req, err);
      console.error("[auth] unexpected error", err);
      return errorResponse(req, new AuthError(500, "unexpected_failure", "Internal Server Error"));
    }
  };
}
