// The response bodies of the BFF, as zod schemas: what the handlers answer, what the live events
// carry, and what the OpenAPI document describes. The SQL function bff.job_view builds the job
// view; task-status parses it with `jobView` (a drift between the two fails there, loudly).
import { z } from "zod";
import { type ErrorBody, type ErrorCode, ERRORS } from "./errors.ts";
import { JOB_FAILURE_CODES } from "./jobs/failures.ts";
import { convertFormat, jobKind } from "./jobs/schemas.ts";

// Descriptions (.describe) reach the OpenAPI document (tools/openapi) and the typed client.

export const jobStatusValue = z.enum(["pending", "processing", "complete", "failed"]);
export const serviceName = z.enum(["openai", "tripoai"]);

/** A generation POST's 202 body. */
export const accepted = z.object({
  job_id: z.uuid(),
  celery_task_id: z.uuid().describe(
    "The same value as job_id: the original app's field name keeps working.",
  ),
  task_id: z.string().describe("The client's task_id, as sent."),
  status: jobStatusValue,
});

export const storedOutput = z.object({ bucket: z.string(), path: z.string() });

/** A job as the app sees it, with nothing that expires: the live `job` event's payload. */
export const jobView = z.object({
  task_id: z.uuid().describe("The job's id (job_id of the 202)."),
  client_task_id: z.string().describe("The task_id the client sent."),
  kind: jobKind,
  service: serviceName,
  status: jobStatusValue,
  progress: z.number().int().min(0).max(100),
  queue_position: z.number().int().min(0).describe(
    "Jobs of the same provider ahead of this one; 0 once it runs.",
  ),
  eta_seconds: z.number().int().min(0).nullable().describe(
    "Seconds left as the provider estimates them, while it runs.",
  ),
  outputs: z.array(storedOutput).describe("Where the outputs are stored (permanent)."),
  error: z.string().nullable().describe("A user-safe message when the job failed."),
  error_code: z.string().nullable().describe(
    `Why the job failed: one of ${JOB_FAILURE_CODES.join(", ")}.`,
  ),
  cost: z.number().int().min(0).describe(
    "Credits this job costs (held while it runs; charged only if it completes).",
  ),
  source_task_id: z.uuid().nullable().describe(
    "A conversion's source job (the model it converts, when chained or converted by URL).",
  ),
  seq: z.number().int().min(0).describe(
    "Increases with every change of this job: order events by it, drop stale ones.",
  ),
  updated_at: z.string().describe("When the job last changed (ISO 8601)."),
});
export type JobView = z.infer<typeof jobView>;

/** A conversion chained after a model (output_formats), as its source's task-status lists it. */
export const conversion = z.object({
  job_id: z.uuid(),
  format: convertFormat,
  status: jobStatusValue,
});
export type Conversion = z.infer<typeof conversion>;

/** task-status: the job view plus freshly signed download URLs of its outputs. */
export const taskStatus = jobView.extend({
  asset_url: z.string().nullable().describe(
    "A signed download URL of the first output (minted now; it expires).",
  ),
  asset_urls: z.array(z.string()).describe("Signed download URLs of every output, in order."),
  conversions: z.array(conversion).describe(
    "Chained conversions of this model; empty for every other job.",
  ),
});

export type TaskStatus = z.infer<typeof taskStatus>;

export const cancelled = z.object({
  task_id: z.uuid(),
  status: z.literal("failed"),
  cancelled: z.literal(true),
});

// --- errors ----------------------------------------------------------------------------------

export const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];
export const errorCode = z.enum(ERROR_CODES);

/** The one error shape, for the codes given (the OpenAPI document narrows them per status). */
export function errorBodyOf(codes: readonly ErrorCode[]) {
  return z.object({
    error: z.object({
      code: codes === ERROR_CODES ? errorCode : z.enum(codes as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.unknown().optional().describe(
        "Validation issues ({ path, message }[]), or facts such as { balance, price } for a 402.",
      ),
    }),
  });
}
export const errorBody = errorBodyOf(ERROR_CODES);
// errors.ts builds the bodies; this schema describes them: the two must agree.
const _sameErrorBody: z.infer<typeof errorBody> extends ErrorBody ? true : never = true;
void _sameErrorBody;

// --- credits (SPEC §11) ------------------------------------------------------------------------

const credits = z.number().int().min(0);

export const ledgerEntry = z.object({
  id: z.number().int().min(1),
  entry: z.enum(["grant", "reserve", "charge", "release"]),
  amount: z.number().int().min(1).describe(
    "Always positive; the entry says which way: a grant adds, a reserve holds, a charge takes " +
      "what was held, a release gives it back.",
  ),
  job_id: z.uuid().nullable(),
  reason: z.string().nullable(),
  created_at: z.string(),
});

/** GET /credits: the balance, what running jobs hold, and a page of the ledger, newest first. */
export const creditStatement = z.object({
  balance: z.number().int(),
  reserved: credits,
  available: z.number().int(),
  ledger: z.array(ledgerEntry),
  next_before: z.number().int().nullable().describe(
    "Pass as `before` for the next page; null on the last one.",
  ),
});
export type CreditStatement = z.infer<typeof creditStatement>;

/** Every job kind's price, in credits. */
export const priceList = z.record(jobKind, credits);

/** POST /credits/grant: the ledger entry and the user's available credits after it. */
export const grantResult = z.object({
  entry_id: z.number().int().min(1),
  available: z.number().int(),
});

// --- process-jobs ------------------------------------------------------------------------------

export const processAccepted = z.object({ accepted: z.literal(true) });

/** What one process-jobs invocation did (`?wait=true`). */
export const invocationSummary = z.object({
  claimed: credits,
  submitted: credits,
  progressed: credits,
  completed: credits,
  failed: credits,
  retried: credits,
  lease_lost: credits,
  errors: credits,
  ms: z.number().min(0),
});
export type InvocationSummary = z.infer<typeof invocationSummary>;
