// The response bodies of the BFF, as zod schemas: what the handlers answer, what the live events
// carry, and what the OpenAPI document describes. The SQL function bff.job_view builds the job
// view; task-status parses it with `jobView` (a drift between the two fails there, loudly).
import { z } from "zod";
import { JOB_KINDS } from "./jobs/schemas.ts";

export const jobStatusValue = z.enum(["pending", "processing", "complete", "failed"]);
export const serviceName = z.enum(["openai", "tripoai"]);

/** A generation POST's 202 body. */
export const accepted = z.object({
  job_id: z.uuid(),
  /** The same value as job_id: the original app's field name keeps working. */
  celery_task_id: z.uuid(),
  task_id: z.string(),
  status: jobStatusValue,
});

export const storedOutput = z.object({ bucket: z.string(), path: z.string() });

/** A job as the app sees it, with nothing that expires: the live `job` event's payload. */
export const jobView = z.object({
  task_id: z.uuid(),
  client_task_id: z.string(),
  kind: z.enum(JOB_KINDS),
  service: serviceName,
  status: jobStatusValue,
  progress: z.number().int().min(0).max(100),
  /** Jobs of the same provider ahead of this one; 0 once it runs. */
  queue_position: z.number().int().min(0),
  /** Seconds left as the provider estimates them, while it runs. */
  eta_seconds: z.number().int().min(0).nullable(),
  outputs: z.array(storedOutput),
  error: z.string().nullable(),
  error_code: z.string().nullable(),
  /** Credits this job costs (held while it runs; charged only if it completes). */
  cost: z.number().int().min(0),
  /** Increases with every change of this job: order events by it, drop stale ones. */
  seq: z.number().int().min(0),
  updated_at: z.string(),
});
export type JobView = z.infer<typeof jobView>;

/** task-status: the job view plus freshly signed download URLs of its outputs. */
export const taskStatus = jobView.extend({
  asset_url: z.string().nullable(),
  asset_urls: z.array(z.string()),
});

export type TaskStatus = z.infer<typeof taskStatus>;

export const cancelled = z.object({
  task_id: z.uuid(),
  status: z.literal("failed"),
  cancelled: z.literal(true),
});
