// The one error class of the client: every refusal of the BFF (its `{ error: { code, message,
// details } }` body), every platform refusal in front of it (`{ code, message }`), and the client's
// own failures (network, timeout) arrive as an ApiError, so an app handles errors in one place.

export interface ApiErrorInit {
  code: string;
  status: number;
  message: string;
  details?: unknown;
  retryAfter?: number;
}

export class ApiError extends Error {
  /** The BFF's error code (`insufficient_credits`, `rate_limited`, …) or `network_error` / `timeout`. */
  readonly code: string;
  /** The HTTP status; 0 when no response arrived (network failure, timeout). */
  readonly status: number;
  /** Extra facts: validation issues, `{ balance, price }` of a 402. */
  readonly details?: unknown;
  /** Seconds to wait before trying again, from the `Retry-After` header (429, 503). */
  readonly retryAfter?: number;

  constructor(init: ApiErrorInit) {
    super(init.message);
    this.name = "ApiError";
    this.code = init.code;
    this.status = init.status;
    if (init.details !== undefined) this.details = init.details;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
  }

  /** Builds the error from a non-2xx response of the gateway or a function. */
  static async fromResponse(res: Response): Promise<ApiError> {
    const text = await res.text().catch(() => "");
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const inner = field(body, "error");
    const source = typeof inner === "object" && inner !== null ? inner : body;
    const code = field(source, "code");
    const message = field(source, "message");
    return new ApiError({
      code: typeof code === "string" && code ? code : `http_${res.status}`,
      status: res.status,
      message: typeof message === "string" && message
        ? message
        : `The request failed with HTTP ${res.status}.`,
      details: field(source, "details"),
      retryAfter: parseRetryAfter(res.headers.get("retry-after")),
    });
  }
}

function field(o: unknown, key: string): unknown {
  return typeof o === "object" && o !== null ? Reflect.get(o, key) : undefined;
}

/** `Retry-After` as seconds: a number of seconds or an HTTP date. */
export function parseRetryAfter(v: string | null, now = Date.now()): number | undefined {
  if (v === null || v.trim() === "") return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

export function networkError(cause: unknown): ApiError {
  const e = new ApiError({
    code: "network_error",
    status: 0,
    message: `The BFF could not be reached: ${cause instanceof Error ? cause.message : cause}`,
  });
  return e;
}
