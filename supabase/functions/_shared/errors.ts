// The one error table of the BFF: every error code a client can see, with its HTTP status and a
// user-safe default message, and the one JSON shape: { error: { code, message, details? } }.
// Anything else thrown inside a handler becomes a 500 with a generic message: internal detail
// (SQL, stack, URLs, keys) goes to the log under the request id, never to the client.

export const ERRORS = {
  bad_request: { status: 400, message: "The request is not valid." },
  invalid_json: { status: 400, message: "The body is not valid JSON." },
  validation_failed: { status: 400, message: "The request body is not valid." },
  unauthorized: { status: 401, message: "A valid user access token is required." },
  insufficient_credits: { status: 402, message: "Not enough credits for this job." },
  forbidden: { status: 403, message: "You are not allowed to do this." },
  asset_not_readable: { status: 403, message: "The input does not exist or is not yours." },
  not_found: { status: 404, message: "Not found." },
  method_not_allowed: { status: 405, message: "This method is not allowed here." },
  idempotency_conflict: {
    status: 409,
    message: "This Idempotency-Key was already used with a different request body.",
  },
  conflict: { status: 409, message: "The request conflicts with the current state." },
  payload_too_large: { status: 413, message: "The body is too large." },
  asset_too_large: { status: 413, message: "The input is too large." },
  unsupported_media_type: { status: 415, message: "Send the body as application/json." },
  unsupported_asset_type: { status: 415, message: "The input is not a supported file type." },
  rate_limited: { status: 429, message: "Too many requests; try again later." },
  too_many_active_jobs: { status: 429, message: "Too many jobs are running; wait for one." },
  internal_error: {
    status: 500,
    message: "Something went wrong on our side. Please try again.",
  },
  upstream_error: { status: 502, message: "An upstream service failed." },
  service_unavailable: { status: 503, message: "A service is unavailable right now." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorStatus = (typeof ERRORS)[ErrorCode]["status"];

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export class ApiError extends Error {
  readonly status: ErrorStatus;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "ApiError";
    this.status = ERRORS[code].status;
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/** The error for `code`, with a message more specific than the table's where one helps. */
export function apiError(
  code: ErrorCode,
  message: string = ERRORS[code].message,
  opts: { details?: unknown; headers?: Record<string, string> } = {},
): ApiError {
  const headers = code === "unauthorized"
    ? { "www-authenticate": "Bearer", ...opts.headers }
    : opts.headers;
  return new ApiError(code, message, opts.details, headers);
}
