// Who a socket and a channel act as, with the Realtime server's own words for every refusal
// (RealtimeWeb.UserSocket, RealtimeWeb.ChannelsAuthorization, RealtimeChannel.confirm_token):
// - the socket's API key (`apikey` query parameter) must be a project key; the platform's gateway
//   refuses anything else with 401 before Realtime sees it. A new `sb_…` key stands for a JWT of
//   its role, as the gateway hands Realtime one in its place.
// - a channel acts as its join's `access_token` (an `sb_…` value or none means the socket's key);
//   the token must verify and carry `role` and `exp`, and it is re-checked when it expires.
import * as jose from "jose";
import { apiKeyRole, signToken, type StackKeys, verifyToken } from "../keys.ts";

/** Far-future expiry, like the legacy keys, so an `sb_…` socket never expires on its own. */
const KEY_TOKEN_EXPIRY = 1983812996;

export interface Identity {
  token: string;
  claims: jose.JWTPayload;
  /** Seconds since the epoch; always present once confirmed. */
  exp: number;
}

/** The socket's key, or the HTTP answer refusing the upgrade. */
export async function socketIdentity(
  keys: StackKeys,
  apikey: string | null,
): Promise<Identity | Response> {
  const refuse = (message: string) =>
    new Response(JSON.stringify({ message }), {
      status: 401,
      headers: { "content-type": "application/json" },
    });
  if (!apikey) return refuse("No API key found in request");
  const role = await apiKeyRole(keys, apikey);
  if (!role) return refuse("Invalid API key");
  const token = apikey.startsWith("sb_")
    ? await signToken(keys, { role, iss: "supabase", exp: KEY_TOKEN_EXPIRY }, "HS256")
    : apikey;
  const claims = jose.decodeJwt(token);
  return { token, claims, exp: Number(claims.exp ?? KEY_TOKEN_EXPIRY) };
}

export type TokenRefusal =
  | "expired"
  | "missing_claims"
  | "malformed"
  | "signature"
  | "signer";

export type Confirmed =
  | { ok: true; identity: Identity }
  | { ok: false; kind: TokenRefusal; message: string };

const now = () => Math.floor(Date.now() / 1000);

/** RealtimeChannel.confirm_token: signature first, then `exp` in the future, `role` present. */
export async function confirmToken(keys: StackKeys, token: string): Promise<Confirmed> {
  let claims: jose.JWTPayload;
  try {
    claims = await verifyToken(keys, token);
  } catch (err) {
    return refusal(err, token);
  }
  if (typeof claims.role !== "string" || typeof claims.exp !== "number") {
    return {
      ok: false,
      kind: "missing_claims",
      message: "Fields `role` and `exp` are required in JWT",
    };
  }
  return { ok: true, identity: { token, claims, exp: Math.round(claims.exp) } };
}

function refusal(err: unknown, token: string): Confirmed {
  const code = (err as { code?: string })?.code;
  if (code === "ERR_JWT_EXPIRED") {
    let exp = now();
    try {
      exp = Number(jose.decodeJwt(token).exp ?? exp);
    } catch { /* keep now */ }
    return {
      ok: false,
      kind: "expired",
      message: `Token has expired ${Math.max(0, now() - Math.round(exp))} seconds ago`,
    };
  }
  if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") {
    return { ok: false, kind: "signature", message: "Failed to validate JWT signature" };
  }
  if (code === "ERR_JWKS_NO_MATCHING_KEY" || code === "ERR_JOSE_ALG_NOT_ALLOWED") {
    let kid: string | undefined;
    try {
      kid = jose.decodeProtectedHeader(token).kid;
    } catch { /* none */ }
    const what = kid ? `JWT signer for key ID (kid) ${JSON.stringify(kid)}` : "JWT signer";
    return {
      ok: false,
      kind: "signer",
      message: `Failed to generate ${what}, check your JWT secret or JWKS configuration`,
    };
  }
  return { ok: false, kind: "malformed", message: "The token provided is not a valid JWT" };
}

/** The `reason` a refused join carries: "<Code>: <message>", as Realtime's log_error builds it. */
export function joinReason(c: { kind: TokenRefusal; message: string }): string {
  const code = {
    expired: "InvalidJWTToken",
    missing_claims: "InvalidJWTToken",
    malformed: "MalformedJWT",
    signature: "JwtSignatureError",
    signer: "JwtSignerError",
  }[c.kind];
  return `${code}: ${c.message}`;
}

/**
 * What a joined channel is told before it is closed over a token it was given later: the bare
 * message, except a bad signature, which the server reports as the inspected atom.
 */
export function shutdownMessage(c: { kind: TokenRefusal; message: string }): string {
  return c.kind === "signature" ? ":signature_error" : c.message;
}

/** Milliseconds until the channel's token must be confirmed again (at most 5 min, as the server). */
export function confirmDelayMs(exp: number): number {
  return Math.min(5 * 60_000, Math.max(0, exp - now()) * 1000);
}
