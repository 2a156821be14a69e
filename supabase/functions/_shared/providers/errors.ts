/**
 * Provider error classification shared by the Tripo and OpenAI clients.
 *
 * - `kind`: `transient` may succeed if tried later; `permanent` will not.
 * - `landed`: whether a paid submission may already have been accepted. A caller must never
 *   replay a paid call (Tripo `POST /task`, an OpenAI edit) unless `landed === "no"`.
 * - `userMessage`: safe to show to an end user (no URLs, keys, provider internals).
 */
import { JOB_FAILURES, type JobFailureCode } from "../jobs/failures.ts";

export type ProviderName = "tripo" | "openai";
export type ProviderErrorKind = "transient" | "permanent";
export type Landed = "no" | "maybe" | "yes";
/** The job failure codes a provider error can carry (their messages live in jobs/failures.ts). */
export type ProviderErrorCode = Extract<
  JobFailureCode,
  | "rate_limited"
  | "provider_unavailable"
  | "content_policy"
  | "invalid_request"
  | "insufficient_credits"
  | "auth_failed"
  | "timeout"
  | "network"
  | "bad_response"
  | "task_failed"
  | "task_expired"
  | "task_cancelled"
  | "task_not_found"
>;

export interface ProviderErrorInit {
  provider: ProviderName;
  kind: ProviderErrorKind;
  landed: Landed;
  code: ProviderErrorCode;
  /** Internal detail for logs (may contain provider text; never shown to users). */
  message?: string;
  status?: number;
  retryAfterSeconds?: number;
  /** Provider's own error code (Tripo int, OpenAI string) for logs. */
  providerCode?: string | number;
  /** Provider's request/trace id for support tickets. */
  requestId?: string;
  userMessage?: string;
  cause?: unknown;
}

export class ProviderError extends Error {
  readonly provider: ProviderName;
  readonly kind: ProviderErrorKind;
  readonly landed: Landed;
  readonly code: ProviderErrorCode;
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  readonly providerCode?: string | number;
  readonly requestId?: string;
  readonly userMessage: string;

  constructor(init: ProviderErrorInit) {
    super(init.message ?? `${init.provider}: ${init.code}`, { cause: init.cause });
    this.name = "ProviderError";
    this.provider = init.provider;
    this.kind = init.kind;
    this.landed = init.landed;
    this.code = init.code;
    this.status = init.status;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.providerCode = init.providerCode;
    this.requestId = init.requestId;
    this.userMessage = init.userMessage ?? JOB_FAILURES[init.code];
  }

  get transient(): boolean {
    return this.kind === "transient";
  }

  /** A structured, secret-free view for logs and the jobs table. */
  toJSON(): Record<string, unknown> {
    return {
      provider: this.provider,
      kind: this.kind,
      landed: this.landed,
      code: this.code,
      status: this.status,
      retryAfterSeconds: this.retryAfterSeconds,
      providerCode: this.providerCode,
      requestId: this.requestId,
      message: this.message,
    };
  }
}

export function isProviderError(e: unknown): e is ProviderError {
  return e instanceof ProviderError;
}
