// Every route the functions serve (supabase/functions/*/index.ts), as the gateway serves them
// under /functions/v1: method, who may call, body, success answers and the error codes each can
// answer with. tests/contract drives the running stack through all of them.
import type { ErrorCode } from "../../supabase/functions/_shared/errors.ts";
import { JOB_KINDS, type JobKind } from "../../supabase/functions/_shared/jobs/schemas.ts";
import type { ComponentName } from "./components.ts";
import type { HeaderName, PARAMETERS } from "./http.ts";

export type Method = "get" | "post" | "put" | "delete";

export interface Success {
  status: number;
  description: string;
  schema: ComponentName;
  headers?: Partial<Record<HeaderName, boolean>>;
}

export interface Operation {
  path: string;
  method: Method;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  security: "user" | "service";
  parameters?: (keyof typeof PARAMETERS)[];
  body?: ComponentName;
  success: Success[];
  errors: ErrorCode[];
}

/** Methods a path does not serve answer 405 with Allow: the document lists them per path. */
export const ALLOWED: Record<string, Method[]> = {};

const BODY_ERRORS: ErrorCode[] = [
  "invalid_json",
  "validation_failed",
  "payload_too_large",
  "unsupported_media_type",
];

/** The generation endpoints: one per job kind. */
const GENERATIONS: Record<JobKind, {
  fn: string;
  body: ComponentName;
  summary: string;
  inputs: boolean;
  source: boolean;
  service: "openai" | "tripoai";
}> = {
  text_to_model: {
    fn: "generate-text-to-model",
    body: "TextToModelRequest",
    summary: "Start a 3D model from a prompt (Tripo text_to_model)",
    inputs: false,
    source: false,
    service: "tripoai",
  },
  image_to_model: {
    fn: "generate-image-to-model",
    body: "ImageToModelRequest",
    summary: "Start a 3D model from one to four photos (Tripo image/multiview_to_model)",
    inputs: true,
    source: false,
    service: "tripoai",
  },
  sketch_to_model: {
    fn: "generate-sketch-to-model",
    body: "SketchToModelRequest",
    summary: "Start a 3D model from a sketch (Tripo image_to_model)",
    inputs: true,
    source: false,
    service: "tripoai",
  },
  refine_model: {
    fn: "generate-refine-model",
    body: "RefineModelRequest",
    summary: "Refine one of your finished draft models (Tripo refine_model)",
    inputs: true,
    source: true,
    service: "tripoai",
  },
  convert_model: {
    fn: "generate-convert-model",
    body: "ConvertModelRequest",
    summary: "Convert one of your finished models to another format (Tripo convert_model)",
    inputs: true,
    source: true,
    service: "tripoai",
  },
  image_to_image: {
    fn: "generate-image-to-image",
    body: "ImageToImageRequest",
    summary: "Start concept images from an input image (OpenAI gpt-image-1 edit)",
    inputs: true,
    source: false,
    service: "openai",
  },
  text_to_image: {
    fn: "generate-text-to-image",
    body: "TextToImageRequest",
    summary: "Start concept images from a prompt (OpenAI gpt-image-1 generation)",
    inputs: false,
    source: false,
    service: "openai",
  },
};

const camel = (fn: string) => fn.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function generation(kind: JobKind): Operation {
  const g = GENERATIONS[kind];
  const errors: ErrorCode[] = [
    "bad_request",
    ...BODY_ERRORS,
    "unauthorized",
    "insufficient_credits",
    "idempotency_conflict",
    "rate_limited",
    "too_many_active_jobs",
  ];
  if (g.inputs) {
    errors.push(
      "asset_not_readable",
      "asset_too_large",
      "unsupported_asset_type",
      "upstream_error",
      "service_unavailable",
    );
  }
  if (kind === "refine_model") errors.push("forbidden");
  return {
    path: `/functions/v1/${g.fn}`,
    method: "post",
    operationId: camel(g.fn),
    tag: "generation",
    summary: g.summary,
    description: `Validates the body` +
      (g.inputs
        ? ", checks every input is this project's Storage and readable with the caller's token"
        : "") +
      `, reserves the job kind's price and creates the job; the job runs in the background ` +
      `(${g.service === "openai" ? "OpenAI" : "Tripo"}). The same request repeated (same user, ` +
      `same body, or the same Idempotency-Key) answers the first job with ` +
      `Idempotent-Replayed: true and starts nothing.` +
      (g.source ? " The input must be one of the caller's own finished GLB models." : ""),
    security: "user",
    parameters: ["IdempotencyKey"],
    body: g.body,
    success: [{
      status: 202,
      description: "The job was accepted (or the earlier identical one returned).",
      schema: "Accepted",
      headers: { Location: true, IdempotentReplayed: false },
    }],
    errors,
  };
}

export const OPERATIONS: Operation[] = [
  ...JOB_KINDS.map(generation),
  {
    path: "/functions/v1/task-status/{job_id}",
    method: "get",
    operationId: "getTaskStatus",
    tag: "jobs",
    summary: "Read one of your jobs",
    description: "Reads the database only (never a provider). Another user's job is a 404, " +
      "the same answer as an unknown one. Output URLs are signed afresh on every call.",
    security: "user",
    parameters: ["JobId", "Service"],
    success: [{ status: 200, description: "The job.", schema: "TaskStatus" }],
    errors: ["bad_request", "unauthorized", "not_found", "upstream_error"],
  },
  {
    path: "/functions/v1/task-status/{job_id}",
    method: "delete",
    operationId: "cancelTask",
    tag: "jobs",
    summary: "Cancel one of your jobs",
    description: "A job that has already finished is a 409 conflict.",
    security: "user",
    parameters: ["JobId"],
    success: [{ status: 200, description: "The job was cancelled.", schema: "Cancelled" }],
    errors: ["bad_request", "unauthorized", "not_found", "conflict"],
  },
  {
    path: "/functions/v1/task-status/{job_id}/cancel",
    method: "post",
    operationId: "cancelTaskPost",
    tag: "jobs",
    summary: "Cancel one of your jobs (for clients that cannot send DELETE)",
    security: "user",
    parameters: ["JobId"],
    success: [{ status: 200, description: "The job was cancelled.", schema: "Cancelled" }],
    errors: ["bad_request", "unauthorized", "not_found", "conflict"],
  },
  {
    path: "/functions/v1/credits",
    method: "get",
    operationId: "getCredits",
    tag: "credits",
    summary: "Your balance and ledger, newest first",
    security: "user",
    parameters: [],
    success: [{ status: 200, description: "The statement.", schema: "CreditStatement" }],
    errors: ["validation_failed", "unauthorized"],
  },
  {
    path: "/functions/v1/credits/prices",
    method: "get",
    operationId: "getPrices",
    tag: "credits",
    summary: "The price of every job kind",
    security: "user",
    success: [{ status: 200, description: "Every price.", schema: "Prices" }],
    errors: ["unauthorized"],
  },
  {
    path: "/functions/v1/credits/prices",
    method: "put",
    operationId: "setPrices",
    tag: "credits",
    summary: "Change prices (the project's services only)",
    security: "service",
    body: "PricesUpdate",
    success: [{ status: 200, description: "Every price, after the change.", schema: "Prices" }],
    errors: [...BODY_ERRORS, "unauthorized"],
  },
  {
    path: "/functions/v1/credits/grant",
    method: "post",
    operationId: "grantCredits",
    tag: "credits",
    summary: "Grant credits to a user (the project's services only)",
    description: "Once per Idempotency-Key: the same key and body again answers the first " +
      "grant (200, Idempotent-Replayed: true); the same key with another body is a 409.",
    security: "service",
    parameters: ["IdempotencyKey"],
    body: "GrantRequest",
    success: [
      { status: 201, description: "Granted.", schema: "GrantResult" },
      {
        status: 200,
        description: "This key's earlier grant; nothing new was granted.",
        schema: "GrantResult",
        headers: { IdempotentReplayed: true },
      },
    ],
    errors: ["bad_request", ...BODY_ERRORS, "unauthorized", "not_found", "idempotency_conflict"],
  },
  {
    path: "/functions/v1/ops",
    method: "get",
    operationId: "getOpsOverview",
    tag: "operators",
    summary: "The queue, failures by code and credits (operators only)",
    description: "For signed-in users whose app_metadata marks them operators " +
      '(`role: "operator"` or `operator: true`), which only the secret key can set (Auth\'s ' +
      "admin API). The claim is read from the verified access token: it takes effect with the " +
      "user's next token. Any other user is refused with 403.",
    security: "user",
    success: [{
      status: 200,
      description: "The operators' views, read at one moment.",
      schema: "OpsOverview",
    }],
    errors: ["unauthorized", "forbidden"],
  },
  {
    path: "/functions/v1/process-jobs",
    method: "post",
    operationId: "processJobs",
    tag: "service",
    summary: "Run the job runner (pg_cron and the generation functions; never a user)",
    security: "service",
    parameters: ["Wait"],
    success: [
      {
        status: 202,
        description: "The runner works in the background.",
        schema: "ProcessJobsAccepted",
      },
      { status: 200, description: "With wait=true: what was done.", schema: "InvocationSummary" },
    ],
    errors: ["unauthorized"],
  },
];

// 405s as the functions answer them (app.all(...) → methodNotAllowed): the methods each
// path serves, in the order of its Allow header.
for (const g of Object.values(GENERATIONS)) ALLOWED[`/functions/v1/${g.fn}`] = ["post"];
ALLOWED["/functions/v1/task-status/{job_id}"] = ["get", "delete"];
ALLOWED["/functions/v1/credits"] = ["get"];
ALLOWED["/functions/v1/credits/prices"] = ["get", "put"];
ALLOWED["/functions/v1/credits/grant"] = ["post"];
ALLOWED["/functions/v1/ops"] = ["get"];
ALLOWED["/functions/v1/process-jobs"] = ["post"];

/** Paths whose other methods meet no route at all: 404 (after the caller check). */
export const UNROUTED: Record<string, Method[]> = {
  "/functions/v1/task-status/{job_id}/cancel": ["post"],
};
