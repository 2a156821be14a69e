// The queue in SQL, with no HTTP around: the drain (claim_jobs(50) + complete, 20,000 trivial
// jobs, 8 connections) through the transaction pooler as the functions connect (prepare off),
// the same straight to Postgres beside it, and through the pooler with the broadcasts off; then
// claim_jobs(8) latency behind
// the pooler on an empty table, with 100k finished + 10k future-dated jobs, just after the
// drain (dead rows, not vacuumed), and with the Tripo cap full and 10k Tripo jobs waiting for it.
// The stack's process-jobs is stopped throughout.
import { type BenchContext, type Section, settings } from "../context.ts";
import {
  bareDrain,
  claimLatency,
  drain,
  type DrainResult,
  insertTrivialJobs,
  queueClient,
} from "../queue.ts";
import { mapRound } from "../report.ts";
import { fmt, median, round } from "../stats.ts";

const RUNS = 3;
/** Tripo jobs waiting behind the full cap in the last claim-latency case. */
const WAITING = 10_000;
const PEERS = "graphile-worker batched 9,597; pg-boss 4,554; bare SKIP LOCKED 50+one update 27,121";
/** The bare queue's figure on the machine perf_floor.md was measured on. */
const BARE_REFERENCE = 27_121;

export const queue: Section = {
  name: "queue drain and claim with backlog",
  async run(ctx: BenchContext) {
    const { sql, users } = ctx;
    const s = ctx.main.stack;
    await ctx.main.quiesceWorker();
    await ctx.main.pauseWorker();
    // Each run starts from vacuumed, empty queue tables, so no run pays for another's dead rows,
    // nor for autovacuum cleaning up after the earlier sections (deleting their jobs also
    // rewrites the job link of their asset rows).
    const clean = async () => {
      await sql`delete from public.jobs`;
      await sql`vacuum analyze public.jobs, public.models, public.concept_images, public.input_assets`;
    };
    await clean();
    const n = settings.drainJobs;
    const runs: Record<"pooled" | "direct" | "silent", DrainResult[]> = {
      pooled: [],
      direct: [],
      silent: [],
    };
    const bare = { pooled: [] as number[], direct: [] as number[] };
    // The live-update triggers switched off on this (the bench's own) database: what the
    // broadcasts cost the claim and the completion, in the same conditions.
    const broadcasts = async (on: boolean) => {
      for (const t of ["jobs_broadcast_insert", "jobs_broadcast_update"]) {
        await sql.unsafe(`alter table public.jobs ${on ? "enable" : "disable"} trigger ${t}`);
      }
    };
    // Alternating, so a slow spell of the machine lands on each.
    for (let i = 0; i < RUNS; i++) {
      for (const via of ["pooled", "direct", "silent"] as const) {
        const url = via === "direct" ? ctx.dbUrl : s.poolerUrl;
        if (via === "silent") await broadcasts(false);
        try {
          runs[via].push(await drain(url, via !== "direct", sql, users, n, "batched"));
        } finally {
          if (via === "silent") await broadcasts(true);
        }
        await clean();
      }
      bare.pooled.push((await bareDrain(s.poolerUrl, true, sql, n)).jobsPerSecond);
      bare.direct.push((await bareDrain(ctx.dbUrl, false, sql, n)).jobsPerSecond);
    }
    await sql`drop table if exists bench.bare_jobs`;
    const med = (r: DrainResult[]) =>
      [...r].sort((a, b) => a.jobsPerSecond - b.jobsPerSecond)[Math.floor(r.length / 2)];
    const perJob = await drain(s.poolerUrl, true, sql, users, n, "per_job");
    // Deleted but not vacuumed: the churn case below.
    await sql`delete from public.jobs`;
    const line = (d: DrainResult) =>
      `${fmt(d.jobsPerSecond)} jobs/s (${fmt(d.seconds, " s")}; claim ${
        fmt(d.claimMsShare * 100)
      }% of time)`;
    const all = (r: DrainResult[]) => r.map((d) => fmt(d.jobsPerSecond)).join(", ");
    const pooled = med(runs.pooled);
    const direct = med(runs.direct);
    const silent = med(runs.silent);
    const bareMed = median(bare.pooled);
    // perf_floor.md's figure is the bare queue straight to Postgres: the machine's speed now.
    const machine = median(bare.direct) / BARE_REFERENCE;
    ctx.report.row(
      `queue drain through the pooler: claim_jobs(50) + complete_jobs (median of ${RUNS}: ${
        all(runs.pooled)
      })`,
      line(pooled),
      `direct: ${line(direct)} (runs ${all(runs.direct)}); ${PEERS}`,
      "≥ 10,000 jobs/s",
      pooled.jobsPerSecond >= 10_000,
    );
    ctx.report.info(
      `queue drain through the pooler, live-update broadcasts off (median of ${RUNS}: ${
        all(runs.silent)
      })`,
      line(silent),
      `with broadcasts ${fmt(pooled.jobsPerSecond / silent.jobsPerSecond)}× of this`,
      "diagnostic",
    );
    ctx.report.info(
      `bare SKIP LOCKED queue through the pooler, this run: claim 50 + mark done in one statement, 8 connections (median of ${RUNS}: ${
        bare.pooled.map((b) => fmt(b)).join(", ")
      })`,
      `${fmt(bareMed)} jobs/s`,
      `the drain ${fmt(pooled.jobsPerSecond / bareMed)}× of it (broadcasts off ${
        fmt(silent.jobsPerSecond / bareMed)
      }×); straight to Postgres ${fmt(median(bare.direct))} jobs/s, ${
        fmt(machine)
      }× perf_floor.md's ${fmt(BARE_REFERENCE)}: the drain scaled by that would be ${
        fmt(pooled.jobsPerSecond / machine)
      } jobs/s (an estimate, not the target's figure)`,
      "diagnostic",
    );
    ctx.report.info(
      "queue drain through the pooler: claim_jobs(50) + complete_job per job",
      line(perJob),
      PEERS,
      "diagnostic",
    );
    const j = (d: DrainResult) => ({
      jobs: d.jobs,
      seconds: round(d.seconds),
      jobs_per_s: round(d.jobsPerSecond),
      claim_time_share: round(d.claimMsShare),
    });
    ctx.report.set("queue_drain", {
      pooled_batched: j(pooled),
      direct_batched: j(direct),
      pooled_per_job: j(perJob),
      pooled_batched_runs: runs.pooled.map((d) => round(d.jobsPerSecond)),
      pooled_batched_no_broadcast: j(silent),
      direct_batched_runs: runs.direct.map((d) => round(d.jobsPerSecond)),
      bare_skip_locked_pooled_runs: bare.pooled.map((b) => round(b)),
      bare_skip_locked_direct_runs: bare.direct.map((b) => round(b)),
      ratio_to_bare_pooled: round(pooled.jobsPerSecond / bareMed),
      machine_vs_perf_floor: round(machine),
    });

    // claim_jobs(8) behind the pooler, on three tables.
    const client = queueClient(s.poolerUrl, true);
    try {
      const churn = await claimLatency(client, sql, users, 200);
      await sql`delete from public.jobs`;
      await sql`vacuum analyze public.jobs`;
      const empty = await claimLatency(client, sql, users, 200);
      await insertTrivialJobs(sql, users, 100_000, "backlog-done", "finished");
      await insertTrivialJobs(sql, users, 10_000, "backlog-future", "future");
      await sql`analyze public.jobs`;
      const backlog = await claimLatency(client, sql, users, 200);
      const claimRatio = backlog.claimP50 / empty.claimP50;
      const idleRatio = backlog.idleP50 / empty.idleP50;
      const pair = (a: number, b: number) => `${fmt(a, " ms")} / ${fmt(b, " ms")}`;
      ctx.report.row(
        "claim_jobs(8) via pooler with 8 due: 100k finished + 10k future-dated vs empty, p50 / p99",
        `${pair(backlog.claimP50, backlog.claimP99)} (${fmt(claimRatio)}×)`,
        `empty ${pair(empty.claimP50, empty.claimP99)}`,
        "within 1.5×",
        claimRatio <= 1.5,
      );
      ctx.report.row(
        "claim_jobs(8) via pooler with nothing due: backlog vs empty, p50 / p99",
        `${pair(backlog.idleP50, backlog.idleP99)} (${fmt(idleRatio)}×)`,
        `empty ${pair(empty.idleP50, empty.idleP99)}`,
        "within 1.5×",
        idleRatio <= 1.5,
      );
      ctx.report.info(
        "claim_jobs(8) via pooler with 8 due, after the drain (dead rows, not vacuumed), p50 / p99",
        `${pair(churn.claimP50, churn.claimP99)} (${fmt(churn.claimP50 / empty.claimP50)}× empty)`,
        `empty ${pair(empty.claimP50, empty.claimP99)}`,
        "diagnostic",
      );
      // The Tripo cap full and jobs waiting for it: a claim skips them (no slot), but reads past
      // them in the claim indexes, which hold every unfinished job.
      await sql`delete from public.jobs`;
      await sql`vacuum analyze public.jobs`;
      await ctx.fillTripoCap();
      await insertTrivialJobs(sql, users, WAITING, "backlog-waiting", "tripo_waiting");
      await sql`analyze public.jobs`;
      const waiting = await claimLatency(client, sql, users, 200);
      ctx.report.info(
        `claim_jobs(8) via pooler with 8 due, the Tripo cap full and ${
          fmt(WAITING)
        } Tripo jobs waiting for it, p50 / p99 (with nothing due)`,
        `${pair(waiting.claimP50, waiting.claimP99)} (${
          fmt(waiting.claimP50 / empty.claimP50)
        }× empty); nothing due ${pair(waiting.idleP50, waiting.idleP99)} (${
          fmt(waiting.idleP50 / empty.idleP50)
        }×)`,
        `empty ${pair(empty.claimP50, empty.claimP99)}; nothing due ${
          pair(empty.idleP50, empty.idleP99)
        }`,
        "diagnostic",
      );
      ctx.report.set("claim_backlog_ms", {
        via: "pooler",
        churned_unvacuumed: mapRound(churn),
        empty: mapRound(empty),
        backlog: mapRound(backlog),
        ratio_p50: round(claimRatio),
        idle_ratio_p50: round(idleRatio),
        tripo_waiting_behind_full_cap: mapRound(waiting),
        tripo_waiting_ratio_p50: round(waiting.claimP50 / empty.claimP50),
      });
    } finally {
      await client.end({ timeout: 5 });
      await ctx.clearTripoCap();
    }
    await sql`delete from public.jobs`;
    await sql`vacuum analyze public.jobs`;
  },
};
