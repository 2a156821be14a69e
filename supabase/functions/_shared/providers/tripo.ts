/**
 * Tripo3D openapi v2 HTTP client (see shared/reference/provider_apis.md §1); the task bodies and
 * task objects are in tripo_task.ts. These two files are the only code that knows Tripo.
 *
 * Retry policy (§1.8): `POST /task` and `POST /upload` are sent once; the caller may replay
 * only errors with `landed === "no"` (connect failures, 429/2000, 503). `getTask` retries GETs
 * itself (up to 3 attempts, capped jittered backoff, numeric Retry-After ≤ 30 s honoured).
 * Every call has its own timeout (default 20 s) so a few calls fit in one 150 s Edge invocation.
 */
import type { StoredImage } from "../jobs/schemas.ts";
import { type Landed, ProviderError, type ProviderErrorCode } from "./errors.ts";
import { FILE_TYPES, invalid, type TripoTask, type TripoTaskBody } from "./tripo_task.ts";
import {
  backoffMs,
  type FetchFn,
  fetchWithTimeout,
  isConnectError,
  MAX_RETRY_AFTER_SECONDS,
  parseRetryAfter,
  sleep,
  TimeoutError,
} from "./http.ts";

export interface TripoClientOptions {
  apiKey: string;
  baseUrl: string;
  fetch?: FetchFn;
  /** Per HTTP call (headers and body). Default 20 000 ms. */
  timeoutMs?: number;
  /** GET attempts in total. Default 3. */
  getAttempts?: number;
  /** Base of the exponential GET backoff. Default 1000 ms (tests lower it). */
  backoffBaseMs?: number;
}

export interface TripoClient {
  upload(
    bytes: Uint8Array,
    contentType: StoredImage["content_type"],
    filename: string,
  ): Promise<string>;
  createTask(body: TripoTaskBody): Promise<string>;
  getTask(taskId: string): Promise<TripoTask>;
}

interface CallContext {
  /** A POST is paid or state-changing: a failure after sending means it may have landed. */
  method: "GET" | "POST";
  path: string;
}

function mapEnvelopeError(
  status: number,
  code: number | undefined,
  message: string,
  retryAfter: number | undefined,
  ctx: CallContext,
  traceId: string | undefined,
): ProviderError {
  const base = {
    provider: "tripo" as const,
    status,
    providerCode: code,
    requestId: traceId,
    message: `tripo ${ctx.method} ${ctx.path}: HTTP ${status}` +
      (code !== undefined ? ` code ${code}` : "") + (message ? `: ${message}` : ""),
  };
  const make = (
    c: ProviderErrorCode,
    kind: "transient" | "permanent",
    landed: Landed,
    extra: { retryAfterSeconds?: number } = {},
  ) => new ProviderError({ ...base, code: c, kind, landed, ...extra });
  const maybe: Landed = ctx.method === "POST" ? "maybe" : "no";
  // The server answered with a definite refusal for these, whatever the body says.
  if (code === 2000 || code === 1007 || status === 429) {
    return make("rate_limited", "transient", "no", { retryAfterSeconds: retryAfter });
  }
  if (status === 503) {
    return make("provider_unavailable", "transient", "no", { retryAfterSeconds: retryAfter });
  }
  switch (code) {
    case 1002:
    case 1005:
      return make("auth_failed", "permanent", "no");
    case 2010:
      return make("insufficient_credits", "permanent", "no");
    case 2008:
      return make("content_policy", "permanent", "no");
    case 2001:
      return make("task_not_found", "permanent", "no");
    case 2014:
      // Audit (moderation) service error: the task was not created.
      return make("provider_unavailable", "transient", "no", { retryAfterSeconds: retryAfter });
    case 1000:
    case 1001:
      return make("provider_unavailable", "transient", maybe, { retryAfterSeconds: retryAfter });
  }
  if (status === 401 || status === 403) return make("auth_failed", "permanent", "no");
  if (status === 408 || status === 425 || status === 504) {
    return make("timeout", "transient", maybe, { retryAfterSeconds: retryAfter });
  }
  if (status >= 500) {
    return make("provider_unavailable", "transient", maybe, { retryAfterSeconds: retryAfter });
  }
  if (status >= 400) return make("invalid_request", "permanent", "no");
  // HTTP 2xx with a non-zero code.
  return make("bad_response", "transient", maybe);
}

export function createTripoClient(opts: TripoClientOptions): TripoClient {
  const baseUrl = opts.baseUrl.replace(/\/+$/, "");
  const fetchFn = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const getAttempts = Math.max(1, opts.getAttempts ?? 3);
  const backoffBase = opts.backoffBaseMs ?? 1000;

  async function call(ctx: CallContext, body?: BodyInit, contentType?: string): Promise<unknown> {
    if (!opts.apiKey) {
      // Missing configuration is reported per call, so building the client never crashes.
      throw new ProviderError({
        provider: "tripo",
        kind: "permanent",
        landed: "no",
        code: "auth_failed",
        message: "tripo: TRIPO_API_KEY is not set",
      });
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${opts.apiKey}`,
      accept: "application/json",
    };
    if (contentType) headers["content-type"] = contentType;
    const afterSend: Landed = ctx.method === "POST" ? "maybe" : "no";
    let res: Response, done: () => void;
    try {
      ({ res, done } = await fetchWithTimeout(
        fetchFn,
        `${baseUrl}${ctx.path}`,
        { method: ctx.method, headers, body },
        timeoutMs,
      ));
    } catch (e) {
      if (e instanceof TimeoutError) {
        throw new ProviderError({
          provider: "tripo",
          kind: "transient",
          landed: afterSend,
          code: "timeout",
          message: `tripo ${ctx.method} ${ctx.path}: ${e.message}`,
        });
      }
      const connect = isConnectError(e);
      throw new ProviderError({
        provider: "tripo",
        kind: "transient",
        landed: connect ? "no" : afterSend,
        code: "network",
        message: `tripo ${ctx.method} ${ctx.path}: ${(e as Error)?.message ?? e}`,
        cause: e,
      });
    }
    const traceId = res.headers.get("x-tripo-trace-id") ?? undefined;
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new ProviderError({
        provider: "tripo",
        kind: "transient",
        landed: afterSend,
        code: e instanceof TimeoutError ? "timeout" : "network",
        status: res.status,
        requestId: traceId,
        message: `tripo ${ctx.method} ${ctx.path}: body read failed: ${(e as Error)?.message}`,
        cause: e,
      });
    } finally {
      done();
    }
    let parsed: { code?: unknown; data?: unknown; message?: unknown } | undefined;
    try {
      const j = JSON.parse(text);
      if (j && typeof j === "object") parsed = j;
    } catch { /* handled below */ }
    const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
    const code = typeof parsed?.code === "number" ? parsed.code : undefined;
    if (res.ok && code === 0 && parsed && "data" in parsed) return parsed.data;
    if (res.ok && code === undefined) {
      throw new ProviderError({
        provider: "tripo",
        kind: "transient",
        landed: afterSend,
        code: "bad_response",
        status: res.status,
        requestId: traceId,
        message: `tripo ${ctx.method} ${ctx.path}: unparsable response`,
      });
    }
    throw mapEnvelopeError(
      res.status,
      code,
      typeof parsed?.message === "string" ? parsed.message.slice(0, 300) : "",
      retryAfter,
      ctx,
      traceId,
    );
  }

  function badData(ctx: CallContext, what: string): ProviderError {
    return new ProviderError({
      provider: "tripo",
      kind: "transient",
      landed: ctx.method === "POST" ? "maybe" : "no",
      code: "bad_response",
      message: `tripo ${ctx.method} ${ctx.path}: ${what}`,
    });
  }

  return {
    async upload(bytes, contentType, filename) {
      if (!(contentType in FILE_TYPES)) {
        throw invalid(`unsupported upload content type ${contentType}`);
      }
      const form = new FormData();
      form.append(
        "file",
        new Blob([bytes as Uint8Array<ArrayBuffer>], { type: contentType }),
        filename,
      );
      const ctx: CallContext = { method: "POST", path: "/upload" };
      const data = await call(ctx, form) as { image_token?: unknown; file_token?: unknown };
      const token = data?.image_token ?? data?.file_token;
      if (typeof token !== "string" || !token) throw badData(ctx, "no image_token");
      return token;
    },

    async createTask(body) {
      const ctx: CallContext = { method: "POST", path: "/task" };
      const data = await call(ctx, JSON.stringify(body), "application/json") as {
        task_id?: unknown;
      };
      if (typeof data?.task_id !== "string" || !data.task_id) throw badData(ctx, "no task_id");
      return data.task_id;
    },

    async getTask(taskId) {
      const ctx: CallContext = {
        method: "GET",
        path: `/task/${encodeURIComponent(taskId)}`,
      };
      for (let attempt = 1;; attempt++) {
        try {
          const data = await call(ctx) as TripoTask;
          if (!data || typeof data.task_id !== "string" || typeof data.status !== "string") {
            throw badData(ctx, "task object without task_id/status");
          }
          return data;
        } catch (e) {
          if (!(e instanceof ProviderError) || e.kind === "permanent" || attempt >= getAttempts) {
            throw e;
          }
          if (e.retryAfterSeconds !== undefined && e.retryAfterSeconds > MAX_RETRY_AFTER_SECONDS) {
            throw e;
          }
          const wait = e.retryAfterSeconds !== undefined
            ? e.retryAfterSeconds * 1000
            : backoffMs(attempt, backoffBase);
          await sleep(wait);
        }
      }
    },
  };
}
