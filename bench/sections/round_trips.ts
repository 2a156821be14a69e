// Database round trips per generation POST and per job, counted on the wire: bench/pg_counter.ts
// sits between a copy of the function and the pooler and counts statements and the round trips
// they take, labelled with the SQL they ran. A copy of the function, then the floor, each send
// 100 POSTs one after another after 20 warm-up requests; a copy of process-jobs runs one
// `?wait=true` invocation over 20 text-to-model jobs enqueued in SQL, from submit to complete.
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import { type BenchContext, FN, type Section } from "../context.ts";
import { enqueueTextToModel } from "../jobs.ts";
import { startPgCounter } from "../pg_counter.ts";
import { serveProcess } from "../proc.ts";
import { fmt, round, waitFor } from "../stats.ts";

const POSTS = 100;
const JOBS = 20;

export const roundTrips: Section = {
  name: "database round trips",
  async run(ctx: BenchContext) {
    const h = ctx.main;
    await h.quiesceWorker();
    await h.pauseWorker();
    const counter = startPgCounter(h.stack.poolerUrl);
    ctx.defer(() => counter.close());
    const env = { ...h.stack.functionEnv, SUPABASE_DB_URL: counter.url };
    const gen = await serveProcess(`${PROJECT_ROOT}supabase/functions/${FN}/index.ts`, env);
    ctx.defer(() => gen.stop());
    const stamp = Date.now();
    /** 20 warm-up POSTs to `url`, then POSTS counted ones: what the counter saw of those. */
    const countPosts = async (url: string, tag: string) => {
      for (let i = 0; i < 20; i++) {
        await h.post(url, { task_id: `${tag}w-${stamp}-${i}`, prompt: "warm" }, h.authHeaders(i));
      }
      counter.reset();
      for (let i = 0; i < POSTS; i++) {
        const body = { task_id: `${tag}-${stamp}-${i}`, prompt: `rt ${i}` };
        const r = await h.post(url, body, h.authHeaders(i));
        if (r.status !== 202) throw new Error(`round-trip POST ${url}: ${r.status} ${r.body}`);
      }
      return counter.snapshot();
    };
    const postTrips = await countPosts(`http://127.0.0.1:${gen.port}/${FN}`, "rt");
    await gen.stop();
    // The floor the same way: its one insert through the same counter.
    const floor = await serveProcess(`${PROJECT_ROOT}bench/floor_server.ts`, {
      FLOOR_DB_URL: counter.url,
      FLOOR_JWKS: JSON.stringify(h.stack.keys.jwks),
    });
    ctx.defer(() => floor.stop());
    const floorTrips = await countPosts(`http://127.0.0.1:${floor.port}/floor`, "rtf");
    await floor.stop();
    await waitFor("the POSTs' jobs to finish", () => ctx.jobsSettled(), 60_000, 250);
    await h.quiesceWorker();
    // The stack's own process-jobs must not take these jobs from the counted copy.
    await h.pauseWorker();
    for (let i = 0; i < JOBS; i++) {
      await enqueueTextToModel(ctx.sql, ctx.users[i], `rtj-${stamp}-${i}`, `rtj ${i}`);
    }
    const pj = await serveProcess(`${PROJECT_ROOT}supabase/functions/process-jobs/index.ts`, env);
    ctx.defer(() => pj.stop());
    counter.reset();
    const res = await fetch(`http://127.0.0.1:${pj.port}/process-jobs?wait=true`, {
      method: "POST",
      headers: h.serviceHeaders(),
      body: "{}",
    });
    const summary = await res.json();
    const jobTrips = counter.snapshot();
    await pj.stop();
    counter.close();
    const perLabel = (snap: { byLabel: Record<string, number> }, n: number) =>
      Object.fromEntries(
        Object.entries(snap.byLabel).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, round(v / n)]),
      );
    const show = (o: Record<string, number>) =>
      Object.entries(o).map(([k, v]) => `${k} ${v}`).join(", ");
    const postBreakdown = perLabel(postTrips, POSTS);
    const jobBreakdown = perLabel(jobTrips, JOBS);
    // Statements and round trips differ: postgres.js with prepare off describes every statement
    // with parameters (Parse + Describe + Flush) before it binds it (bench/pg_counter.ts).
    const trips = (t: { total: number; statements: number }, n: number) =>
      `${fmt(t.total / n)} round trips for ${fmt(t.statements / n)} statement` +
      (t.statements === n ? "" : "s");
    ctx.report.info(
      "DB round trips per generation POST (wire count, steady state)",
      `${trips(postTrips, POSTS)} (${show(postBreakdown)})`,
      `floor (one insert statement, the same connection settings): ${trips(floorTrips, POSTS)}`,
    );
    ctx.report.info(
      `DB round trips per text-to-model job, submit → complete (${JOBS} jobs, one invocation)`,
      `${trips(jobTrips, JOBS)} (${show(jobBreakdown)})`,
      `summary ${JSON.stringify(summary)}`,
    );
    ctx.report.set("db_round_trips", {
      method: "wire-protocol proxy in front of the pooler: Sync/Query end a statement; " +
        "each of them and each Flush is a round trip",
      per_post: round(postTrips.total / POSTS),
      per_post_statements: round(postTrips.statements / POSTS),
      per_post_breakdown: postBreakdown,
      floor_per_post: round(floorTrips.total / POSTS),
      floor_per_post_statements: round(floorTrips.statements / POSTS),
      per_job: round(jobTrips.total / JOBS),
      per_job_statements: round(jobTrips.statements / JOBS),
      per_job_breakdown: jobBreakdown,
      invocation: summary,
    });
  },
};
