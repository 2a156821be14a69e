// auth.users: GoTrue's user JSON, input checks, and the user statements (each ONE statement;
// see ../db/standin_pool.ts).
import type postgres from "postgres";
import bcrypt from "bcryptjs";
import type { AuthContext } from "./context.ts";
import { E } from "./errors.ts";

export interface UserRow {
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

const INSTANCE_ID = "00000000-0000-0000-0000-000000000000";
const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const BCRYPT_COST = 10; // GoTrue uses bcrypt's default cost

/** The auth.users columns every user statement returns, as a postgres.js fragment. */
export const userCols = (sql: postgres.Sql) =>
  sql`id, aud, role, email, encrypted_password, email_confirmed_at, last_sign_in_at,
      raw_app_meta_data, raw_user_meta_data, is_anonymous, banned_until, created_at, updated_at`;

function iso(d: Date | null | undefined): string | null {
  return d ? new Date(d).toISOString() : null;
}

/** GoTrue's user JSON. */
export function userJson(u: UserRow): Record<string, unknown> {
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

export function objectOr(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? v as Record<string, unknown> : {};
}

export function checkPassword(ctx: AuthContext, pw: unknown): string {
  if (typeof pw !== "string" || pw.length < ctx.minPassword) throw E.weakPassword(ctx.minPassword);
  // bcrypt only uses the first 72 bytes; GoTrue refuses longer passwords rather than truncate.
  if (new TextEncoder().encode(pw).length > 72) {
    throw E.validation("Password cannot be longer than 72 characters");
  }
  return pw;
}

export function checkEmail(email: unknown): string {
  if (typeof email !== "string" || !EMAIL_RE.test(email.trim())) {
    throw E.validation("Unable to validate email address: invalid format");
  }
  return email.trim().toLowerCase();
}

export async function userById(ctx: AuthContext, id: string): Promise<UserRow | null> {
  if (!UUID_RE.test(id)) return null;
  const { sql } = ctx;
  const rows = await sql<UserRow[]>`select ${userCols(sql)} from auth.users where id = ${id}`;
  return rows[0] ?? null;
}

export async function userByEmail(ctx: AuthContext, email: string): Promise<UserRow | null> {
  const { sql } = ctx;
  const rows = await sql<UserRow[]>`select ${userCols(sql)} from auth.users where email = ${email}`;
  return rows[0] ?? null;
}

/** Inserts a user; null when the email (or id) is taken. */
export async function createUser(ctx: AuthContext, input: {
  email: string;
  password: string | null;
  confirmed: boolean;
  userMetadata: Record<string, unknown>;
  appMetadata: Record<string, unknown>;
  role?: string;
  id?: string;
}): Promise<UserRow | null> {
  const { sql } = ctx;
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

/** Writes every editable field of a user; null when no such user. */
export async function updateUser(ctx: AuthContext, id: string, u: {
  email: string | null;
  hash: string | null;
  confirmedAt: Date | null;
  app: Record<string, unknown>;
  meta: Record<string, unknown>;
  bannedUntil: Date | null;
}): Promise<UserRow | null> {
  const { sql } = ctx;
  try {
    const rows = await sql<UserRow[]>`
      update auth.users set email = ${u.email}, encrypted_password = ${u.hash},
        email_confirmed_at = ${u.confirmedAt},
        raw_app_meta_data = ${sql.json(u.app as postgres.JSONValue)},
        raw_user_meta_data = ${sql.json(u.meta as postgres.JSONValue)},
        banned_until = ${u.bannedUntil}, updated_at = now()
      where id = ${id} returning ${userCols(sql)}`;
    return rows[0] ?? null;
  } catch (err) {
    if ((err as { code?: string }).code === "23505") throw E.emailExists();
    throw err;
  }
}

/** One page of users, newest first, and how many there are. */
export async function listUsers(
  ctx: AuthContext,
  page: number,
  perPage: number,
): Promise<{ users: UserRow[]; total: number }> {
  const { sql } = ctx;
  const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from auth.users`;
  const users = await sql<UserRow[]>`
    select ${userCols(sql)} from auth.users order by created_at desc, id
    limit ${perPage} offset ${(page - 1) * perPage}`;
  return { users, total: n };
}

export async function deleteUser(ctx: AuthContext, id: string): Promise<boolean> {
  const rows = await ctx.sql`
    delete from auth.users where id = ${UUID_RE.test(id) ? id : null} returning id`;
  return rows.length > 0;
}
