/**
 * Tripo3D openapi v2 client: the only code that knows Tripo's wire format
 * (see shared/reference/provider_apis.md §1).
 *
 * Retry policy (§1.8): `POST /task` and `POST /upload` are sent once; the caller may replay
 * only errors with `landed === "no"` (connect failures, 429/2000, 503). `getTask` retries GETs
 * itself (up to 3 attempts, capped jittered backoff, numeric Retry-After ≤ 30 s honoured).
 * Every call has its own timeout (default 20 s) so a few calls fit in one 150 s Edge invocation.
 */
import { type Landed, ProviderError, type ProviderErrorCode } from "./errors.ts";
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

export type TripoKind =
  | "text_to_model"
  | "image_to_model"
  | "sketch_to_model"
  | "multiview_to_model"
  | "refine_model";

export type TripoTaskType =
  | "text_to_model"
  | "image_to_model"
  | "multiview_to_model"
  | "refine_model";

export type TripoFileObject = { type: string; file_token: string } | Record<string, never>;

export interface TripoTaskBody {
  type: TripoTaskType;
  [field: string]: unknown;
}

export type TripoStatus =
  | "queued"
  | "running"
  | "success"
  | "failed"
  | "banned"
  | "expired"
  | "cancelled"
  | "unknown";

export interface TripoTask {
  task_id: string;
  type?: string;
  status: TripoStatus | string;
  progress?: number;
  input?: Record<string, unknown>;
  output?: Record<string, unknown>;
  create_time?: number;
  running_left_time?: number;
  queuing_num?: number;
  error_code?: number;
  error_msg?: string;
}

export interface NormalizedTripoStatus {
  state: "waiting" | "running" | "success" | "failed";
  progress: number;
  /** Seconds until the next poll (official cadence). */
  nextPollSeconds: number;
  /** pbr_model ?? model ?? base_model, on success. Short-lived: download at once. */
  modelUrl?: string;
  error?: ProviderError;
}

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
  upload(bytes: Uint8Array, contentType: string, filename: string): Promise<string>;
  createTask(body: TripoTaskBody): Promise<string>;
  getTask(taskId: string): Promise<TripoTask>;
}

// Documented optional parameters per task type (§1.4); anything else is never sent.
const MODEL_OPTIONS = [
  "model_version",
  "model_seed",
  "texture_seed",
  "face_limit",
  "texture",
  "pbr",
  "texture_quality",
  "geometry_quality",
  "auto_size",
  "quad",
  "compress",
  "smart_low_poly",
  "generate_parts",
  "export_uv",
  "style",
];
const IMAGE_OPTIONS = [
  ...MODEL_OPTIONS,
  "texture_alignment",
  "orientation",
  "enable_image_autofix",
];
const ALLOWED_OPTIONS: Record<TripoTaskType, readonly string[]> = {
  text_to_model: [...MODEL_OPTIONS, "prompt", "negative_prompt", "image_seed"],
  image_to_model: IMAGE_OPTIONS,
  multiview_to_model: [...IMAGE_OPTIONS, "orthographic_projection", "mode"],
  refine_model: [],
};

const IMAGE_TYPES: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/jpg": "jpg",
  "image/webp": "webp",
};

function invalid(message: string): ProviderError {
  return new ProviderError({
    provider: "tripo",
    kind: "permanent",
    landed: "no",
    code: "invalid_request",
    message,
  });
}

function fileObject(token: string, type: string | null | undefined): TripoFileObject {
  // Tripo does not validate `type`; the official clients always send "jpg".
  return { type: type ?? "jpg", file_token: token };
}

/**
 * Builds a `POST /task` body with only the documented parameters of the task type.
 * `sketch_to_model` is sent as `image_to_model`. For multiview, `fileTokens` holds the four
 * slots `[front, left, back, right]` (null or missing for an absent view).
 */
export function buildTaskBody(
  kind: TripoKind,
  options: Record<string, unknown>,
  files: {
    fileTokens?: (string | null | undefined)[];
    /** Optional per-slot image types ("png" | "jpg" | "webp"); default "jpg". */
    fileTypes?: (string | null | undefined)[];
    draftTaskId?: string;
  } = {},
): TripoTaskBody {
  const type: TripoTaskType = kind === "sketch_to_model" ? "image_to_model" : kind;
  const body: TripoTaskBody = { type };
  for (const key of ALLOWED_OPTIONS[type]) {
    const v = options[key];
    if (v !== undefined && v !== null) body[key] = v;
  }
  const tokens = files.fileTokens ?? [];
  const types = files.fileTypes ?? [];
  switch (type) {
    case "text_to_model":
      if (typeof body.prompt !== "string" || body.prompt.trim() === "") {
        throw invalid("text_to_model needs a prompt");
      }
      break;
    case "image_to_model":
      if (!tokens[0]) throw invalid(`${kind} needs one file token`);
      body.file = fileObject(tokens[0], types[0]);
      break;
    case "multiview_to_model": {
      if (tokens.length > 4) throw invalid("multiview_to_model takes at most 4 views");
      const slots: TripoFileObject[] = [0, 1, 2, 3].map((i) =>
        tokens[i] ? fileObject(tokens[i]!, types[i]) : {}
      );
      if (!tokens[0]) throw invalid("multiview_to_model needs the front view (slot 0)");
      if (tokens.filter(Boolean).length < 2) {
        throw invalid("multiview_to_model needs at least 2 views");
      }
      body.files = slots;
      break;
    }
    case "refine_model":
      if (!files.draftTaskId) throw invalid("refine_model needs draft_model_task_id");
      body.draft_model_task_id = files.draftTaskId;
      break;
  }
  return body;
}

/** Tripo file type for a content type, for `buildTaskBody`'s `fileTypes`. */
export function tripoFileType(contentType: string): string | undefined {
  return IMAGE_TYPES[contentType.toLowerCase().split(";")[0].trim()];
}

function outputUrl(v: unknown): string | undefined {
  if (typeof v === "string" && v) return v;
  if (v && typeof v === "object" && typeof (v as { url?: unknown }).url === "string") {
    return (v as { url: string }).url;
  }
  return undefined;
}

function taskError(
  code: ProviderErrorCode,
  kind: "transient" | "permanent",
  task: TripoTask,
): ProviderError {
  return new ProviderError({
    provider: "tripo",
    kind,
    landed: "yes",
    code,
    providerCode: task.error_code,
    message: `tripo task ${task.task_id} ${task.status}` +
      (task.error_code !== undefined ? ` (error_code ${task.error_code})` : "") +
      (task.error_msg ? `: ${task.error_msg}` : ""),
  });
}

/**
 * Maps a task object to our state. `unknown` (and any unrecognised status) is not final.
 * `pollCount` (polls so far) drives the backoff when `running_left_time` is absent:
 * 2, 4, 8, 16, 30, 30… s; with it, `max(2, 0.5 × running_left_time)` capped at 60 s.
 */
export function normalizeStatus(task: TripoTask, pollCount = 0): NormalizedTripoStatus {
  const raw = Number(task.progress);
  const progress = Number.isFinite(raw) ? Math.max(0, Math.min(100, Math.round(raw))) : 0;
  const left = typeof task.running_left_time === "number" && task.running_left_time >= 0
    ? task.running_left_time
    : undefined;
  const nextPollSeconds = left !== undefined
    ? Math.max(2, Math.min(60, 0.5 * left))
    : Math.min(30, 2 * 2 ** Math.max(0, pollCount));
  switch (task.status) {
    case "queued":
      return { state: "waiting", progress: 0, nextPollSeconds };
    case "success": {
      const out = task.output ?? {};
      const modelUrl = outputUrl(out.pbr_model) ?? outputUrl(out.model) ??
        outputUrl(out.base_model);
      if (!modelUrl) {
        return {
          state: "failed",
          progress: 100,
          nextPollSeconds: 0,
          error: taskError("bad_response", "permanent", task),
        };
      }
      return { state: "success", progress: 100, nextPollSeconds: 0, modelUrl };
    }
    case "failed":
      return {
        state: "failed",
        progress,
        nextPollSeconds: 0,
        error: task.error_code === 2008
          ? taskError("content_policy", "permanent", task)
          : taskError("task_failed", "permanent", task),
      };
    case "banned":
      return {
        state: "failed",
        progress,
        nextPollSeconds: 0,
        error: taskError("content_policy", "permanent", task),
      };
    case "expired":
      // Queue timeout: nothing was generated or billed; a new submission may succeed.
      return {
        state: "failed",
        progress,
        nextPollSeconds: 0,
        error: taskError("task_expired", "transient", task),
      };
    case "cancelled":
      return {
        state: "failed",
        progress,
        nextPollSeconds: 0,
        error: taskError("task_cancelled", "permanent", task),
      };
    default:
      // running, unknown, or a status this client does not know: keep polling.
      return {
        state: "running",
        progress: Math.min(progress, 99),
        nextPollSeconds: left !== undefined && task.status === "running"
          ? nextPollSeconds
          : Math.min(30, 2 * 2 ** Math.max(0, pollCount)),
      };
  }
}

interface CallContext {
  method: "GET" | "POST";
  path: string;
  /** A paid or state-changing POST: a failure after sending means it may have landed. */
  sent: boolean;
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
      if (!tripoFileType(contentType)) {
        throw invalid(`unsupported upload content type ${contentType}`);
      }
      const form = new FormData();
      form.append(
        "file",
        new Blob([bytes as Uint8Array<ArrayBuffer>], { type: contentType }),
        filename,
      );
      const ctx: CallContext = { method: "POST", path: "/upload", sent: true };
      const data = await call(ctx, form) as { image_token?: unknown; file_token?: unknown };
      const token = data?.image_token ?? data?.file_token;
      if (typeof token !== "string" || !token) throw badData(ctx, "no image_token");
      return token;
    },

    async createTask(body) {
      const ctx: CallContext = { method: "POST", path: "/task", sent: true };
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
        sent: false,
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
