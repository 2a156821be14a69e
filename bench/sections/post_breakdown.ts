// Where a POST's time goes (diagnostic): copies of the function process, each with one cost
// removed (LOG_LEVEL=warn; the nudge sent to a no-op server; both) or the wake-up spacing from
// before (5 ms), side by side with the floor, 4 rounds of 250 requests each at c1 and c32, the
// order rotating; latency and CPU per POST; then the database work alone through the pooler,
// 500 × bff.enqueue_job against 500 × the floor's single insert, from the bench process.
import postgres from "postgres";
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import { poolOptions } from "../../supabase/functions/_shared/db.ts";
import { type BenchContext, FN, type Section, USERS } from "../context.ts";
import type { LoadResult } from "../load_worker.ts";
import { pidsNamed, serveProcess } from "../proc.ts";
import { cpuWindow, pgGrouper } from "../tail_probe.ts";
import { percentile, round } from "../stats.ts";

const ROUNDS = 4;
const PER_ROUND = 250;

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
    const breakdown: Record<string, Record<string, number>> = {};
    const expect202 = (what: string, r: LoadResult) => {
      if ((r.statuses["202"] ?? 0) !== r.latenciesMs.length) {
        throw new Error(`${what}: not every answer was 202: ${JSON.stringify(r.statuses)}`);
      }
    };
    // CPU of every process a POST involves (10 ms ticks, added up over the blocks): the
    // function's process, process-jobs (the wake-ups), the bench process (the gateway the
    // wake-ups cross, the function logs it drains, the load generator), PgBouncer and this
    // database's backends. Latency on this shared machine moves with other work; CPU per POST
    // shows what each cost is. All copies run side by side and are measured in ROUNDS rounds,
    // the order rotating, so a busy spell of the machine lands on all of them.
    const OURS = "postgres, this database's backends";
    const PARTS = ["function", "process-jobs", "bench", "pgbouncer", OURS];
    await ctx.fillTripoCap();
    const targets: Record<string, { url: string; pid: number }> = {};
    const copies: { stop(): Promise<void> }[] = [];
    try {
      for (const [name, env] of Object.entries(variants)) {
        const copy = await serveProcess(`${PROJECT_ROOT}supabase/functions/${FN}/index.ts`, {
          ...h.stack.functionEnv,
          ...env,
        });
        copies.push(copy);
        targets[name] = { url: `http://127.0.0.1:${copy.port}/${FN}`, pid: copy.pid };
      }
      const floor = await ctx.floor();
      targets.floor = { url: await ctx.floorUrl(), pid: floor.pid };
      for (const [name, t] of Object.entries(targets)) {
        await ctx.runLoad({
          url: t.url,
          requests: 300,
          concurrency: 8,
          tokens: h.tokens,
          prefix: `bdw-${name}`,
        });
      }
      await ctx.cancelOpenJobs();
      const names = Object.keys(targets);
      const acc: Record<string, Record<string, { lat: number[]; cpu: Record<string, number> }>> =
        {};
      for (const c of [1, 32]) {
        for (let b = 0; b < ROUNDS; b++) {
          for (const name of names.map((_, k) => names[(k + b) % names.length])) {
            const t = targets[name];
            const stop = cpuWindow(() => ({
              function: t.pid,
              "process-jobs": h.stack.functions.get("process-jobs")?.pid ?? [],
              bench: Deno.pid,
              pgbouncer: pidsNamed("pgbouncer"),
            }));
            const r = await ctx.runLoad({
              url: t.url,
              requests: PER_ROUND,
              concurrency: c,
              tokens: h.tokens,
              prefix: `bd-${name}-${c}-${b}`,
            });
            expect202(name, r);
            // Grouped now: the pooler opens server connections (backends) during the load.
            const w = stop(await pgGrouper(ctx.sql));
            const a = ((acc[name] ??= {})[`c${c}`] ??= { lat: [], cpu: {} });
            a.lat.push(...r.latenciesMs);
            for (const [k, share] of Object.entries(w.cores)) {
              a.cpu[k] = (a.cpu[k] ?? 0) + share * w.wallMs;
            }
            await ctx.cancelOpenJobs();
          }
        }
      }
      for (const name of names) {
        const out: Record<string, number> = {};
        for (const [level, a] of Object.entries(acc[name])) {
          const n = a.lat.length;
          out[`${level}_p50`] = round(percentile(a.lat, 50));
          out[`${level}_p99`] = round(percentile(a.lat, 99));
          out[`${level}_cpu_ms_per_post`] = round(
            PARTS.reduce((sum, k) => sum + (a.cpu[k] ?? 0), 0) / n,
          );
          for (const [k, ms] of Object.entries(a.cpu)) {
            out[`${level}_cpu_ms_per_post ${k}`] = round(ms / n);
          }
        }
        breakdown[name] = out;
      }
    } finally {
      for (const copy of copies) await copy.stop();
    }
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
      "POST breakdown, direct p50 c1 / c32 (4 × 250 req each, copies side by side)",
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
