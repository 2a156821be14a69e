// Who is calling. User functions accept only a signed, unexpired Supabase *user* access token
// (HS256 with the project secret, or ES256/RS256 through the JWKS); the anon and service keys are
// valid JWTs but not users, so they are refused. process-jobs accepts only its shared secret.
import { Buffer } from "node:buffer";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
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

class InvalidToken extends Error {}

const HS256_SIGNATURE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * HS256 verification on node:crypto, which is synchronous here (~2 µs) where jose goes through
 * crypto.subtle (~45 µs, an async op, on every request). Checks what jose.jwtVerify checks for
 * these tokens: the MAC in constant time, no `crit` header, a JSON object payload, numeric
 * iat/nbf/exp with nbf and exp against now, and the audience. tests/security/token_verifier
 * holds it to jose's answers.
 */
function verifyHs256(token: string, secret: Uint8Array, audience: string): jose.JWTPayload {
  const parts = token.split(".");
  if (parts.length !== 3) throw new InvalidToken("malformed");
  const [h, p, sig] = parts;
  // Exactly the unpadded base64url of 32 bytes: Buffer's decoder would also take padding and the
  // standard alphabet, i.e. other spellings of the same MAC.
  if (!HS256_SIGNATURE.test(sig)) throw new InvalidToken("signature");
  const given = Buffer.from(sig, "base64url");
  const mac = createHmac("sha256", secret).update(`${h}.${p}`).digest();
  if (given.length !== mac.length || !timingSafeEqual(given, mac)) {
    throw new InvalidToken("signature");
  }
  if (jose.decodeProtectedHeader(token).crit !== undefined) throw new InvalidToken("crit");
  const payload = jose.decodeJwt(token);
  const now = Math.floor(Date.now() / 1000);
  for (const claim of ["iat", "nbf", "exp"] as const) {
    if (payload[claim] !== undefined && typeof payload[claim] !== "number") {
      throw new InvalidToken(claim);
    }
  }
  if (payload.nbf !== undefined && payload.nbf > now) throw new InvalidToken("nbf");
  if (payload.exp !== undefined && payload.exp <= now) {
    throw new jose.errors.JWTExpired("exp", payload);
  }
  const aud = payload.aud;
  if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) {
    throw new InvalidToken("aud");
  }
  return payload;
}

export function createTokenVerifier(config: Config) {
  const secret = config.SUPABASE_JWT_SECRET
    ? new TextEncoder().encode(config.SUPABASE_JWT_SECRET)
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
        payload = verifyHs256(token, secret, "authenticated");
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

/** Compares two strings in time independent of where they differ (hashes equalise lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  const digest = (v: string) => createHash("sha256").update(v).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** Middleware for process-jobs: the shared secret in `Authorization: Bearer` or `x-process-jobs-secret`. */
export function requireJobsSecret(config: Config): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const given = c.req.header("x-process-jobs-secret") ?? bearer(c.req.header("authorization"));
    if (!given || !constantTimeEqual(given, config.PROCESS_JOBS_SECRET)) {
      throw new ApiError(401, "unauthorized", "This endpoint is for the job scheduler only.");
    }
    await next();
  };
}
