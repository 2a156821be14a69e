// components.schemas of the OpenAPI document, converted from the zod schemas the functions
// validate with and answer with (zod 4's z.toJSONSchema). Request bodies are converted as
// input (what a client may send: defaults make fields optional), responses as output (what the
// BFF sends). Schemas named here are referenced with $ref wherever another one uses them.
import { z } from "zod";
import * as schemas from "../../supabase/functions/_shared/jobs/schemas.ts";
import * as res from "../../supabase/functions/_shared/responses.ts";
import { grantBody, pricesBody } from "../../supabase/functions/_shared/handlers/credits.ts";
import { opsOverview } from "../../supabase/functions/_shared/handlers/ops.ts";

export type JsonSchema = Record<string, unknown>;

interface Named {
  id: string;
  schema: z.ZodType;
  description: string;
}

const named = (id: string, schema: z.ZodType, description: string): Named => ({
  id,
  schema,
  description,
});

/** Enums used by requests and responses alike: one component each, the same in both. */
const SHARED: Named[] = [
  named("JobKind", schemas.jobKind, "A kind of job; each generation endpoint makes one kind."),
  named("ConvertFormat", schemas.convertFormat, "A file format a model can be converted to."),
];

/** Request bodies, keyed by the component name the operations refer to. */
export const REQUESTS = {
  TextToModelRequest: named(
    "TextToModelRequest",
    schemas.textToModelBody,
    "Tripo text_to_model from a prompt.",
  ),
  ImageToModelRequest: named(
    "ImageToModelRequest",
    schemas.imageToModelBody,
    "Tripo image_to_model (one view) or multiview_to_model (two to four views).",
  ),
  SketchToModelRequest: named(
    "SketchToModelRequest",
    schemas.sketchToModelBody,
    "Tripo image_to_model from a sketch.",
  ),
  RefineModelRequest: named(
    "RefineModelRequest",
    schemas.refineModelBody,
    "Tripo refine_model of one of the caller's own finished draft models. Without " +
      "draft_model_task_id the draft is found from the caller's own model stored at " +
      "input_model_asset_url.",
  ),
  ConvertModelRequest: named(
    "ConvertModelRequest",
    schemas.convertModelBody,
    "Tripo convert_model of one of the caller's own finished GLB models.",
  ),
  ImageToImageRequest: named(
    "ImageToImageRequest",
    schemas.imageToImageBody,
    "OpenAI gpt-image-1 edit of an input image; the style is appended to the prompt.",
  ),
  TextToImageRequest: named(
    "TextToImageRequest",
    schemas.textToImageBody,
    "OpenAI gpt-image-1 generation from a prompt; the style is appended to the prompt.",
  ),
  GrantRequest: named("GrantRequest", grantBody, "Credits to add to a user's balance."),
  PricesUpdate: named(
    "PricesUpdate",
    pricesBody,
    "New prices (credits) for the job kinds named; at least one. Kinds not named keep theirs.",
  ),
} as const;

/** Response bodies, keyed by component name. */
export const RESPONSES = {
  JobStatus: named("JobStatus", res.jobStatusValue, "Where a job is."),
  Service: named("Service", res.serviceName, "The provider family a job runs on."),
  Accepted: named(
    "Accepted",
    res.accepted,
    "A job was created (or the same request's earlier job returned); follow Location for its " +
      "status. celery_task_id carries the same value as job_id.",
  ),
  StoredOutput: named("StoredOutput", res.storedOutput, "An output's permanent Storage location."),
  JobView: named(
    "JobView",
    res.jobView,
    "A job with nothing that expires: the payload of the live `job` event on the Realtime " +
      "topic user:<user_id>:jobs.",
  ),
  Conversion: named("Conversion", res.conversion, "A conversion chained after a model."),
  TaskStatus: named(
    "TaskStatus",
    res.taskStatus,
    "A job as task-status shows it: the job view plus freshly signed download URLs.",
  ),
  Cancelled: named("Cancelled", res.cancelled, "The job was cancelled (it ends as failed)."),
  ErrorCode: named("ErrorCode", res.errorCode, "Every error code a client can see."),
  ErrorBody: named("ErrorBody", res.errorBody, "The one error shape of every function."),
  LedgerEntry: named("LedgerEntry", res.ledgerEntry, "One entry of the append-only ledger."),
  CreditStatement: named(
    "CreditStatement",
    res.creditStatement,
    "The caller's balance, what running jobs hold, and a page of the ledger, newest first.",
  ),
  Prices: named("Prices", res.priceList, "Every job kind's price, in credits."),
  GrantResult: named("GrantResult", res.grantResult, "The grant's ledger entry."),
  OpsOverview: named(
    "OpsOverview",
    opsOverview,
    "bff.queue_overview (jobs by state and provider), bff.failures_by_code (failed and " +
      "cancelled jobs of the last 24 h), the top spenders of bff.credit_overview and " +
      "bff.credit_totals.",
  ),
  ProcessJobsAccepted: named(
    "ProcessJobsAccepted",
    res.processAccepted,
    "The runner was started (or woken) in the background.",
  ),
  InvocationSummary: named(
    "InvocationSummary",
    res.invocationSummary,
    "What one process-jobs invocation did.",
  ),
} as const;

export type ComponentName = keyof typeof REQUESTS | keyof typeof RESPONSES;

export const ref = (id: ComponentName | "JobKind" | "ConvertFormat") => ({
  $ref: `#/components/schemas/${id}`,
});

/** The JSON Schema of one schema not named as a component (parameters, headers, narrowed errors). */
export function inline(schema: z.ZodType, io: "input" | "output" = "output"): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "throw" });
  return rest;
}

function convert(list: Named[], io: "input" | "output"): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string; description: string }>();
  for (const n of list) registry.add(n.schema, { id: n.id, description: n.description });
  const out = z.toJSONSchema(registry, {
    io,
    unrepresentable: "throw",
    uri: (id) => `#/components/schemas/${id}`,
  });
  const result: Record<string, JsonSchema> = {};
  for (const n of list) {
    const { $schema: _s, $id: _i, description, ...rest } = out.schemas[n.id] as JsonSchema;
    // The component's own sentence first, then what the schema itself says (its rules).
    const said = typeof description === "string" && description !== n.description
      ? ` ${description}`
      : "";
    result[n.id] = { description: `${n.description}${said}`, ...rest };
  }
  return result;
}

export function componentSchemas(): Record<string, JsonSchema> {
  const input = convert([...SHARED, ...Object.values(REQUESTS)], "input");
  const output = convert([...SHARED, ...Object.values(RESPONSES)], "output");
  for (const { id } of SHARED) {
    if (JSON.stringify(input[id]) !== JSON.stringify(output[id])) {
      throw new Error(`${id} differs between requests and responses: name them apart`);
    }
  }
  const all = { ...input, ...output };
  return Object.fromEntries(Object.keys(all).sort().map((k) => [k, all[k]]));
}
