// How a step's failure ends: retried with backoff (the attempts cap lives in SQL) or failed with a
// fixed, user-safe message. A paid submission that may have landed is never replayed.
import type { ClaimedJob, Db } from "../db.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../log.ts";
import { isProviderError, type ProviderError } from "../providers/errors.ts";
import { AssetError } from "./assets.ts";
import { JOB_FAILURES, type JobFailureCode } from "./failures.ts";

export type Outcome =
  | "submitted"
  | "progressed"
  | "completed"
  | "failed"
  | "retried"
  | "lease_lost";

/** Output bytes were paid for but could not be stored (the call cannot be made again). */
export class PaidOutputLost extends Error {
  constructor(cause: unknown) {
    super(`storing a paid result failed: ${errorText(cause)}`);
    this.name = "PaidOutputLost";
  }
}

export function createOutcomes(db: Db, log: Logger) {
  /** Ends the job with `code` and its fixed, user-safe message. */
  async function fail(job: ClaimedJob, code: JobFailureCode, message?: string): Promise<Outcome> {
    return (await db.failJob(job.job_id, job.lease_token, code, message ?? JOB_FAILURES[code]))
      ? "failed"
      : "lease_lost";
  }

  async function retry(
    job: ClaimedJob,
    code: JobFailureCode,
    message: string,
    opts: { retryAfterSeconds?: number; clearSubmit?: boolean } = {},
  ): Promise<Outcome> {
    const r = await db.retryJob(
      job.job_id,
      job.lease_token,
      code,
      message,
      opts.retryAfterSeconds ?? null,
      opts.clearSubmit ?? false,
    );
    return r === "retrying" ? "retried" : r === "failed" ? "failed" : "lease_lost";
  }

  /** A provider error during submission or polling. */
  async function providerError(
    job: ClaimedJob,
    e: ProviderError,
    phase: "submit" | "poll",
  ): Promise<Outcome> {
    if (phase === "submit" && e.landed !== "no") return await fail(job, "submission_unknown");
    if (e.kind === "permanent") return await fail(job, e.code, e.userMessage);
    return await retry(job, e.code, e.userMessage, {
      retryAfterSeconds: e.retryAfterSeconds,
      clearSubmit: phase === "submit",
    });
  }

  /** Maps anything a step threw to the job's next state. */
  async function fromError(job: ClaimedJob, e: unknown): Promise<Outcome> {
    if (isProviderError(e)) {
      const phase = job.provider_task_id ? "poll" : "submit";
      // OpenAI's billed call is the edit itself: an HTTP 5xx answer means nothing was made.
      if (job.provider === "openai" && e.status !== undefined && e.status >= 500) {
        return await retry(job, e.code, e.userMessage, { clearSubmit: true });
      }
      return await providerError(job, e, phase);
    }
    if (e instanceof AssetError) {
      log("warn", "output transfer failed", { job_id: job.job_id, reason: e.message });
      return e.transient
        ? await retry(job, "output_unavailable", JOB_FAILURES.output_unavailable)
        : await fail(job, "output_invalid");
    }
    if (e instanceof PaidOutputLost) {
      log("error", "paid output could not be stored", { job_id: job.job_id, error: e.message });
      return await fail(job, "storage_failed");
    }
    log("warn", "step failed", { job_id: job.job_id, error: errorText(e) });
    // Storage or network trouble on our side: retry with backoff; attempts are capped in SQL.
    return await retry(job, "internal_retry", JOB_FAILURES.internal_retry);
  }

  return { fail, retry, fromError };
}

export type Outcomes = ReturnType<typeof createOutcomes>;
