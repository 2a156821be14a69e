// process-jobs: claims due jobs and advances each one step — submit, poll, or store the
// output — within one invocation's budget. All state changes go through the SQL state machine
// (db.ts); a lease token fences every write, so a crashed or slow invocation can never overwrite
// the work of the one that took its job over.
import type { Logger } from "../app.ts";
import type { Config } from "../config.ts";
import type { ClaimedJob, Db, OutputRef } from "../db.ts";
import type { Storage } from "../storage.ts";
import { isProviderError, type ProviderError } from "../providers/errors.ts";
import { buildTaskBody, createTripoClient, normalizeStatus } from "../providers/tripo.ts";
import { createOpenAIImages } from "../providers/openai.ts";
import { AssetError, fetchAsset, verifyingStream } from "./assets.ts";
import { StorageError } from "../storage.ts";
import { createFailpoints } from "./failpoints.ts";

/** Tripo tasks take seconds at the least: the first poll after submission. */
const FIRST_POLL_SECONDS = 1;
/** After a wake-up, how long to let a burst of new jobs gather before claiming them. */
const WAKE_COALESCE_MS = 3;
/** Steps in flight at once in one invocation. */
const MAX_IN_FLIGHT = 8;
/** How long an idle invocation waits for a job that becomes due soon (e.g. a poll). */
const MAX_IDLE_WAIT_MS = 5_000;
const MAX_MODEL_BYTES = 512 * 1024 * 1024;
const STREAM_TIMEOUT_MS = 90_000;
/** A transfer that moves no byte for this long is stalled: abort it rather than hang. */
const STALL_TIMEOUT_MS = 15_000;
/** Any other single Storage call (input download, image upload, existence check). */
const STORAGE_CALL_TIMEOUT_MS = 20_000;
/** Uploads of results already paid for are retried in place: they cannot be made again. */
const PAID_UPLOAD_ATTEMPTS = 3;
/** DB writes that record a paid submission are retried in place on a dropped connection. */
const RECORD_ATTEMPTS = 4;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves `p`, or rejects after `ms` (for calls that take no AbortSignal). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/**
 * Retries `fn` when it throws (a dropped DB connection, a failed Storage call), bounded.
 * Used only where giving up would throw away something already paid for.
 */
async function persist<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts) throw e;
      await pause(250 * 2 ** (i - 1));
    }
  }
}

/** Error thrown when output bytes were paid for but could not be stored. */
class PaidOutputLost extends Error {
  constructor(cause: unknown) {
    super(`storing a paid result failed: ${cause instanceof Error ? cause.message : cause}`);
    this.name = "PaidOutputLost";
  }
}

/**
 * Calls `first` after the first chunk and `half` once half the expected bytes went through;
 * `moved` on every chunk (the stall watchdog).
 */
function progressTap(
  expected: number | null,
  first: () => void,
  half: () => void,
  moved: () => void = () => {},
) {
  let seen = 0;
  let firstDone = false;
  let halfDone = false;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      moved();
      seen += chunk.byteLength;
      if (!firstDone) {
        firstDone = true;
        first();
      }
      if (!halfDone && expected && seen >= expected / 2) {
        halfDone = true;
        half();
      }
    },
  });
}

export interface InvocationSummary {
  claimed: number;
  submitted: number;
  progressed: number;
  completed: number;
  failed: number;
  retried: number;
  lease_lost: number;
  errors: number;
  ms: number;
}

type Outcome = keyof Omit<InvocationSummary, "claimed" | "ms">;

interface JobRequest {
  tripo_type?: string;
  prompt?: string;
  params?: Record<string, unknown>;
  draft_model_task_id?: string;
  inputs?: { bucket: string; path: string; content_type: string; size: number }[];
}

const SAFE_MESSAGES = {
  submission_unknown:
    "The AI provider did not confirm the job and it was not resubmitted, to avoid charging twice. Please try again.",
  output_invalid: "The AI provider returned an unusable file.",
  storage_failed: "The result could not be stored.",
  output_unavailable: "The result could not be downloaded yet; retrying.",
} as const;
type OwnFailure = keyof typeof SAFE_MESSAGES;

export function createWorker(deps: {
  config: Config;
  db: Db;
  storage: Storage;
  log: Logger;
}) {
  const { config, db, storage, log } = deps;
  // Lease of a claimed job; heartbeats extend it while a long step runs. A crashed invocation's
  // jobs become claimable again when it runs out.
  const LEASE_SECONDS = config.JOB_LEASE_SECONDS;
  const HEARTBEAT_MS = Math.max(1000, Math.floor((LEASE_SECONDS * 1000) / 4));
  const tripo = createTripoClient({
    apiKey: config.TRIPO_API_KEY ?? "",
    baseUrl: config.TRIPO_API_BASE_URL,
  });
  const failpoint = createFailpoints(config.FAILPOINT_DIR);
  const openai = createOpenAIImages({
    apiKey: config.OPENAI_API_KEY ?? "",
    baseUrl: config.OPENAI_BASE_URL,
  });

  /** Runs `fn` while keeping the job's lease alive; aborts `fn` if the lease is lost. */
  async function withLease<T>(
    job: ClaimedJob,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const ctl = new AbortController();
    const timer = setInterval(async () => {
      try {
        if (!(await db.heartbeat(job.job_id, job.lease_token, LEASE_SECONDS))) ctl.abort();
      } catch {
        // A failed heartbeat is not fatal: the lease still runs for LEASE_SECONDS.
      }
    }, HEARTBEAT_MS);
    try {
      return await fn(ctl.signal);
    } finally {
      clearInterval(timer);
    }
  }

  function outputRef(job: ClaimedJob, file: string): OutputRef {
    const ref = {
      bucket: config.GENERATED_ASSETS_BUCKET,
      // {user_id}/{concepts|models}/{task_id}/{file}: the user's own folder (Storage RLS), and
      // the job id in the file name so two jobs never write the same object.
      path: `${job.user_id}/${
        job.provider === "openai" ? "concepts" : "models"
      }/${job.client_task_id}/${file}`,
    };
    return { ...ref, url: storage.authenticatedUrl(ref) };
  }

  /** Ends the job with one of our own failure codes and its fixed, user-safe message. */
  async function failWith(job: ClaimedJob, code: OwnFailure): Promise<"failed"> {
    await db.failJob(job.job_id, job.lease_token, code, SAFE_MESSAGES[code]);
    return "failed";
  }

  async function handleProviderError(
    job: ClaimedJob,
    e: ProviderError,
    phase: "submit" | "poll",
  ): Promise<Outcome> {
    // A paid submission that may have landed is never replayed.
    if (phase === "submit" && e.landed !== "no") {
      return await failWith(job, "submission_unknown");
    }
    if (e.kind === "permanent") {
      await db.failJob(job.job_id, job.lease_token, e.code, e.userMessage);
      return "failed";
    }
    const r = await db.retryJob(
      job.job_id,
      job.lease_token,
      e.code,
      e.userMessage,
      e.retryAfterSeconds ?? null,
      phase === "submit",
    );
    return r === "retrying" ? "retried" : r === "failed" ? "failed" : "lease_lost";
  }

  async function retryOrFail(
    job: ClaimedJob,
    code: string,
    message: string,
    transient: boolean,
    clearSubmit = false,
  ) {
    if (!transient) {
      await db.failJob(job.job_id, job.lease_token, code, message);
      return "failed" as const;
    }
    const r = await db.retryJob(job.job_id, job.lease_token, code, message, null, clearSubmit);
    return r === "retrying"
      ? "retried" as const
      : r === "failed"
      ? "failed" as const
      : "lease_lost" as const;
  }

  // --- Tripo -------------------------------------------------------------------------------

  async function tripoSubmit(job: ClaimedJob, req: JobRequest): Promise<Outcome> {
    // Inputs go to Tripo's upload endpoint first: free and safe to repeat, unlike POST /task.
    const tokens: string[] = [];
    for (const input of req.inputs ?? []) {
      if (input.content_type === "model/gltf-binary") continue; // refine refers to the draft id
      const signal = AbortSignal.timeout(STORAGE_CALL_TIMEOUT_MS);
      const res = await storage.download({ bucket: input.bucket, path: input.path }, signal);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const ext = input.content_type.split("/")[1];
      tokens.push(await tripo.upload(bytes, input.content_type, `input.${ext}`));
    }
    const type = req.tripo_type as Parameters<typeof buildTaskBody>[0];
    const body = buildTaskBody(type, req.params ?? {}, {
      fileTokens: tokens,
      draftTaskId: req.draft_model_task_id,
    });

    const gate = await db.beginSubmit(job.job_id, job.lease_token);
    if (gate === "lease_lost") return "lease_lost";
    if (gate === "ambiguous") {
      return await failWith(job, "submission_unknown");
    }
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
    if (!recorded) return "lease_lost";
    return "submitted";
  }

  async function tripoPoll(job: ClaimedJob, lease: AbortSignal): Promise<Outcome> {
    const task = await tripo.getTask(job.provider_task_id!);
    const s = normalizeStatus(task);
    if (s.state === "failed") {
      const e = s.error!;
      await db.failJob(job.job_id, job.lease_token, e.code, e.userMessage);
      return "failed";
    }
    if (s.state !== "success") {
      const ok = await db.recordProgress(
        job.job_id,
        job.lease_token,
        s.progress,
        s.nextPollSeconds,
      );
      return ok ? "progressed" : "lease_lost";
    }
    if (!s.modelUrl) {
      return await failWith(job, "output_invalid");
    }
    const out = outputRef(job, `${job.job_id}.glb`);
    // Aborted by a lost lease, the overall cap, or a stall (no byte moved for a while).
    const stall = new AbortController();
    let watchdog = setTimeout(() => stall.abort(), STALL_TIMEOUT_MS);
    const moved = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => stall.abort(), STALL_TIMEOUT_MS);
    };
    const signal = AbortSignal.any([lease, stall.signal, AbortSignal.timeout(STREAM_TIMEOUT_MS)]);
    try {
      const res = await fetchAsset(s.modelUrl!, config, signal);
      const len = res.headers.get("content-length");
      const expected = len ? Number(len) : null;
      const body = res.body!
        .pipeThrough(verifyingStream("model/gltf-binary", expected, MAX_MODEL_BYTES))
        .pipeThrough(progressTap(
          expected,
          () => failpoint("mid_download"),
          () => failpoint("mid_upload"),
          moved,
        ));
      await storage.upload(out, body, "model/gltf-binary", signal);
    } catch (e) {
      if (e instanceof AssetError) throw e;
      // The upload refused or the transfer broke (cut download, stall, reset): the task's
      // output is still at Tripo, so the step is retried and fetches a fresh URL.
      log("warn", "output transfer failed", {
        job_id: job.job_id,
        error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      });
      throw new AssetError(
        e instanceof StorageError ? "storage refused the upload" : "the transfer broke off",
        true,
      );
    } finally {
      clearTimeout(watchdog);
    }
    failpoint("before_complete");
    return (await db.completeJob(job.job_id, job.lease_token, [out])) ? "completed" : "lease_lost";
  }

  // --- OpenAI ------------------------------------------------------------------------------

  async function openaiStep(job: ClaimedJob, req: JobRequest): Promise<Outcome> {
    const n = Number(req.params?.n ?? 1);
    const outs = Array.from({ length: n }, (_, i) => outputRef(job, `${job.job_id}-${i}.png`));
    if (job.submitted_at) {
      // An earlier invocation died after sending the billed edit. If it stored every image
      // before dying, the job is done; otherwise it cannot be replayed.
      const present = await Promise.all(
        outs.map((o) => within(storage.exists(o), STORAGE_CALL_TIMEOUT_MS, "storage exists")),
      );
      if (present.every(Boolean)) {
        return (await db.completeJob(job.job_id, job.lease_token, outs))
          ? "completed"
          : "lease_lost";
      }
      return await failWith(job, "submission_unknown");
    }
    const input = req.inputs![0];
    const res = await storage.download(
      { bucket: input.bucket, path: input.path },
      AbortSignal.timeout(STORAGE_CALL_TIMEOUT_MS),
    );
    const image = new Uint8Array(await res.arrayBuffer());
    const gate = await db.beginSubmit(job.job_id, job.lease_token);
    if (gate !== "ok") return gate === "lease_lost" ? "lease_lost" : "failed";
    const result = await openai.edit({
      image,
      contentType: input.content_type as "image/png" | "image/jpeg" | "image/webp",
      filename: `input.${input.content_type.split("/")[1]}`,
      prompt: req.prompt!,
      n,
      size: req.params?.size as string | undefined,
      quality: req.params?.quality as string | undefined,
      background: req.params?.background as string | undefined,
    });
    if (result.images.length < n) {
      return await failWith(job, "output_invalid");
    }
    // The edit is paid and cannot be replayed: its images are stored with in-place retries,
    // each attempt bounded (a stalled Storage must not hang the invocation).
    try {
      await Promise.all(
        outs.map((o, i) =>
          persist(PAID_UPLOAD_ATTEMPTS, () =>
            storage.upload(
              o,
              result.images[i],
              "image/png",
              AbortSignal.timeout(STORAGE_CALL_TIMEOUT_MS),
            ))
        ),
      );
    } catch (e) {
      throw new PaidOutputLost(e);
    }
    const done = await persist(
      RECORD_ATTEMPTS,
      () => db.completeJob(job.job_id, job.lease_token, outs),
    );
    return done ? "completed" : "lease_lost";
  }

  // The whole step runs under one lease keeper: once a paid call is sent, no other invocation may
  // take the job over while this one still works on it (the heartbeat fires only for steps
  // longer than a quarter of the lease).
  function step(job: ClaimedJob): Promise<Outcome> {
    failpoint("after_claim");
    return withLease(job, (lease) => runStep(job, lease));
  }

  async function runStep(job: ClaimedJob, lease: AbortSignal): Promise<Outcome> {
    const req = job.request as JobRequest;
    try {
      if (job.provider === "openai") return await openaiStep(job, req);
      if (!job.provider_task_id) {
        if (job.submitted_at) {
          // Died between recording the intent and storing Tripo's task id: it may exist.
          return await failWith(job, "submission_unknown");
        }
        return await tripoSubmit(job, req);
      }
      return await tripoPoll(job, lease);
    } catch (e) {
      if (isProviderError(e)) {
        const phase = job.provider_task_id ? "poll" : "submit";
        // OpenAI's billed call is the edit itself: an HTTP 5xx answer means nothing was made.
        if (job.provider === "openai" && e.status !== undefined && e.status >= 500) {
          return await retryOrFail(job, e.code, e.userMessage, true, true);
        }
        return await handleProviderError(job, e, phase);
      }
      if (e instanceof AssetError) {
        log("warn", "output transfer failed", { job_id: job.job_id, reason: e.message });
        return await retryOrFail(
          job,
          e.transient ? "output_unavailable" : "output_invalid",
          e.transient ? SAFE_MESSAGES.output_unavailable : SAFE_MESSAGES.output_invalid,
          e.transient,
        );
      }
      if (e instanceof PaidOutputLost) {
        log("error", "paid output could not be stored", { job_id: job.job_id, error: e.message });
        return await failWith(job, "storage_failed");
      }
      log("warn", "step failed", {
        job_id: job.job_id,
        error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      });
      // Storage or network trouble on our side: retry with backoff; attempts are capped in SQL.
      return await retryOrFail(
        job,
        "internal_retry",
        "A temporary problem occurred; retrying.",
        true,
      );
    }
  }

  // Idle waits end early when a nudge arrives for this isolate (see `wake`).
  const wakers = new Set<() => void>();
  /** Sleeps `ms`; resolves true if a wake (NOTIFY or nudge) ended the sleep early. */
  function idle(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(t);
        wakers.delete(onWake);
        resolve(woken);
      };
      const onWake = () => done(true);
      const t = setTimeout(() => done(false), ms);
      wakers.add(onWake);
    });
  }
  function wake(): void {
    for (const w of [...wakers]) w();
  }

  /** One invocation: keep up to MAX_IN_FLIGHT steps running until the budget is spent. */
  /** Until when (epoch ms) a running loop is known to be listening for new jobs; 0 if none. */
  let listeningUntil = 0;

  /**
   * One invocation: keep up to MAX_IN_FLIGHT steps running until the budget is spent.
   * `stayAlive`: keep running (listening for new jobs through NOTIFY) until the budget ends,
   * so enqueues need no HTTP nudge meanwhile; otherwise return once nothing is due soon.
   */
  async function runInvocation(
    budgetMs = config.PROCESS_JOBS_BUDGET_MS,
    opts: { stayAlive?: boolean } = {},
  ): Promise<InvocationSummary> {
    const started = performance.now();
    const stayAlive = opts.stayAlive ?? false;
    // New jobs wake this loop at once: enqueuers NOTIFY after their commit (jobs/nudge.ts).
    const unlisten = await db.listenForNewJobs(wake).catch((e) => {
      log("warn", "LISTEN unavailable; relying on nudges and polling", { error: String(e) });
      return null;
    });
    if (unlisten && stayAlive) listeningUntil = Date.now() + budgetMs;
    const summary: InvocationSummary = {
      claimed: 0,
      submitted: 0,
      progressed: 0,
      completed: 0,
      failed: 0,
      retried: 0,
      lease_lost: 0,
      errors: 0,
      ms: 0,
    };
    const inflight = new Set<Promise<void>>();
    const elapsed = () => performance.now() - started;
    let dueMisses = 0;
    while (elapsed() < budgetMs) {
      const free = MAX_IN_FLIGHT - inflight.size;
      let claimed: ClaimedJob[] = [];
      if (free > 0) {
        try {
          claimed = await db.claimJobs(free, LEASE_SECONDS, config.TRIPO_MAX_CONCURRENCY);
        } catch (e) {
          summary.errors++;
          log("error", "claim failed", { error: e instanceof Error ? e.message : String(e) });
          break;
        }
      }
      summary.claimed += claimed.length;
      if (claimed.length > 0) dueMisses = 0;
      for (const job of claimed) {
        const p: Promise<void> = step(job)
          .then((o) => void summary[o]++)
          .catch((e) => {
            summary.errors++;
            log("error", "step crashed", { job_id: job.job_id, error: String(e) });
          })
          .finally(() => inflight.delete(p));
        inflight.add(p);
      }
      if (claimed.length > 0) continue;
      if (inflight.size > 0) {
        // Wake when a step ends or shortly, to pick up jobs that became due meanwhile.
        await Promise.race([...inflight, idle(250)]);
        continue;
      }
      const next = await db.nextDueAt().catch(() => null);
      const wait = next ? next.getTime() - Date.now() : Infinity;
      const left = budgetMs - elapsed();
      if (!stayAlive && (wait > MAX_IDLE_WAIT_MS || wait > left)) break;
      // Sleep until the next job is due (a few ms past it: the claim compares with the
      // database's clock), a NOTIFY or nudge wakes us, or (a fallback for a missed
      // notification) a second has passed. A job already due that the claim did not return
      // has usually just become due: look again at once, then back off if it stays
      // unclaimable (e.g. the Tripo cap is full).
      const blocked = wait <= 0 && dueMisses++ >= 2;
      const sleep = wait > 0 ? Math.min(wait + 5, 1000) : blocked ? 500 : 10;
      if (blocked) {
        // Due work stays unclaimable (the Tripo cap is full): new jobs would mostly wait behind
        // it too, so wake-ups do not cut this back-off short and flood the database with
        // claims that find nothing.
        await pause(Math.min(left, sleep));
      } else if (await idle(Math.min(left, sleep))) {
        // A burst of enqueues wakes us once per commit: gather a few milliseconds of them into
        // one claim rather than claiming once per job.
        await pause(WAKE_COALESCE_MS);
      }
    }
    if (stayAlive) listeningUntil = 0;
    await unlisten?.().catch(() => {});
    await Promise.all(inflight);
    summary.ms = Math.round(elapsed());
    return summary;
  }

  return { runInvocation, step, wake, listeningUntil: () => listeningUntil };
}
