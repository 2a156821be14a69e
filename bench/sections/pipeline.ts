// enqueue → Tripo POST /task, and Tripo task success → asset available, on one stack: the main
// one (isolates live on between requests) or one in EarlyDrop mode (every isolate retired as
// soon as it is idle, so the wake-up after a POST is the HTTP call registered with
// EdgeRuntime.waitUntil in jobs/nudge.ts, and process-jobs may start cold).
//
// SUBMIT_JOBS POSTs through the gateway, paced at 40/s. The start is the time the 202 arrives;
// the end is the Tripo simulator's request-log time of the POST /task with that job's prompt
// (both `Date` in this process: 1 ms resolution). Each task runs 1–5 s (`[sim:slow=MS]`, spread
// evenly), so completions fall at every phase of the poll cadence; done = submit + run time.
// Every 5th job is polled through task-status every 50 ms from just before done; for all of
// them `jobs.finished_at` (the commit of complete_job) is reported as well.
import { type BenchContext, type Section, settings, type StackHandle } from "../context.ts";
import { FN } from "../context.ts";
import { cpuMs } from "../proc.ts";
import { fmt, percentile, round, sleep, waitFor } from "../stats.ts";
import { tripoSubmitTimes } from "../jobs.ts";

interface Sent {
  i: number;
  jobId: string;
  t202: number;
  runMs: number;
  apiDone?: number;
}

/** `mode`: "normal" runs on the main stack, "early_drop" on a second stack in EarlyDrop mode. */
export function pipeline(
  mode: "normal" | "early_drop",
  pace: { perSecond: number; jobs?: number } = { perSecond: 40 },
): Section {
  const PER_SECOND = pace.perSecond;
  return {
    name: `enqueue → submit and done → available (${mode}, ${PER_SECOND}/s)`,
    async run(ctx: BenchContext) {
      let h: StackHandle = ctx.main;
      if (mode === "early_drop") {
        // The main stack's worker would take these jobs too: stop it for the section.
        await ctx.main.quiesceWorker();
        await ctx.main.pauseWorker();
        h = await ctx.extraStack("early_drop", { earlyDrop: true });
      }
      await h.quiesceWorker();
      await fetch(`${h.stack.tripoUrl}/__sim/reset`, { method: "POST", body: '{"scope":"log"}' })
        .then((r) => r.body?.cancel());
      const n = pace.jobs ?? settings.submitJobs;
      const boots0 = [...h.stack.functions.values()].map((f) => f.generation);
      const tag = `sub${mode === "normal" ? "n" : "e"}${PER_SECOND}`;
      // EarlyDrop: each generation isolate taken into service was a spare that booted and sat
      // idle, so its CPU time when first seen active is what its boot cost.
      const bootCpu: number[] = [];
      let watching = mode === "early_drop";
      const bootWatch = (async () => {
        const seen = new Set<number>();
        while (watching) {
          const pid = h.stack.functions.get(FN)!.pid;
          if (pid && !seen.has(pid)) {
            seen.add(pid);
            const ms = cpuMs(pid);
            if (seen.size > 1 && Number.isFinite(ms)) bootCpu.push(ms);
          }
          await sleep(20);
        }
      })();
      const runMsOf = (i: number) => 1000 + ((i * 7919) % 4000);
      const jobs: Sent[] = [];
      const pollers: Promise<void>[] = [];
      const sends: Promise<void>[] = [];
      const start = Date.now();
      for (let i = 0; i < n; i++) {
        const wait = start + (i * 1000) / PER_SECOND - Date.now();
        if (wait > 0) await sleep(wait);
        sends.push((async () => {
          const runMs = runMsOf(i);
          const r = await h.post(h.fnUrl(FN), {
            task_id: `${tag}-${i}`,
            prompt: `bench-${tag}-${i} [sim:slow=${runMs}]`,
          }, h.authHeaders(i));
          const t202 = Date.now();
          if (r.status !== 202) throw new Error(`POST ${i}: ${r.status} ${r.body}`);
          const job: Sent = { i, jobId: JSON.parse(r.body).job_id, t202, runMs };
          jobs.push(job);
          if (i % 5 === 0) pollers.push(pollUntilComplete(h, job));
        })());
      }
      await Promise.all(sends);
      await waitFor(
        "the jobs to finish",
        () => ctx.jobsSettled(jobs.map((j) => j.jobId)),
        90_000,
        250,
      ).catch(async (e) => {
        // Which jobs did not end, and where they stand, so a timed-out run can be explained.
        const open = await ctx.sql`
          select state, error_code, attempts, submitted_at is not null as submitted,
                 lease_expires_at > now() as leased, run_at > now() as future, count(*)::int as n
          from public.jobs where id = any (${jobs.map((j) => j.jobId)}::uuid[])
            and state in ('queued', 'running')
          group by 1, 2, 3, 4, 5, 6`;
        throw new Error(
          `${e instanceof Error ? e.message : e}; not ended: ${JSON.stringify(open)}`,
        );
      });
      await Promise.all(pollers);

      const submitAt = await tripoSubmitTimes(h.stack.tripoUrl, tag);
      const rows = new Map(
        (await ctx.sql<{ id: string; state: string; finished_at: Date }[]>`
          select id, state, finished_at from public.jobs
          where id = any (${jobs.map((j) => j.jobId)}::uuid[])`).map((r) => [r.id, r]),
      );
      const toSubmit: number[] = [];
      const doneToDb: number[] = [];
      const doneToApi: number[] = [];
      let failed = 0;
      for (const j of jobs) {
        const sub = submitAt.get(j.i);
        const row = rows.get(j.jobId);
        if (sub === undefined || !row || row.state !== "succeeded") {
          failed++;
          continue;
        }
        toSubmit.push(sub - j.t202);
        doneToDb.push(row.finished_at.getTime() - (sub + j.runMs));
        if (j.apiDone !== undefined) doneToApi.push(j.apiDone - (sub + j.runMs));
      }
      watching = false;
      await bootWatch;
      const boots = [...h.stack.functions.values()]
        .reduce((a, f, i) => a + f.generation - boots0[i], 0);
      if (mode === "early_drop") {
        await h.quiesceWorker();
        // Its process-jobs would take later sections' jobs from the main stack's.
        await h.pauseWorker();
      }
      if (Deno.env.get("BENCH_DEBUG")) {
        const byI = jobs.filter((j) => submitAt.has(j.i)).sort((a, b) => a.i - b.i);
        ctx.say(byI.map((j) => `${j.i}:${submitAt.get(j.i)! - j.t202}`).join(" "));
      }
      const p = (v: number[], q: number) => percentile(v, q);
      const label = mode === "normal" ? "" : ", EarlyDrop";
      const notOk = failed ? ` (${failed} jobs not succeeded)` : "";
      ctx.report.row(
        `enqueue → Tripo POST /task (${toSubmit.length} jobs, ${PER_SECOND}/s${label}): p50 / p99`,
        `${fmt(p(toSubmit, 50), " ms")} / ${fmt(p(toSubmit, 99), " ms")}${notOk}`,
        `graphile-worker 4.79 / 8.96 ms; pg-boss 6.07 / 12.74 ms; isolates booted ${boots}` +
          (bootCpu.length
            ? ` (CPU per generation-isolate boot p50 ${fmt(percentile(bootCpu, 50), " ms")})`
            : ""),
        "p50 ≤ 25 ms",
        p(toSubmit, 50) <= 25 && failed === 0,
      );
      ctx.report.row(
        `Tripo task success → task-status complete (${doneToApi.length} jobs, 50 ms polling${label})` +
          ": p50 / p99",
        `${fmt(p(doneToApi, 50) / 1000, " s")} / ${fmt(p(doneToApi, 99) / 1000, " s")}`,
        `DB commit (all ${doneToDb.length}): ${fmt(p(doneToDb, 50) / 1000, " s")} / ${
          fmt(p(doneToDb, 99) / 1000, " s")
        }`,
        "p50 ≤ 1.5 s",
        p(doneToApi, 50) <= 1500 && failed === 0,
      );
      const q = (v: number[]) => ({ n: v.length, p50: round(p(v, 50)), p99: round(p(v, 99)) });
      ctx.report.set(`pipeline_${mode}_${PER_SECOND}per_s`, {
        not_succeeded: failed,
        per_second: PER_SECOND,
        isolates_booted: boots,
        boot_cpu_ms_p50: bootCpu.length ? round(percentile(bootCpu, 50)) : null,
        enqueue_to_submit_ms: q(toSubmit),
        done_to_task_status_ms: q(doneToApi),
        done_to_db_commit_ms: q(doneToDb),
      });
    },
  };
}

async function pollUntilComplete(h: StackHandle, job: Sent): Promise<void> {
  await sleep(Math.max(0, job.t202 + job.runMs - 50 - Date.now()));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${h.fnUrl("task-status")}/${job.jobId}?service=tripoai`, {
      headers: h.authHeaders(job.i),
    });
    const st = await res.json();
    if (st.status === "complete") {
      job.apiDone = Date.now();
      return;
    }
    if (st.status === "failed") return;
    await sleep(50);
  }
}
