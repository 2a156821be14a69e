// Who is calling Storage: the JWT behind the request, verified as Supabase Storage does (its
// error messages included), and the API role its statements then run as.
import type * as jose from "jose";
import { type StackKeys, verifyToken } from "../keys.ts";
import { Errors } from "./errors.ts";

export type Role = "anon" | "authenticated" | "service_role";

export interface Caller {
  role: Role;
  claims: jose.JWTPayload;
  sub: string | null;
}

/** Storage's own privileges: for work a signed URL already authorised. */
export const STORAGE_ITSELF: Caller = {
  role: "service_role",
  claims: { role: "service_role" },
  sub: null,
};

const ROLES = new Set<string>(["anon", "authenticated", "service_role"]);

/** jsonwebtoken-style messages, which is what Supabase Storage reports. */
export function jwtMessage(err: unknown): string {
  const code = (err as { code?: string })?.code;
  if (code === "ERR_JWT_EXPIRED") return "jwt expired";
  if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") return "invalid signature";
  if (code === "ERR_JWKS_NO_MATCHING_KEY") return "no matching key found";
  if (code === "ERR_JOSE_ALG_NOT_ALLOWED") return "invalid algorithm";
  return "jwt malformed";
}

export async function authenticate(keys: StackKeys, req: Request): Promise<Caller> {
  let token = (req.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "").trim();
  if (!token) {
    // Behind Supabase's gateway a legacy JWT apikey stands in for a missing Authorization.
    const apikey = req.headers.get("apikey") ?? "";
    if (apikey.split(".").length === 3) token = apikey;
  }
  if (!token) throw Errors.invalidJwt("jwt must be provided");
  let claims: jose.JWTPayload;
  try {
    claims = await verifyToken(keys, token);
  } catch (err) {
    throw Errors.invalidJwt(jwtMessage(err));
  }
  const role = typeof claims.role === "string" ? claims.role : "";
  if (!ROLES.has(role)) throw Errors.invalidJwt(`role "${role}" is not allowed`);
  return { role: role as Role, claims, sub: typeof claims.sub === "string" ? claims.sub : null };
}
