// Tokens for hostile tests: forged, expired, wrong audience, wrong algorithm. `projectToken`
// signs the way the stack's project does (ES256 with its JWKS key for a current project, HS256
// with the legacy secret for a legacy one), so claim rules are tested on tokens whose signature
// the functions accept.
import * as jose from "jose";
import { stack } from "./stack.ts";

const secret = () => new TextEncoder().encode(stack.jwtSecret);
const now = () => Math.floor(Date.now() / 1000);

export function hs256(claims: jose.JWTPayload, key: Uint8Array = secret()): Promise<string> {
  return new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
}

export function userClaims(sub: string, extra: jose.JWTPayload = {}): jose.JWTPayload {
  return {
    sub,
    role: "authenticated",
    aud: "authenticated",
    exp: now() + 600,
    iat: now(),
    ...extra,
  };
}

/** ES256 signed by the stack's own key (accepted through the JWKS). */
export async function es256(claims: jose.JWTPayload): Promise<string> {
  const jwk = JSON.parse(stack.es256PrivateJwk);
  const key = await jose.importJWK(jwk, "ES256");
  return await new jose.SignJWT(claims).setProtectedHeader({
    alg: "ES256",
    typ: "JWT",
    kid: jwk.kid,
  })
    .sign(key);
}

/** ES256 signed by a stranger's key that claims the stack's kid. */
export async function es256Forged(claims: jose.JWTPayload): Promise<string> {
  const jwk = JSON.parse(stack.es256PrivateJwk);
  const { privateKey } = await jose.generateKeyPair("ES256");
  return await new jose.SignJWT(claims).setProtectedHeader({
    alg: "ES256",
    typ: "JWT",
    kid: jwk.kid,
  })
    .sign(privateKey);
}

/** Signed as the project signs user sessions. */
export function projectToken(claims: jose.JWTPayload): Promise<string> {
  return stack.project === "legacy" ? hs256(claims) : es256(claims);
}

/** Signed with the project's algorithm but someone else's key. */
export function foreignToken(claims: jose.JWTPayload): Promise<string> {
  return stack.project === "legacy"
    ? hs256(claims, new TextEncoder().encode("not-the-project-secret-but-long-enough-000"))
    : es256Forged(claims);
}

export function expired(sub: string) {
  return projectToken(userClaims(sub, { exp: now() - 60, iat: now() - 3600 }));
}

export function wrongSecret(sub: string) {
  return foreignToken(userClaims(sub));
}

export function unsignedToken(sub: string): string {
  const enc = (o: unknown) =>
    btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${enc({ alg: "none", typ: "JWT" })}.${enc(userClaims(sub))}.`;
}
