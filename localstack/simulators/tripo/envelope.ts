// Tripo's response envelope: `{code: 0, data}` on success; on error an HTTP status with
// `{code, message, suggestion}` (a TripoError thrown anywhere in a request ends up so), including
// the concurrency cap's 429/2000 and the errors that injected faults answer with.
import { json, type SimFault } from "../mod.ts";

export class TripoError {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly message: string,
    readonly suggestion = "",
    readonly headers: Record<string, string> = {},
  ) {}
}

export function envelopeError(e: TripoError, trace: string): Response {
  return json(e.status, { code: e.code, message: e.message, suggestion: e.suggestion }, {
    "X-Tripo-Trace-ID": trace,
    ...e.headers,
  });
}

export function ok(data: unknown): Response {
  return json(200, { code: 0, data });
}

/** 429/2000: the key has its cap of queued and running tasks. */
export function capError(retryAfterSec: number): TripoError {
  return new TripoError(
    429,
    2000,
    "You have exceeded the limit of generation",
    "Try again later. You can also check `Retry-After` header.",
    { "Retry-After": String(retryAfterSec) },
  );
}

export function faultError(f: SimFault): TripoError {
  const status = f.status ?? 500;
  const code = typeof f.code === "number"
    ? f.code
    : status === 429
    ? 2000
    : status === 401
    ? 1002
    : status === 404
    ? 2001
    : status >= 500
    ? 1000
    : 1004;
  const headers: Record<string, string> = {};
  if (f.retryAfter !== undefined) headers["Retry-After"] = String(f.retryAfter);
  return new TripoError(
    status,
    code,
    f.message ?? "Simulated fault",
    "Try again later.",
    headers,
  );
}
