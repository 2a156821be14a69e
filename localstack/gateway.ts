// The single local origin (Supabase's API gateway + the edge runtime's main worker, in small).
// - /functions/v1/<name>/… goes to that function's isolates, after the `verify_jwt` check the
//   platform makes; like the platform, that check accepts only legacy HS256 JWTs, so a
//   function that leans on it refuses today's asymmetric user tokens here as it would there.
// - /console/… is the developer console's static page (console.ts), local only.
// - /storage/v1, /auth/v1 (and /realtime/v1) go to the stand-ins. The new API keys are not
//   JWTs: the gateway swaps an `sb_…` key for a short-lived JWT of that key's role before the
//   service sees the request, as the platform does, so the services keep verifying JWTs.
import * as jose from "jose";
import { apiKeyRole, type KeyRole, signToken, type StackKeys } from "./keys.ts";
import { type FunctionRunner, platformError } from "./runtime/runner.ts";

type Handler = (req: Request) => Promise<Response>;

const ALLOWED_METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]);

/** The platform's `verify_jwt`: a legacy HS256 JWT (signature and expiry), nothing else. */
async function checkJwt(keys: StackKeys, req: Request): Promise<Response | null> {
  const header = req.headers.get("authorization");
  if (!header) {
    return platformError(401, "UNAUTHORIZED_NO_AUTH_HEADER", "Missing authorization header");
  }
  const m = header.match(/^Bearer\s+(\S+)$/i);
  if (!m) return platformError(401, "UNAUTHORIZED_INVALID_JWT_FORMAT", "Invalid JWT format");
  let alg: string | undefined;
  try {
    alg = jose.decodeProtectedHeader(m[1]).alg;
  } catch {
    return platformError(401, "UNAUTHORIZED_INVALID_JWT_FORMAT", "Invalid JWT format");
  }
  if (alg === "ES256" || alg === "RS256") {
    // What a project on JWT signing keys meets: the check cannot verify these.
    return new Response(JSON.stringify({ code: 401, message: "Invalid JWT" }), {
      status: 401,
      headers: { "content-type": "application/json", "sb-error-code": "UNAUTHORIZED_INVALID_JWT" },
    });
  }
  if (alg !== "HS256") {
    return platformError(
      401,
      "UNAUTHORIZED_UNSUPPORTED_TOKEN_ALGORITHM",
      "Unsupported JWT algorithm",
    );
  }
  try {
    await jose.jwtVerify(m[1], new TextEncoder().encode(keys.jwtSecret), {
      algorithms: ["HS256"],
    });
    return null;
  } catch {
    return platformError(401, "UNAUTHORIZED_INVALID_JWT", "Invalid JWT");
  }
}

/** Short-lived JWTs standing in for the new API keys upstream, one per role, reused a while. */
function keyTokens(keys: StackKeys) {
  const cache = new Map<KeyRole, { token: string; until: number }>();
  return async (role: KeyRole): Promise<string> => {
    const hit = cache.get(role);
    const now = Math.floor(Date.now() / 1000);
    if (hit && hit.until > now + 30) return hit.token;
    const token = await signToken(keys, {
      role,
      iss: "supabase-gateway",
      iat: now,
      exp: now + 300,
    });
    cache.set(role, { token, until: now + 300 });
    return token;
  };
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function createGateway(opts: {
  keys: StackKeys;
  functions: Map<string, FunctionRunner>;
  storage: Handler;
  auth: Handler;
  realtime?: Handler;
  /** The developer console's static page (/console/…), when served. */
  console?: Handler;
  log?: (line: string) => void;
}): Handler {
  const { keys, functions } = opts;
  const tokenFor = keyTokens(keys);

  /**
   * Swaps new API keys for JWTs: an `sb_…` bearer becomes its role's JWT, and an `sb_…` apikey
   * with no bearer adds one. An unknown `sb_…` key is refused here, as the platform does.
   */
  async function translateKeys(req: Request, url: URL): Promise<Request | Response> {
    const apikey = req.headers.get("apikey") ?? url.searchParams.get("apikey");
    const bearer = req.headers.get("authorization")?.match(BEARER)?.[1] ?? null;
    const newKey = bearer?.startsWith("sb_")
      ? bearer
      : !bearer && apikey?.startsWith("sb_")
      ? apikey
      : null;
    if (!newKey) return req;
    const role = await apiKeyRole(keys, newKey);
    if (!role) {
      return new Response(JSON.stringify({ message: "Invalid API key" }), {
        status: 401,
        headers: { "content-type": "application/json" },
      });
    }
    const headers = new Headers(req.headers);
    headers.set("authorization", `Bearer ${await tokenFor(role)}`);
    // Keeps the caller's signal, so a client that goes away cancels the call upstream. deno.json
    // opts into Deno's new `request.signal` (`unstable: no-legacy-abort`: aborted only when the
    // request fails; the legacy one also fired after every successful response, and Deno warned
    // about it once per process in every test and bench run).
    return new Request(req, { headers });
  }

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    for (
      const [prefix, service] of [
        ["/storage/v1/", opts.storage],
        ["/auth/v1/", opts.auth],
        ["/realtime/v1/", opts.realtime],
      ] as const
    ) {
      if (!path.startsWith(prefix)) continue;
      if (!service) return platformError(404, "NOT_FOUND", "Not found");
      // A WebSocket upgrade carries its key in the query; it is the service's to check.
      if (prefix === "/realtime/v1/") return await service(req);
      const translated = await translateKeys(req, url);
      return translated instanceof Response ? translated : await service(translated);
    }
    if (path === "/console" || path.startsWith("/console/")) {
      return opts.console ? await opts.console(req) : platformError(404, "NOT_FOUND", "Not found");
    }
    const m = path.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    if (!m) return platformError(404, "NOT_FOUND", "Not found");
    const fn = functions.get(m[1]);
    if (!fn) return platformError(404, "NOT_FOUND", "Requested function was not found");
    if (!ALLOWED_METHODS.has(req.method)) {
      return platformError(405, "METHOD_NOT_ALLOWED", "Method not allowed");
    }
    let forwarded = req;
    if (fn.verifyJwt && req.method !== "OPTIONS") {
      const refused = await checkJwt(keys, req);
      if (refused) return refused;
    } else {
      // With verify_jwt off the platform still turns an `sb_…` apikey into a bearer JWT of its
      // role when no Authorization came: functions must not mistake that for a user.
      const translated = await translateKeys(req, url);
      if (translated instanceof Response) return translated;
      forwarded = translated;
    }
    const headers = new Headers(forwarded.headers);
    headers.delete("host");
    headers.set("x-forwarded-host", url.host);
    try {
      // Like the platform, the function sees its own name as the first path segment.
      const res = await fn.fetch(`/${fn.name}${m[2] ?? ""}${url.search}`, {
        method: req.method,
        headers,
        body: forwarded.body,
        redirect: "manual",
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    } catch (e) {
      opts.log?.(`[gateway] ${fn.name} failed to boot: ${(e as Error).message}`);
      return platformError(503, "BOOT_ERROR", "Function failed to start (please check logs)");
    }
  };
}
