// CPU time per request, against the Edge limit of 2 s of CPU per request: utime + stime of the
// isolate's process (/proc/<pid>/stat, all its threads, 10 ms ticks) before and after a fixed
// number of requests or steps at c1, divided by their number.
// - Generation POST: POSTS requests through the gateway to the function's isolate (the cap is
//   filled, so process-jobs wakes and claims nothing); the floor process beside it.
// - process-jobs step: JOBS text-to-model jobs, one at a time: enqueued in SQL, then one
//   `?wait=true` invocation takes it from submit to complete (the default 64 KiB GLB). The
//   CPU is read when the submission is recorded and when the job is complete, so the submit
//   step and the poll → download → Storage → complete step are told apart.
import { type BenchContext, FN, type Section } from "../context.ts";
import { enqueueTextToModel } from "../jobs.ts";
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import { cpuMs, serveProcess, ticksPerSecond } from "../proc.ts";
import { fmt, round, sleep } from "../stats.ts";

const POSTS = 500;
const JOBS = 20;

export const cpuTime: Section = {
  name: "CPU time per POST and per process-jobs step",
  async run(ctx: BenchContext) {
    const h = ctx.main;
    await h.quiesceWorker();
    await ctx.fillTripoCap();
    const gen = h.stack.functions.get(FN)!;
    const floor = await ctx.floor();
    // A copy of the function whose wake-ups go to a no-op server: the share of the nudge.
    const noop = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(null, { status: 202 }),
    );
    const copy = await serveProcess(`${PROJECT_ROOT}supabase/functions/${FN}/index.ts`, {
      ...h.stack.functionEnv,
      SUPABASE_URL: `http://127.0.0.1:${noop.addr.port}`,
    });
    ctx.defer(async () => {
      await copy.stop();
      await noop.shutdown().catch(() => {});
    });
    const perPost: Record<string, number> = {};
    for (
      const [name, url, pid] of [
        ["function", h.fnUrl(FN), () => gen.pid!],
        ["no_nudge", `http://127.0.0.1:${copy.port}/${FN}`, () => copy.pid],
        ["floor", await ctx.floorUrl(), () => floor.pid],
      ] as const
    ) {
      await ctx.runLoad({
        url,
        requests: 100,
        concurrency: 1,
        tokens: h.tokens,
        prefix: `cw-${name}`,
      });
      const p = pid();
      const c0 = cpuMs(p);
      const r = await ctx.runLoad({
        url,
        requests: POSTS,
        concurrency: 1,
        tokens: h.tokens,
        prefix: `cpu-${name}`,
      });
      if ((r.statuses["202"] ?? 0) !== POSTS) {
        throw new Error(`${name}: ${JSON.stringify(r.statuses)}`);
      }
      // Let the POSTs' wake-ups (waitUntil work after the responses) finish too.
      await sleep(200);
      if (pid() !== p) throw new Error(`${name}: the isolate was replaced during the count`);
      perPost[name] = (cpuMs(p) - c0) / POSTS;
      await ctx.cancelOpenJobs();
    }
    await copy.stop();
    await noop.shutdown();
    await ctx.clearTripoCap();

    // A new isolate, so no long-lived loop (kicked by the POSTs' wake-ups) runs beside the
    // counted invocations; the first job warms it up and is not counted.
    await h.pauseWorker();
    const pj = await h.stack.functions.get("process-jobs")!.ensureRunning();
    const submit: number[] = [];
    const complete: number[] = [];
    let steps = 0;
    for (let i = -1; i < JOBS; i++) {
      const id = await enqueueTextToModel(
        ctx.sql,
        ctx.users[i + 1],
        `cpu-${Date.now()}`,
        `cpu ${i}`,
      );
      const c0 = cpuMs(pj.pid);
      let cSubmitted = NaN;
      const watch = (async () => {
        for (let k = 0; k < 1000; k++) {
          const [r] = await ctx
            .sql`select provider_task_id from public.jobs where id = ${id}::uuid`;
          if (r?.provider_task_id) {
            cSubmitted = cpuMs(pj.pid);
            return;
          }
          await sleep(10);
        }
      })();
      const res = await fetch(`${h.fnUrl("process-jobs")}?wait=true`, {
        method: "POST",
        headers: h.serviceHeaders(),
        body: "{}",
      });
      const summary = await res.json() as { claimed: number; completed: number };
      await watch;
      const c1 = cpuMs(pj.pid);
      if (summary.completed !== 1) throw new Error(`job ${i}: ${JSON.stringify(summary)}`);
      if (pj.dead) throw new Error("process-jobs was replaced during the count");
      if (i < 0) continue;
      steps += summary.claimed;
      submit.push(cSubmitted - c0);
      complete.push(c1 - cSubmitted);
    }
    const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
    const perStep = (sum(submit) + sum(complete)) / steps;
    const tick = 1000 / ticksPerSecond();
    ctx.report.info(
      `CPU per generation POST, c1 (${POSTS} through the gateway; isolate utime+stime)`,
      `${fmt(perPost.function, " ms")}`,
      `floor ${fmt(perPost.floor, " ms")} (${fmt(perPost.function / perPost.floor)}×); a copy ` +
        `whose wake-ups go to a no-op server ${fmt(perPost.no_nudge, " ms")}; Edge limit 2,000 ms`,
    );
    ctx.report.info(
      `CPU per process-jobs step, c1 (${JOBS} text-to-model jobs, ${steps} steps, 64 KiB GLB)`,
      `${fmt(perStep, " ms")} per step; per job: submit ${fmt(sum(submit) / JOBS, " ms")}, ` +
        `poll → Storage → complete ${fmt(sum(complete) / JOBS, " ms")}`,
      `Edge limit 2,000 ms per request (${tick} ms ticks)`,
    );
    ctx.report.set("cpu_ms", {
      per_post: round(perPost.function),
      per_post_floor: round(perPost.floor),
      per_post_no_nudge: round(perPost.no_nudge),
      per_step: round(perStep),
      per_job_submit: round(sum(submit) / JOBS),
      per_job_complete: round(sum(complete) / JOBS),
      steps,
      jobs: JOBS,
      tick_ms: tick,
    });
  },
};
