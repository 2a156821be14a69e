// Local stand-in for Supabase Auth (GoTrue): the subset supabase-js needs to create users, sign
// up / in with a password, refresh and end sessions, read the user, and fetch the JWKS. Wire
// formats (session and user JSON, token claims, error bodies) follow GoTrue. This file routes;
// sessions.ts (tokens), users.ts (auth.users) and admin.ts (admin API) do the work.
import { describeFailure } from "../db/standin_pool.ts";
import { apiKeyRole } from "../keys.ts";
import { adminRoutes, selfUpdate } from "./admin.ts";
import { type AuthContext, type AuthHandlerOptions, createContext } from "./context.ts";
import { AuthError, E, errorResponse, respond } from "./errors.ts";
import { logout, passwordGrant, refreshGrant, requireUser, signup } from "./sessions.ts";
import { objectOr, userJson } from "./users.ts";

export type { AuthHandlerOptions } from "./context.ts";

async function route(ctx: AuthContext, req: Request, url: URL): Promise<Response> {
  const path = url.pathname.replace(/^\/auth\/v1/, "").replace(/\/+$/, "") || "/";
  const m = req.method;
  if (m === "GET" && (path === "/.well-known/jwks.json" || path === "/jwks")) {
    return respond(ctx.keys.jwks);
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
  if (!(await apiKeyRole(ctx.keys, apikey))) {
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
  if (m === "POST" && path === "/signup") return await signup(ctx, body);
  if (m === "POST" && path === "/token") {
    const grant = url.searchParams.get("grant_type");
    if (grant === "password") return await passwordGrant(ctx, body);
    if (grant === "refresh_token") return await refreshGrant(ctx, body);
    throw new AuthError(400, "unsupported_grant_type", "unsupported_grant_type");
  }
  if (m === "GET" && path === "/user") {
    return respond(userJson((await requireUser(ctx, req)).user));
  }
  if (m === "PUT" && path === "/user") return await selfUpdate(ctx, req, body);
  if (m === "POST" && path === "/logout") return await logout(ctx, req, url);
  const admin = await adminRoutes(ctx, req, url, path, body);
  if (admin) return admin;
  throw new AuthError(404, "not_found", "Not Found");
}

export function createAuthHandler(opts: AuthHandlerOptions): (req: Request) => Promise<Response> {
  const ctx = createContext(opts);
  return async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    try {
      return await route(ctx, req, url);
    } catch (err) {
      if (err instanceof AuthError) return errorResponse(req, err);
      console.error("[auth] unexpected error", describeFailure(err));
      return errorResponse(req, E.unexpected());
    }
  };
}
