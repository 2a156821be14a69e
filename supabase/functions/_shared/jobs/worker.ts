// process-jobs: claims due jobs and advances each one step — submit, poll, or store the output
// (jobs/tripo_step.ts, jobs/openai_step.ts) — within one invocation's budget. All state changes
// go through the SQL state machine (db.ts); a lease token fences every write, so a crashed or
// slow invocation can never overwrite the work of the one that took its job over. An isolate
// that is shut down hands its leases back (`releaseAll`), so others take the jobs at once.
import type { Config } from "../config.ts";
import type { ClaimedJob, Db, OutputRef } from "../db.ts";
import { errorText, type Logger } from "../log.ts";
import type { InvocationSummary } from "../responses.ts";
import { createOpenAIImages } from "../providers/openai.ts";
import { createTripoClient } from "../providers/tripo.ts";
import type { Storage } from "../storage/adapter.ts";
import { createFailpoints } from "./failpoints.ts";
import { createSlots } from "./slots.ts";
import { createOpenAIStep } from "./openai_step.ts";
import { createOutcomes, type Outcome } from "./outcome.ts";
import { jobRequest } from "./schemas.ts";
import { createTransfer } from "./transfer.ts";
import { createTripoStep } from "./tripo_step.ts";

/** After a wake-up, how long to let a burst of new jobs gather before claiming them. */
const WAKE_COALESCE_MS = 3;
/**
 * Steps in flight at once in one invocation. Most are a Tripo submit or poll: a provider call and
 * a statement or two, waiting on the network. With 8, process-jobs was bound by their latency, not
 * by CPU: at 40 POSTs a second (about 240 steps a second) the queue grew without end whenever the
 * machine was busy (enqueue → submit p50 0.6 s with isolates retired after each response; 18 ms
 * with 32).
 */
const MAX_IN_FLIGHT = 32;
/**
 * Of those, steps that hold or stream a provider's output (an OpenAI call and its images, a model
 * moved into Storage): as many as all steps were before, the load the 256 MB limit was sized for.
 */
const MAX_HEAVY = 8;
/** How long an idle invocation waits for a job that becomes due soon (e.g. a poll). */
const MAX_IDLE_WAIT_MS = 5_000;

/**
 * Waits before each try at handing back the lease of a step whose outcome could not be written:
 * at once (another connection of the pool may be fine), then while a pooler restarts.
 */
const HAND_BACK_WAITS_MS = [0, 250, 1_000, 3_000];

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type { InvocationSummary };

export function createWorker(deps: { config: Config; db: Db; storage: Storage; log: Logger }) {
  const { config, db, storage, log } = deps;
  // Lease of a claimed job; heartbeats extend it while a long step runs. A crashed invocation's
  // jobs become claimable again when it runs out.
  const LEASE_SECONDS = config.JOB_LEASE_SECONDS;
  const HEARTBEAT_MS = Math.max(1000, Math.floor((LEASE_SECONDS * 1000) / 4));
  const failpoint = createFailpoints(config.FAILPOINT_DIR);
  const outcomes = createOutcomes(db, log);
  const heavy = createSlots(MAX_HEAVY);
  const transfer = createTransfer({ config, storage, log, failpoint });
  const outputRef = (job: ClaimedJob, file: string): OutputRef => {
    const ref = {
      bucket: config.GENERATED_ASSETS_BUCKET,
      // {user_id}/{concepts|models}/{task_id}/{file}: the user's own folder (Storage RLS), and
      // the job id in the file name so two jobs never write the same object.
      path: `${job.user_id}/${
        job.provider === "openai" ? "concepts" : "models"
      }/${job.client_task_id}/${file}`,
    };
    return { ...ref, url: storage.authenticatedUrl(ref) };
  };
  const tripoStep = createTripoStep({
    db,
    storage,
    tripo: createTripoClient({
      apiKey: config.TRIPO_API_KEY ?? "",
      baseUrl: config.TRIPO_API_BASE_URL,
    }),
    outcomes,
    streamOutput: (url, out, type, lease) => heavy.run(() => transfer(url, out, type, lease)),
    outputRef,
    failpoint,
  });
  const openaiStep = createOpenAIStep({
    db,
    storage,
    openai: createOpenAIImages({
      apiKey: config.OPENAI_API_KEY ?? "",
      baseUrl: config.OPENAI_BASE_URL,
    }),
    outcomes,
    outputRef,
  });

  /** Leases this isolate holds right now, by token. */
  const held = new Map<string, ClaimedJob>();

  /** Runs one step while keeping the job's lease alive; aborts it if the lease is lost. */
  async function step(job: ClaimedJob): Promise<Outcome> {
    failpoint("after_claim");
    held.set(job.lease_token, job);
    const ctl = new AbortController();
    // The whole step runs under one lease keeper: once a paid call is sent, no other invocation
    // may take the job over while this one still works on it (the heartbeat fires only for
    // steps longer than a quarter of the lease).
    const timer = setInterval(async () => {
      try {
        if (!(await db.heartbeat(job.job_id, job.lease_token, LEASE_SECONDS))) ctl.abort();
      } catch {
        // A failed heartbeat is not fatal: the lease still runs for LEASE_SECONDS.
      }
    }, HEARTBEAT_MS);
    try {
      const req = jobRequest.safeParse(job.request);
      if (!req.success) {
        log("error", "stored job request does not parse", { job_id: job.job_id });
        return await outcomes.fail(job, "invalid_request");
      }
      const r = req.data;
      return r.op === "tripo_task"
        ? await tripoStep(job, r, ctl.signal)
        : await heavy.run(() => openaiStep(job, r));
    } catch (e) {
      try {
        return await outcomes.fromError(job, e);
      } catch (writeError) {
        // Not even the outcome could be written (the database or the pooler away, a connection
        // cut): hand the lease back so the job is due again as soon as the database answers,
        // rather than when the lease runs out. Safe as at shutdown: a paid call that may have
        // been sent is on record (begin_submit) and is never replayed.
        await handBack(job);
        throw writeError;
      }
    } finally {
      clearInterval(timer);
      held.delete(job.lease_token);
    }
  }

  /** Releases one job's lease, trying again while the database is away (bounded). */
  async function handBack(job: ClaimedJob): Promise<void> {
    for (const wait of HAND_BACK_WAITS_MS) {
      await pause(wait);
      try {
        await db.releaseLeases([job.lease_token]);
        log("warn", "step's outcome not written; lease handed back", { job_id: job.job_id });
        return;
      } catch {
        // Try again after a longer wait; past the last one the lease runs out on its own.
      }
    }
  }

  /** Set when the isolate is shutting down: no loop claims anything more. */
  let stopping = false;

  /**
   * The isolate is shutting down: stop claiming, then hand back every lease held (their steps
   * are abandoned), so the jobs are due at once for another invocation instead of after the
   * lease. The abandoned steps' writes from here on are fenced out by the lease tokens.
   */
  async function shutdown(): Promise<number> {
    stopping = true;
    wake();
    const tokens = [...held.keys()];
    held.clear();
    return await db.releaseLeases(tokens);
  }

  // Idle waits end early when a nudge arrives for this isolate (see `wake`).
  const wakers = new Set<() => void>();
  /** Sleeps `ms`; resolves true if a wake ended the sleep early. */
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
  let wakes = 0;
  function wake(): void {
    wakes++;
    for (const w of [...wakers]) w();
  }

  /**
   * One invocation: keep up to MAX_IN_FLIGHT steps running until the budget is spent.
   * `stayAlive`: keep running (woken by nudges) until the budget ends; otherwise return once
   * nothing is due soon.
   */
  async function runInvocation(
    budgetMs = config.PROCESS_JOBS_BUDGET_MS,
    opts: { stayAlive?: boolean } = {},
  ): Promise<InvocationSummary> {
    const started = performance.now();
    const stayAlive = opts.stayAlive ?? false;
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
    while (!stopping && elapsed() < budgetMs) {
      // Never more heavy steps here than MAX_HEAVY running and MAX_HEAVY waiting for a slot (any
      // job claimed may turn out to be one): more would only wait here too, holding jobs another
      // invocation could run now.
      const free = Math.min(
        MAX_IN_FLIGHT - inflight.size,
        2 * MAX_HEAVY - heavy.busy - heavy.waiting,
      );
      let claimed: ClaimedJob[] = [];
      if (free > 0 && !stopping) {
        try {
          claimed = await db.claimJobs(free, LEASE_SECONDS, config.TRIPO_MAX_CONCURRENCY);
        } catch (e) {
          summary.errors++;
          log("error", "claim failed", { error: errorText(e) });
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
            log("error", "step crashed", { job_id: job.job_id, error: errorText(e) });
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
      // database's clock), a nudge wakes us, or (a fallback for a missed nudge) a second has
      // passed. A job already due that the claim did not return has usually just become due:
      // look again at once, then back off if it stays unclaimable (e.g. the Tripo cap is full).
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
    await Promise.all(inflight);
    summary.ms = Math.round(elapsed());
    return summary;
  }

  /**
   * An isolate's long-lived loop: one invocation after another, for as long as a job is due now
   * or within MAX_IDLE_WAIT_MS when one ends. A wake-up that reaches an invocation past its
   * budget (claiming nothing more, waiting for its last steps) changes nothing there, and a poll
   * may fall due just after it: both are picked up by the next invocation here, not left for the
   * next cron tick. An invocation that ended before its budget had a claim fail (the database
   * or the pooler away): the next one waits a second.
   */
  async function runWhileDue(): Promise<void> {
    while (!stopping) {
      const s = await runInvocation(undefined, { stayAlive: true });
      if (stopping) return;
      if (s.ms < config.PROCESS_JOBS_BUDGET_MS) await pause(1_000);
      // A wake-up during the check announces a job the check may have missed.
      const seen = wakes;
      if (!(await dueSoon()) && wakes === seen) return;
    }
  }

  /** A job is due now or within MAX_IDLE_WAIT_MS: what keeps the long-lived loop running. */
  async function dueSoon(): Promise<boolean> {
    const next = await db.nextDueAt().catch(() => null);
    return next !== null && next.getTime() - Date.now() <= MAX_IDLE_WAIT_MS;
  }

  return { runInvocation, runWhileDue, step, wake, shutdown, dueSoon };
}

export type Worker = ReturnType<typeof createWorker>;
