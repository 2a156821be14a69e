// The HTTP parts of the document besides bodies: headers, parameters, security schemes and the
// error responses, each status with the codes of the one error table (_shared/errors.ts) that
// an operation can answer with. Header and parameter schemas are zod too, converted inline.
import { z } from "zod";
import { type ErrorCode, ERRORS } from "../../supabase/functions/_shared/errors.ts";
import { errorBodyOf } from "../../supabase/functions/_shared/responses.ts";
import { inline, type JsonSchema, ref } from "./components.ts";

export const HEADERS = {
  Location: {
    description: "The job's task-status URL (path and query), to poll or to read once.",
    schema: z.string().regex(/^\/functions\/v1\/task-status\/[0-9a-f-]{36}\?service=[a-z]+$/),
  },
  IdempotentReplayed: {
    description: "Present (`true`) when this is the answer of an earlier, identical request: " +
      "nothing new was started or granted.",
    schema: z.literal("true"),
  },
  RetryAfter: {
    description: "Seconds to wait before trying again.",
    schema: z.string().regex(/^[1-9][0-9]*$/),
  },
  Allow: {
    description: "The methods this path serves.",
    schema: z.string().regex(/^[A-Z]+(, [A-Z]+)*$/),
  },
  WWWAuthenticate: { description: "How to authenticate.", schema: z.literal("Bearer") },
  XRequestId: {
    description: "The request's id (the caller's X-Request-Id when it sent a valid one): quote " +
      "it when reporting a problem; the logs are keyed by it.",
    schema: z.string().regex(/^[A-Za-z0-9-]{8,64}$/),
  },
} as const;
export type HeaderName = keyof typeof HEADERS;

/** The wire names of the response headers. */
export const HEADER_WIRE_NAMES: Record<HeaderName, string> = {
  Location: "Location",
  IdempotentReplayed: "Idempotent-Replayed",
  RetryAfter: "Retry-After",
  Allow: "Allow",
  WWWAuthenticate: "WWW-Authenticate",
  XRequestId: "X-Request-Id",
};

export function headerComponents(): Record<string, JsonSchema> {
  return Object.fromEntries(
    Object.entries(HEADERS).map(([k, h]) => [k, {
      description: h.description,
      schema: inline(h.schema),
    }]),
  );
}

/** A response's headers: X-Request-Id always, plus those given (name → required). */
export function responseHeaders(given: Partial<Record<HeaderName, boolean>> = {}) {
  const all: Partial<Record<HeaderName, boolean>> = { XRequestId: true, ...given };
  return Object.fromEntries(
    Object.entries(all).map(([k, required]) => [HEADER_WIRE_NAMES[k as HeaderName], {
      $ref: `#/components/headers/${k}`,
      ...(required ? { required: true } : {}),
    }]),
  );
}

export const PARAMETERS = {
  IdempotencyKey: {
    name: "Idempotency-Key",
    in: "header",
    required: false,
    description: "1–255 visible ASCII characters. The same key with the same body returns the " +
      "first answer (Idempotent-Replayed: true) and never starts a second paid job; with a " +
      "different body it is a 409 idempotency_conflict. Without a key, the same body from the " +
      "same user is recognised by its content.",
    schema: inline(z.string().regex(/^[\x21-\x7e]{1,255}$/)),
  },
  JobId: {
    name: "job_id",
    in: "path",
    required: true,
    description: "The job_id a generation call returned.",
    // Any 8-4-4-4-12 hex id, in either case, as the handler accepts it.
    schema: inline(z.guid()),
  },
  Service: {
    name: "service",
    in: "query",
    required: false,
    description: "When given, must be the job's service (400 if not).",
    schema: ref("Service"),
  },
  Wait: {
    name: "wait",
    in: "query",
    required: false,
    description: "`true`: process what is due now and answer with the summary (200) instead of " +
      "working in the background (202).",
    schema: inline(z.enum(["true", "false"])),
  },
} as const;

export const SECURITY_SCHEMES = {
  userToken: {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "A signed-in user's Supabase access token (`Authorization: Bearer <token>`). " +
      "API keys are not users and are refused.",
  },
  secretKey: {
    type: "apiKey",
    in: "header",
    name: "apikey",
    description: "The project's secret key (`sb_secret_…`, or the legacy service_role JWT): " +
      "servers only, never an app or a browser.",
  },
  processJobsSecret: {
    type: "apiKey",
    in: "header",
    name: "x-process-jobs-secret",
    description: "PROCESS_JOBS_SECRET, where one is configured.",
  },
  processJobsBearer: {
    type: "http",
    scheme: "bearer",
    description: "PROCESS_JOBS_SECRET as a bearer token, where one is configured.",
  },
} as const;

export const USER = [{ userToken: [] }];
export const SERVICE = [{ secretKey: [] }, { processJobsSecret: [] }, { processJobsBearer: [] }];

/** Headers every error of a status carries. */
const ERROR_HEADERS: Partial<Record<number, Partial<Record<HeaderName, boolean>>>> = {
  401: { WWWAuthenticate: true },
  405: { Allow: true },
  429: { RetryAfter: true },
};

const REASONS: Record<number, string> = {
  400: "Bad request",
  401: "No valid credentials",
  402: "Not enough credits (details: { balance, price }); nothing was created",
  403: "Forbidden",
  404: "Not found",
  405: "Method not allowed",
  409: "Conflict",
  413: "Too large",
  415: "Unsupported type",
  429: "Too many requests; retry after Retry-After seconds",
  500: "Internal error (the details stay in the logs, under X-Request-Id)",
  502: "An upstream service failed",
  503: "A service is unavailable",
};

/** One response object, for an error status and the codes it carries on this operation. */
export function errorResponse(status: number, codes: ErrorCode[]): JsonSchema {
  return {
    description: `${REASONS[status] ?? "Error"}: ${codes.join(", ")}.`,
    headers: responseHeaders(ERROR_HEADERS[status]),
    content: {
      "application/json": {
        schema: inline(errorBodyOf(codes)),
        examples: Object.fromEntries(codes.map((code) => [code, {
          value: { error: { code, message: ERRORS[code].message } },
        }])),
      },
    },
  };
}

/** The error responses of an operation, by status, from the codes it can answer with. */
export function errorResponses(codes: ErrorCode[]): Record<string, JsonSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of [...codes, "internal_error" as const]) {
    const status = ERRORS[code].status;
    const list = byStatus.get(status) ?? [];
    if (!list.includes(code)) list.push(code);
    byStatus.set(status, list);
  }
  return Object.fromEntries(
    [...byStatus.entries()].sort(([a], [b]) => a - b).map((
      [status, list],
    ) => [String(status), errorResponse(status, list)]),
  );
}
