// Keys and tokens of the local stand-in, as the platform has them now (SPEC §7):
// - the new API keys, `sb_publishable_…` (the `anon` role) and `sb_secret_…` (`service_role`),
//   which are not JWTs and travel in the `apikey` header;
// - the legacy JWT keys `anon` / `service_role`, HS256 with the Supabase CLI's public,
//   well-known local secret (never a production value) or SUPABASE_JWT_SECRET;
// - user sessions signed with an asymmetric key (ES256, with a `kid` in the JWKS), or with the
//   legacy HS256 secret for a stack that plays a legacy project.
// The new keys are derived from the JWT secret, so they stay the same across restarts of a dev
// stack (an app configured with them keeps working); the ES256 pair is made per start.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import * as jose from "jose";

export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
// Far-future expiry, like the CLI's local anon/service keys.
const KEY_EXPIRY = 1983812996;

export type KeyRole = "anon" | "service_role";

export interface StackKeys {
  jwtSecret: string;
  /** `sb_publishable_…`: what apps ship; maps to the anon role. */
  publishableKey: string;
  /** `sb_secret_…`: servers and functions only; maps to service_role. */
  secretKey: string;
  /** Legacy JWT API keys (HS256). */
  anonKey: string;
  serviceRoleKey: string;
  /** Issuer the auth stand-in writes into user tokens: `${publicUrl}/auth/v1`. */
  issuer: string;
  /** Public JWKS (ES256) served at /auth/v1/.well-known/jwks.json and given to functions. */
  jwks: { keys: jose.JWK[] };
  /** Private ES256 key matching `jwks`, for asymmetric user tokens. */
  es256PrivateKey: CryptoKey;
  es256Kid: string;
  /** Algorithm the auth stand-in signs user sessions with. */
  userTokenAlg: "HS256" | "ES256";
}

function derivedKey(secret: string, label: string, bytes: number): string {
  return createHmac("sha256", secret).update(`makeit3d-local:${label}`).digest()
    .subarray(0, bytes).toString("base64url");
}

export async function createKeys(opts: {
  publicUrl: string;
  jwtSecret?: string;
  userTokenAlg?: "HS256" | "ES256";
}): Promise<StackKeys> {
  const jwtSecret = opts.jwtSecret ?? LOCAL_JWT_SECRET;
  const secret = new TextEncoder().encode(jwtSecret);
  const apiKey = (role: string) =>
    new jose.SignJWT({ iss: "supabase-demo", role })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setExpirationTime(KEY_EXPIRY)
      .sign(secret);
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const kid = crypto.randomUUID();
  const jwk = await jose.exportJWK(publicKey);
  return {
    jwtSecret,
    publishableKey: `sb_publishable_${derivedKey(jwtSecret, "publishable", 16)}`,
    secretKey: `sb_secret_${derivedKey(jwtSecret, "secret", 24)}`,
    anonKey: await apiKey("anon"),
    serviceRoleKey: await apiKey("service_role"),
    issuer: `${opts.publicUrl}/auth/v1`,
    jwks: { keys: [{ ...jwk, kid, alg: "ES256", use: "sig", key_ops: ["verify"] }] },
    es256PrivateKey: privateKey as CryptoKey,
    es256Kid: kid,
    userTokenAlg: opts.userTokenAlg ?? "ES256",
  };
}

/** Signs an access token the way Supabase Auth does (claims passed in as given). */
export function signToken(
  keys: StackKeys,
  claims: jose.JWTPayload,
  alg: "HS256" | "ES256" = keys.userTokenAlg,
): Promise<string> {
  if (alg === "HS256") {
    return new jose.SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(keys.jwtSecret));
  }
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", typ: "JWT", kid: keys.es256Kid })
    .sign(keys.es256PrivateKey);
}

/**
 * Verifies any token the platform's services accept (HS256 with the secret, ES256/RS256 through
 * the JWKS), checking signature and expiry only, as Supabase's Storage, Auth and Realtime do.
 * Throws on any failure.
 */
export async function verifyToken(keys: StackKeys, token: string): Promise<jose.JWTPayload> {
  const header = jose.decodeProtectedHeader(token);
  if (header.alg === "HS256") {
    const { payload } = await jose.jwtVerify(token, new TextEncoder().encode(keys.jwtSecret), {
      algorithms: ["HS256"],
    });
    return payload;
  }
  const { payload } = await jose.jwtVerify(token, jose.createLocalJWKSet(keys.jwks), {
    algorithms: ["ES256", "RS256"],
  });
  return payload;
}

function sameSecret(a: string, b: string): boolean {
  const d = (v: string) => createHash("sha256").update(v).digest();
  return timingSafeEqual(d(a), d(b));
}

/**
 * The role an API key stands for, as the platform's gateway decides it: the new keys by exact
 * (constant-time) match, the legacy ones as signed JWTs with an `anon` / `service_role` role.
 * Null for anything else (a user token is not an API key).
 */
export async function apiKeyRole(keys: StackKeys, key: string | null): Promise<KeyRole | null> {
  if (!key) return null;
  if (key.startsWith("sb_")) {
    if (sameSecret(key, keys.publishableKey)) return "anon";
    if (sameSecret(key, keys.secretKey)) return "service_role";
    return null;
  }
  try {
    const claims = await verifyToken(keys, key);
    return claims.role === "anon" || claims.role === "service_role" ? claims.role : null;
  } catch {
    return null;
  }
}

export class CallerError extends Error {
  constructor(
    readonly reason: "no_apikey" | "bad_apikey" | "bad_jwt" | "expired",
    message: string,
  ) {
    super(message);
  }
}

export interface Caller {
  role: "anon" | "authenticated" | "service_role" | string;
  claims: jose.JWTPayload;
  /** The user's access token when one was sent (null for API-key-only calls). */
  userToken: string | null;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Who is calling a platform service (Storage, Auth, Realtime), as Supabase's API gateway works
 * it out: an API key is required (`apikey` header or, for WebSockets, the `apikey` query
 * parameter); `Authorization: Bearer <jwt>` then names the caller (a user, or a legacy key); a
 * bearer that is itself an API key (supabase-js sends the key when there is no session) means
 * that key's role; no bearer means the API key's role.
 */
export async function resolveCaller(
  keys: StackKeys,
  apikey: string | null,
  authorization: string | null,
): Promise<Caller> {
  if (!apikey) throw new CallerError("no_apikey", "No API key found in request");
  const keyRole = await apiKeyRole(keys, apikey);
  if (!keyRole) throw new CallerError("bad_apikey", "Invalid API key");
  const bearer = authorization?.match(BEARER)?.[1] ?? null;
  const asKey = (role: KeyRole): Caller => ({ role, claims: { role }, userToken: null });
  if (!bearer) return asKey(keyRole);
  if (bearer.startsWith("sb_")) {
    const role = await apiKeyRole(keys, bearer);
    if (!role) throw new CallerError("bad_apikey", "Invalid API key");
    return asKey(role);
  }
  let claims: jose.JWTPayload;
  try {
    claims = await verifyToken(keys, bearer);
  } catch (e) {
    if (e instanceof jose.errors.JWTExpired) throw new CallerError("expired", "JWT expired");
    throw new CallerError("bad_jwt", "Invalid JWT");
  }
  const role = typeof claims.role === "string" ? claims.role : "";
  return { role, claims, userToken: role === "authenticated" ? bearer : null };
}
