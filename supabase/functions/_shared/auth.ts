// Who is calling, checked in code (every function has `verify_jwt = false`: the platform's
// check cannot verify asymmetric tokens).
// - User functions accept only a signed, unexpired Supabase *user* access token: ES256/RS256
//   through SUPABASE_JWKS with its `kid` matched (as @supabase/server verifies them; a
//   differential test holds this verifier to that library's answers), or HS256 with the legacy
//   secret where one is configured. API keys are never users: `sb_…` keys, the legacy
//   anon/service JWTs and the JWTs the platform mints for API keys are refused.
// - process-jobs accepts the project's secret key in `apikey`, or PROCESS_JOBS_SECRET.
import { Buffer } from "node:buffer";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import * as jose from "jose";
import type { MiddlewareHandler } from "hono";
import type { Config } from "./config.ts";
import type { AppEnv, AuthUser } from "./context.ts";
import { apiError } from "./errors.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const AUDIENCE = "authenticated";

class InvalidToken extends Error {}

const HS256_SIGNATURE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * HS256 verification on node:crypto, which is synchronous here (~2 µs) where jose goes through
 * crypto.subtle (~45 µs, an async op, on every request). Checks what jose.jwtVerify checks for
 * these tokens: the MAC in constant time, no `crit` header, a JSON object payload, numeric
 * iat/nbf/exp with nbf and exp against now, and the audience. tests/unit/token_verifier holds
 * it to jose's answers.
 */
function verifyHs256(token: string, secret: Uint8Array): jose.JWTPayload {
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
  if (!(aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE)))) {
    throw new InvalidToken("aud");
  }
  return payload;
}

export type TokenVerifier = (token: string) => Promise<AuthUser>;

/**
 * Tokens this isolate has verified, by their exact text, with the window they are valid in. An
 * app sends the same access token with every call for up to an hour, and the ES256 signature
 * check was the largest single cost of a POST (a quarter of the generation isolate's CPU). The
 * keys (SUPABASE_JWKS, the legacy secret) are fixed for an isolate's life, so the only answer
 * that changes with time is the window, checked on every hit as jose checks it (nbf ≤ now < exp,
 * no tolerance). Refusals are never kept. Bounded; the oldest entry goes first.
 */
const VERIFIED_MAX = 1_000;

interface Verified {
  user: AuthUser;
  nbf: number;
  exp: number;
}

export function createTokenVerifier(config: Config): TokenVerifier {
  const secret = config.legacyJwtSecret
    ? new TextEncoder().encode(config.legacyJwtSecret)
    : undefined;
  const jwks = config.SUPABASE_JWKS
    ? jose.createLocalJWKSet(config.SUPABASE_JWKS as jose.JSONWebKeySet)
    : undefined;
  const verified = new Map<string, Verified>();

  return async (token: string): Promise<AuthUser> => {
    const hit = verified.get(token);
    if (hit) {
      const now = Math.floor(Date.now() / 1000);
      if (hit.nbf <= now && now < hit.exp) return hit.user;
      verified.delete(token);
      if (now >= hit.exp) throw apiError("unauthorized", "The access token has expired.");
    }
    const user = await verifyToken(token);
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
    verified.set(token, user);
    return user.user;
  };

  async function verifyToken(token: string): Promise<Verified> {
    if (token.startsWith("sb_")) {
      throw apiError("unauthorized", "An API key is not a user: send the user's access token.");
    }
    let header: jose.ProtectedHeaderParameters;
    try {
      header = jose.decodeProtectedHeader(token);
    } catch {
      throw apiError("unauthorized", "The access token is malformed.");
    }
    let payload: jose.JWTPayload;
    try {
      if (header.alg === "HS256" && secret) {
        payload = verifyHs256(token, secret);
      } else if ((header.alg === "ES256" || header.alg === "RS256") && jwks && header.kid) {
        ({ payload } = await jose.jwtVerify(token, jwks, {
          algorithms: ["ES256", "RS256"],
          audience: AUDIENCE,
        }));
      } else {
        throw new InvalidToken("unsupported algorithm or no kid");
      }
    } catch (e) {
      if (e instanceof jose.errors.JWTExpired) {
        throw apiError("unauthorized", "The access token has expired.");
      }
      throw apiError("unauthorized", "The access token is not valid for this project.");
    }
    if (
      payload.role !== "authenticated" || typeof payload.sub !== "string" || !UUID.test(payload.sub)
    ) {
      throw apiError("unauthorized", "A signed-in user's access token is required.");
    }
    if (typeof payload.exp !== "number") {
      throw apiError("unauthorized", "The access token has no expiry.");
    }
    const meta = payload.app_metadata;
    return {
      user: {
        id: payload.sub.toLowerCase(),
        token,
        email: typeof payload.email === "string" ? payload.email : undefined,
        appMetadata: meta && typeof meta === "object" ? meta as Record<string, unknown> : {},
      },
      nbf: typeof payload.nbf === "number" ? payload.nbf : -Infinity,
      exp: payload.exp,
    };
  }
}

function bearer(header: string | undefined): string | undefined {
  return header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

/** Middleware: sets c.var.user or answers 401. */
export function requireUser(config: Config): MiddlewareHandler<AppEnv> {
  const verify = createTokenVerifier(config);
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return await next();
    const token = bearer(c.req.header("authorization"));
    if (!token) {
      throw apiError("unauthorized", "Send the user's access token as `Authorization: Bearer …`.");
    }
    c.set("user", await verify(token));
    await next();
  };
}

/**
 * Whether Supabase Auth's app_metadata marks the user an operator (`role: "operator"` or
 * `operator: true`). Only the secret key can set app_metadata (Auth's admin API); a user can
 * change user_metadata, never this.
 */
export function isOperator(appMetadata: Record<string, unknown>): boolean {
  return appMetadata.role === "operator" || appMetadata.operator === true;
}

/** Middleware after requireUser: answers 403 to a user who is not an operator. */
export function requireOperator(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method !== "OPTIONS" && !isOperator(c.get("user").appMetadata)) {
      throw apiError("forbidden", "This is for operators only.");
    }
    await next();
  };
}

/** Compares two strings in time independent of where they differ (hashes equalise lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  const digest = (v: string) => createHash("sha256").update(v).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Whether a request comes from the project's own services: the secret key in `apikey` (how
 * pg_net, cron and other functions call), or PROCESS_JOBS_SECRET in `x-process-jobs-secret` or
 * `Authorization: Bearer`. The apikey comes first: the platform may add a bearer of its own.
 */
export function isServiceCaller(
  config: Config,
  headers: { apikey?: string; secret?: string; authorization?: string },
): boolean {
  if (headers.apikey && config.secretKey && constantTimeEqual(headers.apikey, config.secretKey)) {
    return true;
  }
  const given = headers.secret ?? bearer(headers.authorization);
  return Boolean(
    given && config.PROCESS_JOBS_SECRET && constantTimeEqual(given, config.PROCESS_JOBS_SECRET),
  );
}

/** Middleware for service routes (process-jobs): answers 401 to anyone else. */
export function requireService(config: Config): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const ok = isServiceCaller(config, {
      apikey: c.req.header("apikey"),
      secret: c.req.header("x-process-jobs-secret"),
      authorization: c.req.header("authorization"),
    });
    if (!ok) throw apiError("unauthorized", "This endpoint is for the project's services only.");
    await next();
  };
}
