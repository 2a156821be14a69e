// The one database module: a postgres.js pool over SUPABASE_DB_URL and one typed function per
// SQL call the BFF makes. Every job state change is a SQL function in schema `bff` (see
// supabase/migrations); this file only calls them.
//
// SUPABASE_DB_URL may be the transaction-mode pooler (Supavisor, port 6543), so: no named
// prepared statements (`prepare: false`), no session state, no LISTEN, and every call is ONE
// statement: there is no client-side transaction anywhere (one would hold a server connection of
// the pooler across round trips, and a reset mid-way leaves its outcome to guess). State that
// must outlive a statement lives in tables; locks are transaction-scoped, inside the functions.
// postgres.js 4: 3.4.9 left its whole pool hung for good after a few resets of its connections
// (tests/db/pool_resets.test.ts).
// Each statement is sent with its values inlined as literals (sql_literals.ts): with prepare off,
// postgres.js would take two round trips for a statement with parameters; this takes one.
import postgres from "postgres";
import type { Config } from "./config.ts";
import { inlined, jsonValue } from "./sql_literals.ts";
import type { JobKind, Provider } from "./jobs/schemas.ts";
import type { RateBucket } from "./jobs/plans.ts";
import type { SourceInfo } from "./jobs/plans.ts";
import {
  type Conversion,
  conversion,
  type CreditStatement,
  type JobView,
  jobView,
} from "./responses.ts";

export interface EnqueueInput {
  userId: string;
  kind: JobKind;
  provider: Provider;
  clientTaskId: string;
  request: unknown;
  idempotencyKey: string;
  requestHash: string;
  rateBucket: RateBucket;
  rateLimit: number;
  maxActive: number;
  outputs: number;
  rows: {
    task_id: string;
    prompt: string | null;
    style: string | null;
    /** models rows: the file format (GLB unless converted) and the model converted from. */
    format?: string;
    source_model_id?: string;
    metadata: unknown;
  };
  maxAttempts: number;
  deadlineSeconds: number;
  /** Credits a user starts with, granted on their first enqueue (CREDITS_SIGNUP_GRANT). */
  signupGrant: number;
}

export type EnqueueResult =
  | { outcome: "created" | "existing"; job_id: string }
  | { outcome: "conflict"; job_id: string }
  | { outcome: "rate_limited" | "too_many_active"; retry_after_seconds: number }
  | { outcome: "insufficient_credits"; balance: number; price: number };

export type GrantResult = {
  outcome: "created" | "existing" | "conflict" | "no_user";
  entry_id: number | null;
  available: number | null;
};

export interface ClaimedJob {
  job_id: string;
  lease_token: string;
  user_id: string;
  kind: JobKind;
  provider: Provider;
  client_task_id: string;
  request: unknown;
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

/** A job as task-status shows it, and its outputs to sign. */
export interface JobStatusRow {
  view: JobView;
  outputs: OutputRef[];
  /** The conversions chained after this model (output_formats), oldest first. */
  conversions: Conversion[];
}

/** What bff.queue_overview, failures_by_code, credit_overview and credit_totals hold. */
export interface OpsOverview {
  queue: unknown[];
  failures: unknown[];
  credits: unknown[];
  credit_totals: unknown[];
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

/** postgres.js settings for SUPABASE_DB_URL, which may be a transaction-mode pooler. */
export function poolOptions(max: number): postgres.Options<Record<string, never>> {
  return {
    max,
    // Transaction pooling: a named statement prepared on one server connection does not exist
    // on the next one (postgres.js with its default hangs behind PgBouncer in this mode).
    prepare: false,
    // Array types are never sent or read, so the extra catalog query per connection is skipped.
    fetch_types: false,
    // One statement at a time per connection: a statement pipelined behind another can reach the
    // server after the pooler has ended the first one's transaction and handed the connection to
    // someone else, and its answer is then dropped (PgBouncer 1.18 here: "got packet from server
    // when not linked", the query never settles; Supavisor before 2.10 the same). The pool's
    // connections, not pipelining, give an isolate its concurrency.
    max_pipeline: 1,
    // The last resort against a pooler that stops answering: no statement here runs for more
    // than a fraction of a second, so one that has not settled in 30 s (waiting included) is
    // cancelled and rejects, instead of holding its step, or the process-jobs loop, forever.
    query_timeout: 30,
    idle_timeout: 20,
    max_lifetime: 30 * 60,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "makeit3d-bff" },
  };
}

export function createDb(config: Config) {
  const sql = postgres(config.SUPABASE_DB_URL, poolOptions(config.dbPoolSize));
  /** One statement with its values inlined (sql_literals.ts): one round trip, not two. */
  const q = inlined(sql);

  const completions = createBatcher<
    { job_id: string; lease_token: string; outputs: OutputRef[] },
    boolean
  >(async (batch) => {
    const rows = await q<{ job_id: string; ok: boolean }[]>`
      select * from bff.complete_jobs(${jsonValue(batch)})`;
    const ok = new Map(rows.map((r) => [r.job_id, r.ok]));
    return batch.map((b) => ok.get(b.job_id) === true);
  });

  return {
    async enqueueJob(i: EnqueueInput): Promise<EnqueueResult> {
      const [row] = await q<
        {
          outcome: EnqueueResult["outcome"];
          job_id: string | null;
          retry_after_seconds: number | null;
          balance: number | null;
          price: number | null;
        }[]
      >`
        select * from bff.enqueue_job(
          ${i.userId}::uuid, ${i.kind}, ${i.provider}, ${i.clientTaskId},
          ${jsonValue(i.request)}, ${i.idempotencyKey}, ${i.requestHash},
          ${i.rateBucket}, ${i.rateLimit}, ${i.maxActive}, ${i.outputs},
          ${jsonValue(i.rows)}, ${i.maxAttempts}, ${i.deadlineSeconds}, ${i.signupGrant})`;
      switch (row.outcome) {
        case "created":
        case "existing":
        case "conflict":
          return { outcome: row.outcome, job_id: row.job_id ?? "" };
        case "rate_limited":
        case "too_many_active":
          return { outcome: row.outcome, retry_after_seconds: row.retry_after_seconds ?? 30 };
        case "insufficient_credits":
          return { outcome: row.outcome, balance: row.balance ?? 0, price: row.price ?? 0 };
      }
      throw new Error(`enqueue_job answered an unknown outcome: ${row.outcome}`);
    },

    async claimJobs(limit: number, leaseSeconds: number, tripoCap: number): Promise<ClaimedJob[]> {
      return await q<ClaimedJob[]>`
        select * from bff.claim_jobs(${limit}, ${leaseSeconds}, ${tripoCap})`;
    },

    async heartbeat(jobId: string, lease: string, leaseSeconds: number): Promise<boolean> {
      const [r] =
        await q`select bff.heartbeat(${jobId}::uuid, ${lease}::uuid, ${leaseSeconds}) as ok`;
      return r.ok === true;
    },

    /** Hands back held leases at once (an isolate shutting down), so others take the jobs. */
    async releaseLeases(tokens: string[]): Promise<number> {
      if (tokens.length === 0) return 0;
      const [r] = await q`select bff.release_leases(${jsonValue(tokens)}) as n`;
      return Number(r.n);
    },

    async beginSubmit(
      jobId: string,
      lease: string,
    ): Promise<"ok" | "submitted" | "ambiguous" | "lease_lost"> {
      const [r] = await q`select bff.begin_submit(${jobId}::uuid, ${lease}::uuid) as r`;
      return r.r;
    },

    /** Stores the provider task id; with `firstPollSeconds`, also releases the lease. */
    async recordSubmission(
      jobId: string,
      lease: string,
      providerTaskId: string,
      firstPollSeconds: number | null = null,
    ): Promise<boolean> {
      const [r] = await q`
        select bff.record_submission(${jobId}::uuid, ${lease}::uuid, ${providerTaskId},
          ${firstPollSeconds}) as ok`;
      return r.ok === true;
    },

    async recordProgress(
      jobId: string,
      lease: string,
      progress: number,
      nextRunSeconds: number,
      etaSeconds: number | null = null,
    ): Promise<boolean> {
      const eta = etaSeconds === null ? null : Math.round(etaSeconds);
      const [r] = await q`
        select bff.record_progress(${jobId}::uuid, ${lease}::uuid, ${Math.round(progress)},
          ${nextRunSeconds}, ${eta}) as ok`;
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
      const [r] = await q`
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
      const [r] = await q`
        select bff.retry_job(${jobId}::uuid, ${lease}::uuid, ${code}, ${message},
          ${retryAfterSeconds}, ${clearSubmit}) as r`;
      return r.r;
    },

    async cancelJob(
      jobId: string,
      userId: string,
    ): Promise<"cancelled" | "not_found" | "already_finished"> {
      const [r] = await q`select bff.cancel_job(${jobId}::uuid, ${userId}::uuid) as r`;
      return r.r;
    },

    async jobStatus(jobId: string, userId: string): Promise<JobStatusRow | undefined> {
      const [r] = await q<{ view: unknown; outputs: OutputRef[]; conversions: unknown }[]>`
        select * from bff.job_status(${jobId}::uuid, ${userId}::uuid)`;
      return r
        ? {
          view: jobView.parse(r.view),
          outputs: r.outputs,
          conversions: conversion.array().parse(r.conversions),
        }
        : undefined;
    },

    /** The caller's own finished GLB model stored at bucket/path (refine and convert start there). */
    async findSourceModel(
      userId: string,
      bucket: string,
      path: string,
    ): Promise<SourceInfo | null> {
      const [r] = await q<{ task_id: string; model_id: string; model_version: string | null }[]>`
        select * from bff.find_source_model(${userId}::uuid, ${bucket}, ${path})`;
      return r ? { taskId: r.task_id, modelId: r.model_id, modelVersion: r.model_version } : null;
    },

    /** Whether `draftTaskId` is the provider id of one of the caller's own finished models. */
    async ownsDraft(userId: string, draftTaskId: string): Promise<boolean> {
      const [r] = await q`select bff.owns_draft(${userId}::uuid, ${draftTaskId}) as ok`;
      return r.ok === true;
    },

    async creditStatement(
      userId: string,
      signupGrant: number,
      limit: number,
      before?: number,
    ): Promise<CreditStatement> {
      const [r] = await q<{ s: CreditStatement }[]>`
        select bff.credit_statement(${userId}::uuid, ${signupGrant}, ${limit},
          ${before ?? null}) as s`;
      return r.s;
    },

    async creditPrices(): Promise<Record<string, number>> {
      const [r] = await q<{ p: Record<string, number> }[]>`select bff.credit_price_list() as p`;
      return r.p;
    },

    async grantCredits(
      userId: string,
      amount: number,
      reason: string,
      idempotencyKey: string | null,
    ): Promise<GrantResult> {
      // entry_id is a bigint, which postgres.js hands over as a string: the API says number
      // (ledger ids stay far below 2^53).
      const [r] = await q<(Omit<GrantResult, "entry_id"> & { entry_id: string | null })[]>`
        select * from bff.grant_credits(${userId}::uuid, ${amount}, ${reason}, ${idempotencyKey})`;
      return { ...r, entry_id: r.entry_id === null ? null : Number(r.entry_id) };
    },

    async setCreditPrices(prices: Record<string, number>): Promise<Record<string, number>> {
      const [r] = await q<{ p: Record<string, number> }[]>`
        select bff.set_credit_prices(${jsonValue(prices)}) as p`;
      return r.p;
    },

    /** The operators' views (service role only in SQL; the ops function checks the caller). */
    async opsOverview(creditRows: number): Promise<OpsOverview> {
      const [r] = await q<{ o: OpsOverview }[]>`
        select json_build_object(
          'queue', (select coalesce(json_agg(q order by q.state, q.provider), '[]')
                    from bff.queue_overview q),
          'failures', (select coalesce(json_agg(f order by f.jobs desc, f.error_code), '[]')
                       from bff.failures_by_code f),
          'credits', (select coalesce(json_agg(c), '[]') from (
                        select * from bff.credit_overview
                        order by charged desc, user_id limit ${creditRows}) c),
          'credit_totals', (select coalesce(json_agg(t order by t.entry), '[]')
                            from bff.credit_totals t)) as o`;
      return r.o;
    },

    /** Earliest time a non-terminal job becomes due (process-jobs waits for it when close). */
    async nextDueAt(): Promise<Date | null> {
      const [r] = await q`select bff.next_due_at() as at`;
      return r?.at ?? null;
    },

    async close(): Promise<void> {
      await sql.end({ timeout: 5 });
    },
  };
}
