// The OpenAI error body, {error: {message, type, param, code}} with its HTTP status, and the errors
// that injected faults answer with.
import { json, type SimFault } from "../mod.ts";

export class OpenAIError {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly type: string,
    readonly param: string | null,
    readonly code: string | null,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {}
}

export const bad = (message: string, param: string | null, code: string | null = "invalid_value") =>
  new OpenAIError(400, message, "invalid_request_error", param, code);

export function errorResponse(e: OpenAIError, requestId: string): Response {
  return json(
    e.status,
    { error: { message: e.message, type: e.type, param: e.param, code: e.code, ...e.extra } },
    { "x-request-id": requestId, ...e.headers },
  );
}

export function faultError(f: SimFault): OpenAIError {
  const status = f.status ?? 500;
  const headers: Record<string, string> = {};
  if (f.retryAfter !== undefined) headers["retry-after"] = String(f.retryAfter);
  if (status === 429) {
    return new OpenAIError(
      429,
      f.message ?? "Rate limit reached for gpt-image-1. Please try again later.",
      "requests",
      null,
      typeof f.code === "string" ? f.code : "rate_limit_exceeded",
      headers,
    );
  }
  return new OpenAIError(
    status,
    f.message ??
      (status >= 500
        ? "The server had an error while processing your request."
        : "Simulated error"),
    status >= 500 ? "server_error" : "invalid_request_error",
    null,
    typeof f.code === "string" ? f.code : null,
    headers,
  );
}
