// The single local origin (Supabase's Kong + edge-runtime main worker, in small): routes
// /functions/v1/<name>/… to that function's process after the `verify_jwt` check the hosted
// gateway makes, and /storage/v1, /auth/v1 to the stand-ins.
import type { FunctionProcess } from "./functions.ts";
import { type StackKeys, verifyToken } from "./keys.ts";
import * as jose from "jose";

type Handler = (req: Request) => Promise<Response>;

const ALLOWED_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]);

function fnError(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ code, message }), {
    status,
    headers: { "content-type": "application/json", "sb-error-code": code },
  });
}

/** The gateway's JWT check: signature and expiry only (roles are the function's business). */
async function checkJwt(keys: StackKeys, req: Request): Promise<Response | null> {
  const header = req.headers.get("authorization");
  if (!header) {
    return fnError(401, "UNAUTHORIZED_NO_AUTH_HEADER", "Missing authorization header");
  }
  const m = header.match(/^Bearer\s+(\S+)$/i);
  if (!m) return fnError(401, "UNAUTHORIZED_INVALID_JWT_FORMAT", "Invalid JWT format");
  let alg: string | undefined;
  try {
    alg = jose.decodeProtectedHeader(m[1]).alg;
  } catch {
    return fnError(401, "UNAUTHORIZED_INVALID_JWT_FORMAT", "Invalid JWT format");
  }
  if (!alg || !["HS256", "ES256", "RS256"].includes(alg)) {
    return fnError(401, "UNAUTHORIZED_UNSUPPORTED_TOKEN_ALGORITHM", "Unsupported JWT algorithm");
  }
  try {
    await verifyToken(keys, m[1]);
    return null;
  } catch {
    return fnError(401, "UNAUTHORIZED_INVALID_JWT", "Invalid JWT");
  }
}

export function createGateway(opts: {
  keys: StackKeys;
  functions: Map<string, FunctionProcess>;
  storage: Handler;
  auth: Handler;
  log?: (line: string) => void;
}): Handler {
  const { keys, functions } = opts;
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path.startsWith("/storage/v1/")) return await opts.storage(req);
    if (path.startsWith("/auth/v1/")) return await opts.auth(req);
    const m = path.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    if (!m) return fnError(404, "NOT_FOUND", "Not found");
    const fn = functions.get(m[1]);
    if (!fn) return fnError(404, "NOT_FOUND", "Requested function was not found");
    if (!ALLOWED_METHODS.has(req.method)) {
      return fnError(405, "METHOD_NOT_ALLOWED", "Method not allowed");
    }
    if (fn.verifyJwt && req.method !== "OPTIONS") {
      const refused = await checkJwt(keys, req);
      if (refused) return refused;
    }
    try {
      await fn.ensureRunning();
    } catch (e) {
      opts.log?.(`[gateway] ${fn.name} failed to boot: ${(e as Error).message}`);
      return fnError(503, "BOOT_ERROR", "Function failed to start (please check logs)");
    }
    // Like the platform, the function sees its own name as the first path segment.
    const target = `http://127.0.0.1:${fn.port}/${fn.name}${m[2] ?? ""}${url.search}`;
    const headers = new Headers(req.headers);
    headers.delete("host");
    headers.set("x-forwarded-host", url.host);
    try {
      const res = await fetch(target, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    } catch (e) {
      opts.log?.(`[gateway] ${fn.name}: ${(e as Error).message}`);
      // The worker died mid-request (crash or kill): the platform answers 500 WORKER_ERROR.
      return fnError(500, "WORKER_ERROR", "Function exited due to an error (please check logs)");
    }
  };
}
