// Who is calling. User functions accept only a signed, unexpired Supabase *user* access token
// (HS256 with the project secret, or ES256/RS256 through the JWKS); the anon and service keys are
// valid JWTs but not users, so they are refused. process-jobs accepts only its shared secret.
import * as jose from "jose";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app.ts";
import type { Config } from "./config.ts";
import { ApiError, unauthorized } from "./errors.ts";

export interface AuthUser {
  id: string;
  /** The raw bearer token, forwarded to Storage so its RLS decides what the user may read. */
  token: string;
  email?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createTokenVerifier(config: Config) {
  // Imported once: jose would otherwise import the raw secret on every verification.
  const secret = config.SUPABASE_JWT_SECRET
    ? crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(config.SUPABASE_JWT_SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    )
    : undefined;
  const jwks = config.SUPABASE_JWKS
    ? jose.createLocalJWKSet(config.SUPABASE_JWKS as jose.JSONWebKeySet)
    : undefined;

  return async (token: string): Promise<AuthUser> => {
    let alg: string | undefined;
    try {
      alg = jose.decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("The access token is malformed.");
    }
    let payload: jose.JWTPayload;
    try {
      if (alg === "HS256" && secret) {
        ({ payload } = await jose.jwtVerify(token, await secret, {
          algorithms: ["HS256"],
          audience: "authenticated",
        }));
      } else if ((alg === "ES256" || alg === "RS256") && jwks) {
        ({ payload } = await jose.jwtVerify(token, jwks, {
          algorithms: ["ES256", "RS256"],
          audience: "authenticated",
        }));
      } else {
        throw new Error("unsupported algorithm");
      }
    } catch (e) {
      if (e instanceof jose.errors.JWTExpired) throw unauthorized("The access token has expired.");
      throw unauthorized("The access token is not valid for this project.");
    }
    if (
      payload.role !== "authenticated" || typeof payload.sub !== "string" || !UUID.test(payload.sub)
    ) {
      throw unauthorized("A signed-in user's access token is required.");
    }
    if (typeof payload.exp !== "number") throw unauthorized("The access token has no expiry.");
    return {
      id: payload.sub.toLowerCase(),
      token,
      email: typeof payload.email === "string" ? payload.email : undefined,
    };
  };
}

function bearer(header: string | undefined): string | undefined {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1];
}

/** Middleware: sets c.var.user or answers 401. */
export function requireUser(config: Config): MiddlewareHandler<AppEnv> {
  const verify = createTokenVerifier(config);
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return await next();
    const token = bearer(c.req.header("authorization"));
    if (!token) throw unauthorized("Send the user's access token as `Authorization: Bearer …`.");
    c.set("user", await verify(token));
    await next();
  };
}

async function digest(value: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)));
}

/** Compares two strings in time independent of where they differ (hashes equalise lengths). */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < da.length; i++) diff |= da[i] ^ db[i];
  return diff === 0;
}

/** Middleware for process-jobs: the shared secret in `Authorization: Bearer` or `x-process-jobs-secret`. */
export function requireJobsSecret(config: Config): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header("x-process-jobs-secret") ?? bearer(c.req.header("authorization"));
    if (!given || !(await constantTimeEqual(given, config.PROCESS_JOBS_SECRET))) {
      throw new ApiError(401, "unauthorized", "This endpoint is for the job scheduler only.");
    }
    await next();
  };
}
