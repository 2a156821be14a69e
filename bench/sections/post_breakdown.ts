// Where a POST's time goes (diagnostic): copies of the function process, each with one cost
// removed (LOG_LEVEL=warn; the nudge sent to a no-op server; both), 1,000 requests each at c1
// and c32 beside the floor; then the database work alone through the pooler, 500 ×
// bff.enqueue_job against 500 × the floor's single insert, from the bench process.
import postgres from "postgres";
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import { poolOptions } from "../../supabase/functions/_shared/db.ts";
import { type BenchContext, FN, type Section, USERS } from "../context.ts";
import type { LoadResult } from "../load_worker.ts";
import { pidsNamed, serveProcess } from "../proc.ts";
import { cpuWindow, pgGrouper } from "../tail_probe.ts";
import { percentile, round } from "../stats.ts";

export const postBreakdown: Section = {
  name: "POST cost breakdown",
  async run(ctx: BenchContext) {
    const h = ctx.main;
    const noop = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(null, { status: 202 }),
    );
    ctx.defer(() => noop.shutdown().catch(() => {}));
    const noopUrl = `http://127.0.0.1:${noop.addr.port}`;
    const variants: Record<string, Record<string, string>> = {
      "copy as shipped": {},
      "LOG_LEVEL=warn": { LOG_LEVEL: "warn" },
      "nudge to a no-op server": { SUPABASE_URL: noopUrl },
      "both": { LOG_LEVEL: "warn", SUPABASE_URL: noopUrl },
      // The wake-up spacing before it was raised to 25 ms (jobs/nudge.ts).
      "nudge gap 5 ms": { NUDGE_MIN_GAP_MS: "5" },
    };
    const expect202 = (what: string, r: LoadResult) => {
      if ((r.statuses["202"] ?? 0) !== r.latenciesMs.length) {
        throw new Error(`${what}: not every answer was 202: ${JSON.stringify(r.statuses)}`);
      }
    };
    // CPU of every process a POST involves (10 ms ticks, added up over 1,000 requests): the
    // function's process, process-jobs (the wake-ups), the bench process (the gateway the
    // wake-ups cross, the function logs it drains, the load generator), PgBouncer and this
    // database's backends. Latency on this shared machine moves with other work; CPU per POST
    // shows what each cost is.
    const pgGroup = await pgGrouper(ctx.sql);
    const OURS = "postgres, this database's backends";
    const measure = async (name: string, url: string, pid: number) => {
      const out: Record<string, number> = {};
      for (const c of [1, 32]) {
        const stop = cpuWindow(() => ({
          function: pid,
          "process-jobs": h.stack.functions.get("process-jobs")?.pid ?? [],
          bench: Deno.pid,
          pgbouncer: pidsNamed("pgbouncer"),
        }));
        const r = await ctx.runLoad({
          url,
          requests: 1000,
          concurrency: c,
          tokens: h.tokens,
          prefix: `bd-${name}-${c}`,
        });
        expect202(name, r);
        const w = stop(pgGroup);
        const cpu = ["function", "process-jobs", "bench", "pgbouncer", OURS]
          .reduce((a, k) => a + (w.cores[k] ?? 0) * w.wallMs, 0);
        out[`c${c}_p50`] = round(percentile(r.latenciesMs, 50));
        out[`c${c}_p99`] = round(percentile(r.latenciesMs, 99));
        out[`c${c}_cpu_ms_per_post`] = round(cpu / r.latenciesMs.length);
        out[`c${c}_function_cpu_ms_per_post`] = round(
          (w.cores.function * w.wallMs) / r.latenciesMs.length,
        );
      }
      return out;
    };
    await ctx.fillTripoCap();
    const breakdown: Record<string, Record<string, number>> = {};
    for (const [name, env] of Object.entries(variants)) {
      const copy = await serveProcess(`${PROJECT_ROOT}supabase/functions/${FN}/index.ts`, {
        ...h.stack.functionEnv,
        ...env,
      });
      try {
        const url = `http://127.0.0.1:${copy.port}/${FN}`;
        await ctx.runLoad({ url, requests: 300, concurrency: 8, tokens: h.tokens, prefix: "bdw" });
        breakdown[name] = await measure(name, url, copy.pid);
      } finally {
        await copy.stop();
      }
      await ctx.cancelOpenJobs();
    }
    breakdown.floor = await measure("floor", await ctx.floorUrl(), (await ctx.floor()).pid);
    await noop.shutdown();

    // The database work alone, as the function and the floor send it (through the pooler,
    // prepare off). The stack's process-jobs is stopped so it does not claim these jobs.
    await h.pauseWorker();
    const pooled = postgres(h.stack.poolerUrl, poolOptions(1));
    const dbOnly = { enqueue_job: [] as number[], floor_insert: [] as number[] };
    try {
      const request = {
        op: "tripo_task",
        tripo_type: "text_to_model",
        params: { prompt: "db" },
        inputs: [],
      };
      for (let i = 0; i < 500; i++) {
        const user = ctx.users[i % USERS];
        let t = performance.now();
        await pooled`
          select * from bff.enqueue_job(${user}::uuid, 'text_to_model', 'tripo', ${`db-${i}`},
            ${pooled.json(request)}, ${`body:db-${i}`}, 'h', 'model', 100000, 100000, 1,
            ${pooled.json({ task_id: `db-${i}`, prompt: "db", style: null, metadata: {} })},
            8, 3600)`;
        dbOnly.enqueue_job.push(performance.now() - t);
        t = performance.now();
        await pooled`
          insert into bench.floor_jobs (user_id, task_id, prompt)
          values (${user}::uuid, ${`db-${i}`}, 'db') returning id`;
        dbOnly.floor_insert.push(performance.now() - t);
      }
    } finally {
      await pooled.end({ timeout: 5 });
    }
    await ctx.cancelOpenJobs();
    await ctx.clearTripoCap();
    const dbP50 = {
      enqueue_job: round(percentile(dbOnly.enqueue_job, 50)),
      floor_insert: round(percentile(dbOnly.floor_insert, 50)),
    };
    const bd = (k: string) => `${breakdown[k].c1_p50} / ${breakdown[k].c32_p50}`;
    const cpuBd = (k: string) =>
      `${breakdown[k].c1_cpu_ms_per_post} / ${breakdown[k].c32_cpu_ms_per_post}`;
    ctx.report.info(
      "POST breakdown, direct p50 c1 / c32 (1000 req each, own copies)",
      `shipped ${bd("copy as shipped")}; LOG_LEVEL=warn ${bd("LOG_LEVEL=warn")}; no-op nudge ${
        bd("nudge to a no-op server")
      }; both ${bd("both")}; nudge gap 5 ms ${bd("nudge gap 5 ms")} ms`,
      `floor ${bd("floor")} ms; DB alone (pooler) p50: enqueue_job ${dbP50.enqueue_job} ms, ` +
        `floor insert ${dbP50.floor_insert} ms`,
      "diagnostic",
    );
    ctx.report.info(
      "POST breakdown, CPU ms per POST c1 / c32 (function + process-jobs + bench process + " +
        "PgBouncer + this database's backends)",
      Object.keys(variants).map((k) => `${k} ${cpuBd(k)}`).join("; "),
      `floor ${cpuBd("floor")}`,
      "diagnostic",
    );
    ctx.report.set("post_breakdown", { ...breakdown, db_only_p50_ms: dbP50 });
  },
};
