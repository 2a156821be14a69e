// The one database module: a postgres.js pool over SUPABASE_DB_URL and one typed function per
// SQL call the BFF makes. Every job state change is a SQL function in schema `bff` (see the
// jobs migration); this file only calls them.
import postgres from "postgres";
import type { Config } from "./config.ts";

export type JobKind =
  | "image_to_image"
  | "text_to_model"
  | "image_to_model"
  | "sketch_to_model"
  | "refine_model";
export type Provider = "openai" | "tripo";

export interface EnqueueInput {
  userId: string;
  kind: JobKind;
  provider: Provider;
  clientTaskId: string;
  request: Record<string, unknown>;
  idempotencyKey: string;
  requestHash: string;
  rateBucket: "image" | "model" | "refine";
  rateLimit: number;
  maxActive: number;
  outputs: number;
  rows: Record<string, unknown>;
  maxAttempts?: number;
  deadlineSeconds?: number;
}

export interface EnqueueResult {
  outcome: "created" | "existing" | "conflict" | "rate_limited" | "too_many_active";
  job_id: string | null;
  retry_after_seconds: number | null;
}

export interface ClaimedJob {
  job_id: string;
  lease_token: string;
  user_id: string;
  kind: JobKind;
  provider: Provider;
  client_task_id: string;
  request: Record<string, unknown>;
  provider_task_id: string | null;
  submitted_at: Date | null;
  attempts: number;
  progress: number;
}

export interface OutputRef {
  bucket: string;
  path: string;
  url: string;
}

export interface JobStatusRow {
  job_id: string;
  client_task_id: string;
  provider: Provider;
  kind: JobKind;
  status: "pending" | "processing" | "complete" | "failed";
  progress: number;
  error_code: string | null;
  error_message: string | null;
  outputs: OutputRef[];
}

export type Db = ReturnType<typeof createDb>;

/**
 * Collects calls made in the same turn of the event loop (up to `max`) and runs them as one
 * batch; each caller gets its own result, or the batch's error.
 */
export function createBatcher<I, O>(run: (batch: I[]) => Promise<O[]>, max = 100) {
  const pending: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  let scheduled = false;
  function flush() {
    scheduled = false;
    const batch = pending.splice(0, max);
    if (pending.length) schedule();
    run(batch.map((p) => p.item)).then(
      (out) => batch.forEach((p, i) => p.resolve(out[i])),
      (e) => batch.forEach((p) => p.reject(e)),
    );
  }
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setTimeout(flush, 0);
  }
  return {
    add(item: I): Promise<O> {
      return new Promise<O>((resolve, reject) => {
        pending.push({ item, resolve, reject });
        schedule();
      });
    },
  };
}

export function createDb(config: Config) {
  const sql = postgres(config.SUPABASE_DB_URL, {
    max: config.DB_POOL_SIZE,
    idle_timeout: 60,
    connect_timeout: 10,
    onnotice: () => {},
    // jsonb comes back parsed; bigint is not used.
    types: {},
  });

  const completions = createBatcher<
    { job_id: string; lease_token: string; outputs: OutputRef[] },
    boolean
  >(async (batch) => {
    const rows = await sql<{ job_id: string; ok: boolean }[]>`
      select * from bff.complete_jobs(${sql.json(batch as unknown as postgres.JSONValue)})`;
    const ok = new Map(rows.map((r) => [r.job_id, r.ok]));
    return batch.map((b) => ok.get(b.job_id) === true);
  });

  return {
    sql,

    async enqueueJob(i: EnqueueInput): Promise<EnqueueResult> {
      const [row] = await sql<EnqueueResult[]>`
        select * from bff.enqueue_job(
          ${i.userId}::uuid, ${i.kind}, ${i.provider}, ${i.clientTaskId},
          ${sql.json(i.request as postgres.JSONValue)}, ${i.idempotencyKey}, ${i.requestHash},
          ${i.rateBucket}, ${i.rateLimit}, ${i.maxActive}, ${i.outputs},
          ${sql.json(i.rows as postgres.JSONValue)}, ${i.maxAttempts ?? 8},
          ${i.deadlineSeconds ?? 3600})`;
      return row;
    },

    async claimJobs(limit: number, leaseSeconds: number, tripoCap: number): Promise<ClaimedJob[]> {
      return await sql<ClaimedJob[]>`
        select * from bff.claim_jobs(${limit}, ${leaseSeconds}, ${tripoCap})`;
    },

    async heartbeat(jobId: string, lease: string, leaseSeconds: number): Promise<boolean> {
      const [r] =
        await sql`select bff.heartbeat(${jobId}::uuid, ${lease}::uuid, ${leaseSeconds}) as ok`;
      return r.ok === true;
    },

    async beginSubmit(
      jobId: string,
      lease: string,
    ): Promise<"ok" | "submitted" | "ambiguous" | "lease_lost"> {
      const [r] = await sql`select bff.begin_submit(${jobId}::uuid, ${lease}::uuid) as r`;
      return r.r;
    },

    /** Stores the provider task id; with `firstPollSeconds`, also releases the lease. */
    async recordSubmission(
      jobId: string,
      lease: string,
      providerTaskId: string,
      firstPollSeconds: number | null = null,
    ): Promise<boolean> {
      const [r] = await sql`
        select bff.record_submission(${jobId}::uuid, ${lease}::uuid, ${providerTaskId},
          ${firstPollSeconds}) as ok`;
      return r.ok === true;
    },

    async recordProgress(
      jobId: string,
      lease: string,
      progress: number,
      nextRunSeconds: number,
    ): Promise<boolean> {
      const [r] = await sql`
        select bff.record_progress(${jobId}::uuid, ${lease}::uuid, ${Math.round(progress)},
          ${nextRunSeconds}) as ok`;
      return r.ok === true;
    },

    /**
     * Completes a job. Completions that arrive in the same moment share one round trip
     * (bff.complete_jobs); each is still fenced by its own lease.
     */
    completeJob(jobId: string, lease: string, outputs: OutputRef[]): Promise<boolean> {
      return completions.add({ job_id: jobId, lease_token: lease, outputs });
    },

    async failJob(jobId: string, lease: string, code: string, message: string): Promise<boolean> {
      const [r] = await sql`
        select bff.fail_job(${jobId}::uuid, ${lease}::uuid, ${code}, ${message}) as ok`;
      return r.ok === true;
    },

    async retryJob(
      jobId: string,
      lease: string,
      code: string,
      message: string,
      retryAfterSeconds: number | null,
      clearSubmit: boolean,
    ): Promise<"retrying" | "failed" | "lease_lost"> {
      const [r] = await sql`
        select bff.retry_job(${jobId}::uuid, ${lease}::uuid, ${code}, ${message},
          ${retryAfterSeconds}, ${clearSubmit}) as r`;
      return r.r;
    },

    async cancelJob(
      jobId: string,
      userId: string,
    ): Promise<"cancelled" | "not_found" | "already_finished"> {
      const [r] = await sql`select bff.cancel_job(${jobId}::uuid, ${userId}::uuid) as r`;
      return r.r;
    },

    async jobStatus(jobId: string, userId: string): Promise<JobStatusRow | undefined> {
      const [r] = await sql<JobStatusRow[]>`
        select * from bff.job_status(${jobId}::uuid, ${userId}::uuid)`;
      return r;
    },

    /** The Tripo draft id of the caller's own finished model stored at bucket/path. */
    async findRefineDraft(userId: string, bucket: string, path: string): Promise<string | null> {
      const [r] = await sql`
        select bff.find_refine_draft(${userId}::uuid, ${bucket}, ${path}) as id`;
      return r?.id ?? null;
    },

    /** Whether `draftTaskId` is the provider id of one of the caller's own finished models. */
    async ownsDraft(userId: string, draftTaskId: string): Promise<boolean> {
      const rows = await sql`
        select 1 from public.models
        where user_id = ${userId}::uuid and ai_service_task_id = ${draftTaskId}
          and status = 'complete'
        limit 1`;
      return rows.length > 0;
    },

    /** NOTIFY bff_jobs: wakes a listening process-jobs loop (sent after an enqueue commits). */
    async wakeWorkers(): Promise<void> {
      await sql`select bff.wake_workers()`;
    },

    /** Calls `onJob` on every wake-up (NOTIFY bff_jobs); resolves to an unlisten. */
    async listenForNewJobs(onJob: () => void): Promise<() => Promise<void>> {
      const { unlisten } = await sql.listen("bff_jobs", () => onJob());
      return unlisten;
    },

    /** Earliest time a non-terminal job becomes due (process-jobs waits for it when close). */
    async nextDueAt(): Promise<Date | null> {
      const [r] = await sql`
        select min(greatest(run_at, coalesce(lease_expires_at, run_at))) as at
        from public.jobs where state in ('queued', 'running')`;
      return r?.at ?? null;
    },

    async close(): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  };
}
