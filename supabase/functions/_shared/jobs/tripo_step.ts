// One step of a Tripo job: upload the inputs and submit the task (once: POST /task is paid), or
// poll it on Tripo's own estimate and, on success, stream the model into Storage and complete.
import type { ClaimedJob, Db, OutputRef } from "../db.ts";
import type { TripoClient } from "../providers/tripo.ts";
import { buildTaskBody, nextPollSeconds, normalizeStatus } from "../providers/tripo_task.ts";
import type { Storage } from "../storage/adapter.ts";
import { OUTPUT_TYPES } from "./assets.ts";
import type { Failpoint } from "./failpoints.ts";
import type { Outcome, Outcomes } from "./outcome.ts";
import type { TripoTaskRequest } from "./schemas.ts";
import type { StreamOutput } from "./transfer.ts";

/** Tripo tasks take seconds at the least: the first poll after submission. */
const FIRST_POLL_SECONDS = 1;
/** Input downloads from our own Storage. */
const STORAGE_CALL_TIMEOUT_MS = 20_000;
/** DB writes that record a paid submission are retried in place on a dropped connection. */
export const RECORD_ATTEMPTS = 4;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Retries `fn` when it throws (a dropped DB connection, a failed Storage call), bounded.
 * Used only where giving up would throw away something already paid for.
 */
export async function persist<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts) throw e;
      await pause(250 * 2 ** (i - 1));
    }
  }
}

export function createTripoStep(deps: {
  db: Db;
  storage: Storage;
  tripo: TripoClient;
  outcomes: Outcomes;
  streamOutput: StreamOutput;
  outputRef: (job: ClaimedJob, file: string) => OutputRef;
  failpoint: (name: Failpoint) => void;
}) {
  const { db, storage, tripo, outcomes, streamOutput, outputRef, failpoint } = deps;

  async function submit(job: ClaimedJob, req: TripoTaskRequest): Promise<Outcome> {
    // Inputs go to Tripo's upload endpoint first: free and safe to repeat, unlike POST /task.
    // Refine sends no file: it refers to the draft task.
    const tokens: string[] = [];
    for (const input of req.inputs) {
      if (input.content_type === "model/gltf-binary") continue;
      const res = await storage.download(input, AbortSignal.timeout(STORAGE_CALL_TIMEOUT_MS));
      const bytes = new Uint8Array(await res.arrayBuffer());
      tokens.push(
        await tripo.upload(bytes, input.content_type, `input.${input.content_type.slice(6)}`),
      );
    }
    const body = buildTaskBody(req, tokens);

    const gate = await db.beginSubmit(job.job_id, job.lease_token);
    if (gate === "lease_lost") return "lease_lost";
    if (gate === "ambiguous") return await outcomes.fail(job, "submission_unknown");
    if (gate === "submitted") return "progressed";
    const taskId = await tripo.createTask(body);
    failpoint("after_submit_sent");
    // Stored the moment it is known; from here on the job can only be polled. The id exists
    // only in this process now, so a dropped DB connection is retried here, not given up on.
    const recorded = await persist(
      RECORD_ATTEMPTS,
      // The same call releases the lease and schedules the first poll.
      () => db.recordSubmission(job.job_id, job.lease_token, taskId, FIRST_POLL_SECONDS),
    );
    return recorded ? "submitted" : "lease_lost";
  }

  async function poll(job: ClaimedJob, taskId: string, lease: AbortSignal): Promise<Outcome> {
    const s = normalizeStatus(await tripo.getTask(taskId));
    switch (s.state) {
      case "failed":
        // The task ended at Tripo (refused, failed, expired): polling it again cannot help.
        return await outcomes.fail(job, s.error.code, s.error.userMessage);
      case "waiting":
      case "running": {
        const since = job.submitted_at ? (Date.now() - job.submitted_at.getTime()) / 1000 : 0;
        const ok = await db.recordProgress(
          job.job_id,
          job.lease_token,
          s.progress,
          nextPollSeconds(s, since),
          s.etaSeconds,
        );
        return ok ? "progressed" : "lease_lost";
      }
      case "success": {
        const type = OUTPUT_TYPES.glb;
        const out = outputRef(job, `${job.job_id}.${type.extension}`);
        await streamOutput(s.modelUrl, out, type, lease);
        failpoint("before_complete");
        return (await db.completeJob(job.job_id, job.lease_token, [out]))
          ? "completed"
          : "lease_lost";
      }
    }
  }

  return async function tripoStep(
    job: ClaimedJob,
    req: TripoTaskRequest,
    lease: AbortSignal,
  ): Promise<Outcome> {
    if (job.provider_task_id) return await poll(job, job.provider_task_id, lease);
    // Died between recording the intent and storing Tripo's task id: it may exist.
    if (job.submitted_at) return await outcomes.fail(job, "submission_unknown");
    return await submit(job, req);
  };
}
