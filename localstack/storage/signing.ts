// Signed URLs: HS256 tokens over `bucket/name` with the JWT secret, as Supabase Storage makes
// them. Signing needs the caller to see the object; using the URL needs no auth at all.
import * as jose from "jose";
import { authenticate, type Caller, jwtMessage } from "./caller.ts";
import type { StorageContext } from "./context.ts";
import { findObject } from "./db.ts";
import { Errors, StorageError } from "./errors.ts";
import { bodyOf, json } from "./http.ts";
import { serveObject } from "./read.ts";

export function signUrlToken(
  ctx: StorageContext,
  payload: jose.JWTPayload,
  expiresIn: number,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({ ...payload, iat: now, exp: now + expiresIn })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(ctx.urlSecret);
}

export async function verifyUrlToken(
  ctx: StorageContext,
  token: string | null,
): Promise<jose.JWTPayload> {
  if (!token) {
    throw new StorageError(
      400,
      "InvalidRequest",
      "querystring must have required property 'token'",
    );
  }
  try {
    return (await jose.jwtVerify(token, ctx.urlSecret, { algorithms: ["HS256"] })).payload;
  } catch (err) {
    throw Errors.invalidSignedToken(jwtMessage(err));
  }
}

function expiresInOf(body: Record<string, unknown>): number {
  const n = Number(body.expiresIn);
  if (!Number.isFinite(n) || n < 1) {
    throw new StorageError(400, "InvalidRequest", "body/expiresIn must be >= 1");
  }
  return Math.floor(n);
}

async function signOne(
  ctx: StorageContext,
  caller: Caller,
  bucket: string,
  name: string,
  expiresIn: number,
): Promise<string> {
  const row = await findObject(ctx.sql, caller, bucket, name);
  if (!row) throw Errors.noSuchKey();
  const token = await signUrlToken(ctx, { url: `${bucket}/${name}` }, expiresIn);
  return `/object/sign/${bucket}/${name}?token=${token}`;
}

/** `/object/sign/<bucket>[/<name>]`: GET/HEAD serves by token; POST signs one or many. */
export async function signRoutes(
  ctx: StorageContext,
  req: Request,
  url: URL,
  seg: string[],
): Promise<Response | null> {
  const name = seg.slice(2).join("/");
  if (req.method === "GET" || req.method === "HEAD") {
    const payload = await verifyUrlToken(ctx, url.searchParams.get("token"));
    if (payload.url !== `${seg[1]}/${name}`) throw Errors.invalidSignature();
    return await serveObject(ctx, req, url, null, seg[1], name, {
      expires: new Date((payload.exp ?? 0) * 1000).toUTCString(),
    });
  }
  if (req.method !== "POST") return null;
  const caller = await authenticate(ctx.keys, req);
  const body = await bodyOf(req);
  const expiresIn = expiresInOf(body);
  if (seg.length > 2) {
    return json({ signedURL: await signOne(ctx, caller, seg[1], name, expiresIn) });
  }
  if (!Array.isArray(body.paths)) {
    throw Errors.invalidRequest("body must have required property 'paths'");
  }
  const out = [];
  for (const p of body.paths.map(String)) {
    try {
      out.push({
        error: null,
        path: p,
        signedURL: await signOne(ctx, caller, seg[1], p, expiresIn),
      });
    } catch (err) {
      if (!(err instanceof StorageError) || err.statusCode === 500) throw err;
      out.push({
        error: "Either the object does not exist or you do not have access to it",
        path: p,
        signedURL: null,
      });
    }
  }
  return json(out);
}
