// The Hono app every function is built from: base path, request id, CORS, JSON errors, a JSON
// 404/405, and structured logs that never contain tokens or keys.
import { Hono } from "hono";
import { cors } from "hono/cors";
import type { Config } from "./config.ts";
import type { AppEnv } from "./context.ts";
import { ApiError, apiError } from "./errors.ts";
import { createLogger, errorText, type Logger } from "./log.ts";

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
    // The platform already logs every invocation (method, path, status, duration) in the
    // function's invocation log; a line of our own for every accepted POST would cost a JSON
    // line each for the same facts. Refusals (4xx) stay at info with their request id, so an app
    // developer can find why a call was refused; failures (5xx) at warn; successes at debug.
    // The fields are built only when the line is written.
    const status = c.res.status;
    const ms = performance.now() - started;
    log(status >= 500 ? "warn" : status >= 400 ? "info" : "debug", "request", () => ({
      request_id: id,
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status,
      ms: Math.round(ms * 10) / 10,
    }));
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
      allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
      exposeHeaders: ["location", "retry-after", "x-request-id", "idempotent-replayed"],
      maxAge: 86400,
    }),
  );

  app.notFound((c) => c.json(apiError("not_found", "No such route.").toBody(), 404));
  app.onError((err, c) => {
    const requestId = c.get("requestId");
    const error = err instanceof ApiError ? err : apiError("internal_error");
    if (!(err instanceof ApiError)) {
      // Full detail stays in the log, keyed by request id; the client gets the generic body.
      log("error", "unhandled error", { request_id: requestId, error: errorText(err) });
    }
    for (const [k, v] of Object.entries(error.headers ?? {})) c.header(k, v);
    if (requestId) c.header("x-request-id", requestId);
    return c.json(error.toBody(), error.status);
  });
  return { app, log };
}

/** Answers 405 with the JSON error shape for any method a route does not serve. */
export function methodNotAllowed(allowed: string[]): never {
  throw apiError("method_not_allowed", `Use ${allowed.join(" or ")}.`, {
    headers: { allow: allowed.join(", ") },
  });
}
