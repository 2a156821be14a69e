// Keys and tokens of the local stand-in. The HS256 secret is the Supabase CLI's public,
// well-known local development secret (never a production value); an ES256 key pair is made
// per stack start so asymmetric verification through a JWKS is exercised too.
import * as jose from "jose";

export const LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long";
// Far-future expiry, like the CLI's local anon/service keys.
const KEY_EXPIRY = 1983812996;

export interface StackKeys {
  jwtSecret: string;
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
    anonKey: await apiKey("anon"),
    serviceRoleKey: await apiKey("service_role"),
    issuer: `${opts.publicUrl}/auth/v1`,
    jwks: { keys: [{ ...jwk, kid, alg: "ES256", use: "sig", key_ops: ["verify"] }] },
    es256PrivateKey: privateKey as CryptoKey,
    es256Kid: kid,
    userTokenAlg: opts.userTokenAlg ?? "HS256",
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
 * Verifies any token the platform accepts (HS256 with the secret, ES256/RS256 through the
 * JWKS), checking signature and expiry only, as Supabase's gateway and Storage do.
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
