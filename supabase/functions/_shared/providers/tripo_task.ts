// Tripo3D openapi v2 tasks (provider_apis.md §1.4, §1.5): the `POST /task` body of each job kind
// built from its stored request, and the task object read back, with the polling cadence.
// Together with providers/tripo.ts (the HTTP client) the only code that knows Tripo's format.
import type { z } from "zod";
import type {
  ConvertParams,
  imageModelParams,
  StoredImage,
  textToModelParams,
  TripoTaskRequest,
} from "../jobs/schemas.ts";
import { ProviderError, type ProviderErrorCode } from "./errors.ts";

export type TripoTaskType = TripoTaskRequest["tripo_type"];

/** A file object: a token and the image's type ("not validated" by Tripo, sent anyway). */
export interface TripoFile {
  type: "png" | "jpg" | "webp";
  file_token: string;
}

/** `POST /task` bodies: exactly the documented fields of each type (typed by jobs/schemas). */
export type TripoTaskBody =
  | ({ type: "text_to_model" } & z.infer<typeof textToModelParams>)
  | ({ type: "image_to_model"; file: TripoFile } & z.infer<typeof imageModelParams>)
  | ({
    type: "multiview_to_model";
    files: (TripoFile | Record<string, never>)[];
  } & z.infer<typeof imageModelParams>)
  | { type: "refine_model"; draft_model_task_id: string }
  | ({ type: "convert_model"; original_model_task_id: string } & ConvertParams);

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

/** A task as the worker sees it. */
export type NormalizedTripoStatus =
  | {
    state: "waiting" | "running";
    progress: number;
    /** Tripo's own estimate of the seconds left, when it gives one. */
    etaSeconds: number | null;
  }
  /** `modelUrl`: pbr_model ?? model ?? base_model. Short-lived: download at once. */
  | { state: "success"; progress: 100; modelUrl: string }
  | { state: "failed"; progress: number; error: ProviderError };

export function invalid(message: string): ProviderError {
  return new ProviderError({
    provider: "tripo",
    kind: "permanent",
    landed: "no",
    code: "invalid_request",
    message,
  });
}

export const FILE_TYPES: Record<StoredImage["content_type"], TripoFile["type"]> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
};

/**
 * Builds a `POST /task` body from a stored job request and the upload tokens of its images
 * (in input order). The request's params already hold only what the task type documents.
 * Multiview fills the four slots `[front, left, back, right]`, missing trailing views as `{}`.
 */
export function buildTaskBody(req: TripoTaskRequest, fileTokens: string[]): TripoTaskBody {
  const file = (i: number): TripoFile => {
    const input = req.inputs[i];
    const token = fileTokens[i];
    if (!token || !input || input.content_type === "model/gltf-binary") {
      throw invalid(`${req.tripo_type} needs a file token for image ${i}`);
    }
    return { type: FILE_TYPES[input.content_type], file_token: token };
  };
  switch (req.tripo_type) {
    case "text_to_model":
      return { type: "text_to_model", ...req.params };
    case "image_to_model":
      return { type: "image_to_model", ...req.params, file: file(0) };
    case "multiview_to_model":
      return {
        type: "multiview_to_model",
        ...req.params,
        files: [0, 1, 2, 3].map((i) => (i < req.inputs.length ? file(i) : {})),
      };
    case "refine_model":
      return { type: "refine_model", draft_model_task_id: req.draft_model_task_id };
    case "convert_model":
      return {
        type: "convert_model",
        original_model_task_id: req.original_model_task_id,
        ...req.params,
      };
  }
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
 * Progress is 0 while queued and capped at 99 until success.
 */
export function normalizeStatus(task: TripoTask): NormalizedTripoStatus {
  const raw = Number(task.progress);
  const progress = Number.isFinite(raw) ? Math.max(0, Math.min(100, Math.round(raw))) : 0;
  const failed = (code: ProviderErrorCode, kind: "transient" | "permanent") => ({
    state: "failed" as const,
    progress,
    error: taskError(code, kind, task),
  });
  switch (task.status) {
    case "queued":
      return { state: "waiting", progress: 0, etaSeconds: etaOf(task) };
    case "success": {
      const out = task.output ?? {};
      const modelUrl = outputUrl(out.pbr_model) ?? outputUrl(out.model) ??
        outputUrl(out.base_model);
      if (!modelUrl) return { ...failed("bad_response", "permanent"), progress: 100 };
      return { state: "success", progress: 100, modelUrl };
    }
    case "failed":
      return task.error_code === 2008
        ? failed("content_policy", "permanent")
        : failed("task_failed", "permanent");
    case "banned":
      return failed("content_policy", "permanent");
    case "expired":
      // Queue timeout: nothing was generated or billed; a new submission may succeed.
      return failed("task_expired", "transient");
    case "cancelled":
      return failed("task_cancelled", "permanent");
    default:
      // running, unknown, or a status this client does not know: keep polling.
      return { state: "running", progress: Math.min(progress, 99), etaSeconds: etaOf(task) };
  }
}

function etaOf(task: TripoTask): number | null {
  const left = task.running_left_time;
  return typeof left === "number" && Number.isFinite(left) && left >= 0 ? left : null;
}

/**
 * When to look at an unfinished task again (GETs do not use Tripo's creation quota). With an
 * estimate of the time left (Tripo's `running_left_time`, else one projected from the progress
 * made since submission) half of it, down to 0.3 s near the predicted end, so a finished model
 * is noticed within a fraction of a second; with no estimate the interval grows with the time
 * since submission, like the official poller's doubling (1, 2, 4… capped at 30 s).
 */
export function nextPollSeconds(s: NormalizedTripoStatus, secondsSinceSubmit: number): number {
  if (s.state !== "waiting" && s.state !== "running") return 0;
  const elapsed = Math.max(0, secondsSinceSubmit);
  let left = s.etaSeconds;
  if (left === null && s.state === "running" && s.progress > 0 && elapsed > 0) {
    left = (elapsed * (100 - s.progress)) / s.progress;
  }
  if (left !== null) return Math.min(30, Math.max(0.3, left / 2));
  return Math.min(30, Math.max(1, elapsed));
}
