// The one error type of the BFF and its one JSON shape: { error: { code, message, details? } }.
// Anything else thrown inside a handler becomes a 500 with a generic message: internal detail
// (SQL, stack, URLs, keys) goes to the log under the request id, never to the client.
export type ErrorCode =
  | "bad_request"
  | "invalid_json"
  | "validation_failed"
  | "unauthorized"
  | "forbidden"
  | "asset_not_readable"
  | "not_found"
  | "method_not_allowed"
  | "idempotency_conflict"
  | "conflict"
  | "payload_too_large"
  | "asset_too_large"
  | "unsupported_media_type"
  | "unsupported_asset_type"
  | "rate_limited"
  | "too_many_active_jobs"
  | "upstream_error"
  | "service_unavailable"
  | "internal_error";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "ApiError";
  }

  toBody(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export const badRequest = (message: string, details?: unknown) =>
  new ApiError(400, "bad_request", message, details);
export const notFound = (message = "Not found.") => new ApiError(404, "not_found", message);
export const unauthorized = (message = "A valid user access token is required.") =>
  new ApiError(401, "unauthorized", message, undefined, { "www-authenticate": "Bearer" });
export const internalError = () =>
  new ApiError(500, "internal_error", "Something went wrong on our side. Please try again.");
