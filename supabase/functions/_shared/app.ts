// The Hono app every function is built from: base path, request id, CORS, JSON errors, a JSON
// 404/405, and structured logs that never contain tokens or keys.
import { Hono } from "hono";
import { cors } from "hono/cors";
import type { Config } from "./config.ts";
import { ApiError, internalError } from "./errors.ts";
import type { AuthUser } from "./auth.ts";

export interface AppEnv {
  Variables: {
    requestId: string;
    config: Config;
    user: AuthUser;
  };
}

type Level = "debug" | "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(fn: string, minLevel: Level = "info") {
  return (level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (LEVELS[level] < LEVELS[minLevel]) return;
    const line = JSON.stringify({ level, fn, msg, ...fields, t: new Date().toISOString() });
    if (level === "error" || level === "warn") console.error(line);
    else console.log(line);
  };
}
export type Logger = ReturnType<typeof createLogger>;

export function createApp(name: string, config: Config): { app: Hono<AppEnv>; log: Logger } {
  const log = createLogger(name, config.LOG_LEVEL);
  const app = new Hono<AppEnv>().basePath(`/${name}`);

  app.use("*", async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const id = incoming && /^[A-Za-z0-9-]{8,64}$/.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", id);
    c.set("config", config);
    const started = performance.now();
    await next();
    c.header("x-request-id", id);
    log("info", "request", {
      request_id: id,
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  });
  app.use(
    "*",
    cors({
      origin: "*",
      allowHeaders: [
        "authorization",
        "x-client-info",
        "apikey",
        "content-type",
        "idempotency-key",
        "x-request-id",
      ],
      allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
      exposeHeaders: ["location", "retry-after", "x-request-id"],
      maxAge: 86400,
    }),
  );

  app.notFound((c) => c.json(new ApiError(404, "not_found", "No such route.").toBody(), 404));
  app.onError((err, c) => {
    const requestId = c.get("requestId");
    const apiError = err instanceof ApiError ? err : internalError();
    if (!(err instanceof ApiError)) {
      // Full detail stays in the log, keyed by request id; the client gets the generic body.
      log("error", "unhandled error", {
        request_id: requestId,
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      });
    }
    for (const [k, v] of Object.entries(apiError.headers ?? {})) c.header(k, v);
    if (requestId) c.header("x-request-id", requestId);
    return c.json(apiError.toBody(), apiError.status as 400);
  });
  return { app, log };
}

/** Answers 405 with the JSON error shape for any method a route does not serve. */
export function methodNotAllowed(allowed: string[]): never {
  throw new ApiError(405, "method_not_allowed", `Use ${allowed.join(" or ")}.`, undefined, {
    allow: allowed.join(", "),
  });
}
