// GoTrue's admin API (service role only): create, read, update, list and delete users.
import bcrypt from "bcryptjs";
import type { AuthContext } from "./context.ts";
import { AuthError, E, respond } from "./errors.ts";
import { requireAdmin, requireUser } from "./sessions.ts";
import {
  BCRYPT_COST,
  checkEmail,
  checkPassword,
  createUser,
  deleteUser,
  listUsers,
  objectOr,
  updateUser,
  userById,
  userJson,
  UUID_RE,
} from "./users.ts";

async function adminCreate(
  ctx: AuthContext,
  req: Request,
  body: Record<string, unknown>,
): Promise<Response> {
  await requireAdmin(ctx, req);
  const email = checkEmail(body.email);
  const password = body.password === undefined || body.password === null
    ? null
    : checkPassword(ctx, body.password);
  if (body.id !== undefined && (typeof body.id !== "string" || !UUID_RE.test(body.id))) {
    throw E.validation("ID must conform to the uuid v4 format");
  }
  const user = await createUser(ctx, {
    email,
    password,
    confirmed: body.email_confirm === true,
    userMetadata: objectOr(body.user_metadata ?? body.data),
    appMetadata: objectOr(body.app_metadata),
    role: typeof body.role === "string" ? body.role : undefined,
    id: body.id as string | undefined,
  });
  if (!user) throw E.emailExists();
  return respond(userJson(user));
}

/** GoTrue's metadata update: the given keys replace the stored ones, a null removes its key. */
function merged(stored: Record<string, unknown> | null, given: unknown): Record<string, unknown> {
  const out = { ...stored };
  if (given === undefined) return out;
  for (const [k, v] of Object.entries(objectOr(given))) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

async function adminUpdate(
  ctx: AuthContext,
  req: Request,
  id: string,
  body: Record<string, unknown>,
): Promise<Response> {
  await requireAdmin(ctx, req);
  const user = await userById(ctx, id);
  if (!user) throw E.userNotFound();
  const email = body.email === undefined ? user.email : checkEmail(body.email);
  const hash = body.password === undefined
    ? user.encrypted_password
    : await bcrypt.hash(checkPassword(ctx, body.password), BCRYPT_COST);
  const confirmedAt = body.email_confirm === true
    ? user.email_confirmed_at ?? new Date()
    : body.email_confirm === false
    ? null
    : user.email_confirmed_at;
  const app = merged(user.raw_app_meta_data, body.app_metadata);
  const meta = merged(user.raw_user_meta_data, body.user_metadata);
  let banned = user.banned_until;
  if (typeof body.ban_duration === "string") {
    const m = /^(\d+)h$/.exec(body.ban_duration);
    banned = body.ban_duration === "none"
      ? null
      : m
      ? new Date(Date.now() + Number(m[1]) * 3600e3)
      : banned;
  }
  const updated = await updateUser(ctx, id, {
    email,
    hash,
    confirmedAt,
    app,
    meta,
    bannedUntil: banned,
  });
  if (!updated) throw E.userNotFound();
  return respond(userJson(updated));
}

/**
 * PUT /user: a signed-in user changes their own user_metadata (`data`) or password. app_metadata
 * is the project's (roles, operators): only the admin API above writes it, so a user asking is
 * refused and nothing changes.
 */
export async function selfUpdate(
  ctx: AuthContext,
  req: Request,
  body: Record<string, unknown>,
): Promise<Response> {
  const { user } = await requireUser(ctx, req);
  if (body.app_metadata !== undefined) {
    throw new AuthError(403, "not_admin", "Updating app_metadata requires admin privileges");
  }
  if (body.email !== undefined && body.email !== user.email) {
    throw new AuthError(422, "validation_failed", "Email changes are not supported locally");
  }
  const hash = body.password === undefined
    ? user.encrypted_password
    : await bcrypt.hash(checkPassword(ctx, body.password), BCRYPT_COST);
  const updated = await updateUser(ctx, user.id, {
    email: user.email,
    hash,
    confirmedAt: user.email_confirmed_at,
    app: user.raw_app_meta_data ?? {},
    meta: merged(user.raw_user_meta_data, body.data),
    bannedUntil: user.banned_until,
  });
  if (!updated) throw E.userNotFound();
  return respond(userJson(updated));
}

async function adminList(ctx: AuthContext, req: Request, url: URL): Promise<Response> {
  await requireAdmin(ctx, req);
  const page = Math.max(Number(url.searchParams.get("page") ?? 1) || 1, 1);
  const perPage = Math.min(
    Math.max(Number(url.searchParams.get("per_page") ?? 50) || 50, 1),
    1000,
  );
  const { users, total: n } = await listUsers(ctx, page, perPage);
  const res = respond({ users: users.map(userJson), aud: "authenticated" });
  res.headers.set("x-total-count", String(n));
  const last = Math.max(1, Math.ceil(n / perPage));
  const base = `${ctx.publicUrl}/auth/v1/admin/users`;
  const links = [];
  if (page < last) links.push(`<${base}?page=${page + 1}&per_page=${perPage}>; rel="next"`);
  links.push(`<${base}?page=${last}&per_page=${perPage}>; rel="last"`);
  res.headers.set("link", links.join(", "));
  return res;
}

/** `/admin/users[/<id>]`; null when the path is not an admin route. */
export async function adminRoutes(
  ctx: AuthContext,
  req: Request,
  url: URL,
  path: string,
  body: Record<string, unknown>,
): Promise<Response | null> {
  const m = req.method;
  if (path === "/admin/users") {
    if (m === "POST") return await adminCreate(ctx, req, body);
    if (m === "GET") return await adminList(ctx, req, url);
  }
  const adm = /^\/admin\/users\/([^/]+)$/.exec(path);
  if (!adm) return null;
  const id = decodeURIComponent(adm[1]);
  if (m === "GET") {
    await requireAdmin(ctx, req);
    const user = await userById(ctx, id);
    if (!user) throw E.userNotFound();
    return respond(userJson(user));
  }
  if (m === "PUT") return await adminUpdate(ctx, req, id, body);
  if (m === "DELETE") {
    await requireAdmin(ctx, req);
    if (!(await deleteUser(ctx, id))) throw E.userNotFound();
    return respond({});
  }
  return null;
}
