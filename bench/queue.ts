// SQL-level queue figures: drain throughput of the claim + complete path, and claim latency
// with a large finished / future-dated backlog versus an empty table. These call the product's
// bff.* functions directly over postgres.js, the way process-jobs does, with no HTTP around;
// through the transaction pooler (prepare off, as the functions connect) or straight to
// Postgres for comparison.
import postgres from "postgres";
import { poolOptions } from "../supabase/functions/_shared/db.ts";
import { percentile } from "./stats.ts";

const OUTPUTS = [{ bucket: "generated-assets", path: "bench/x.png", url: "http://bench/x.png" }];

/**
 * Inserts `count` trivial jobs spread over `users`, no rows attached: OpenAI jobs due, finished or
 * future-dated, or (`tripo_waiting`) due Tripo jobs never submitted, which wait for a cap slot.
 */
export async function insertTrivialJobs(
  sql: postgres.Sql,
  users: string[],
  count: number,
  tag: string,
  state: "due" | "finished" | "future" | "tripo_waiting" = "due",
): Promise<void> {
  const runAt = state === "future" ? "now() + interval '1 day'" : "now() - interval '1 second'";
  const terminal = state === "finished";
  const [kind, provider, bucket] = state === "tripo_waiting"
    ? ["text_to_model", "tripo", "model"]
    : ["image_to_image", "openai", "image"];
  await sql.unsafe(
    `insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
       request_hash, rate_bucket, state, run_at, deadline_at, finished_at, created_at)
     select u.users[1 + (g % array_length(u.users, 1))], '${kind}', '${provider}',
       $2::text || '-' || g, '{}'::jsonb, 'bench:' || $2::text || ':' || g, 'h', '${bucket}',
       ${terminal ? "'succeeded'" : "'queued'"}, ${runAt}, now() + interval '2 days',
       ${terminal ? "now() - (g % 1000) * interval '1 second'" : "null"},
       now() - interval '2 minutes'
     from generate_series(1, $1::int) g, (select $3::uuid[] as users) u`,
    [count, tag, users],
  );
}

export type CompleteMode = "per_job" | "batched";

export interface DrainResult {
  mode: CompleteMode;
  jobs: number;
  seconds: number;
  jobsPerSecond: number;
  claimMsShare: number;
}

type Claimed = { job_id: string; lease_token: string };

async function complete(sql: postgres.Sql, mode: CompleteMode, rows: Claimed[]) {
  const outputs = sql.json(OUTPUTS as unknown as postgres.JSONValue);
  if (mode === "per_job") {
    // One bff.complete_job round trip per finished job (process-jobs when completions are sparse).
    for (const r of rows) {
      await sql`select bff.complete_job(${r.job_id}::uuid, ${r.lease_token}::uuid, ${outputs}) as ok`;
    }
  } else {
    // bff.complete_jobs over the batch (process-jobs batches completions that coincide).
    const batch = rows.map((r) => ({
      job_id: r.job_id,
      lease_token: r.lease_token,
      outputs: OUTPUTS,
    }));
    await sql`select * from bff.complete_jobs(${sql.json(batch as unknown as postgres.JSONValue)})`;
  }
}

/** One client connection: through the pooler as the functions connect, else postgres.js's default. */
export function queueClient(url: string, pooled: boolean): postgres.Sql {
  return postgres(url, pooled ? poolOptions(1) : { max: 1, onnotice: () => {} });
}

/**
 * 8 connections to `url`, each claiming 50 and completing them, until `count` jobs are done.
 * `pooled`: `url` is the transaction pooler (prepare off).
 */
export async function drain(
  url: string,
  pooled: boolean,
  admin: postgres.Sql,
  users: string[],
  count: number,
  mode: CompleteMode,
  connections = 8,
): Promise<DrainResult> {
  await insertTrivialJobs(admin, users, count, `drain-${mode}-${Date.now()}`);
  await admin`analyze public.jobs`;
  const clients = Array.from({ length: connections }, () => queueClient(url, pooled));
  await Promise.all(clients.map((c) => c`select 1`));
  let done = 0;
  let claimMs = 0;
  let totalMs = 0;
  const started = performance.now();
  await Promise.all(clients.map(async (sql) => {
    let empty = 0;
    while (done < count && empty < 3) {
      const t0 = performance.now();
      const rows = await sql<Claimed[]>`
        select job_id, lease_token from bff.claim_jobs(50, 60, 1000)`;
      const t1 = performance.now();
      claimMs += t1 - t0;
      if (rows.length === 0) {
        empty++;
        continue;
      }
      empty = 0;
      await complete(sql, mode, rows);
      totalMs += performance.now() - t0;
      done += rows.length;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.end({ timeout: 5 })));
  const [left] = await admin`
    select count(*)::int as n from public.jobs where state in ('queued', 'running')`;
  if (left.n !== 0) throw new Error(`drain (${mode}) left ${left.n} jobs unfinished`);
  return {
    mode,
    jobs: done,
    seconds,
    jobsPerSecond: done / seconds,
    claimMsShare: totalMs > 0 ? claimMs / totalMs : 0,
  };
}

/**
 * The peers' bare queue (perf_floor.md: "plain SKIP LOCKED queue, 8 workers, claim 50 + mark all
 * done in one update", 27,121 jobs/s on the reference machine), measured in the same run as ours:
 * `count` rows in a table of its own (bench.bare_jobs), 8 connections to `url` each taking 50
 * with FOR UPDATE SKIP LOCKED and marking them done in the same statement. What this machine can
 * do right now, so the drain can be read as a ratio when the machine's speed drifts.
 */
export async function bareDrain(
  url: string,
  pooled: boolean,
  admin: postgres.Sql,
  count: number,
  connections = 8,
): Promise<{ jobs: number; seconds: number; jobsPerSecond: number }> {
  await admin`create schema if not exists bench`;
  await admin`
    create table if not exists bench.bare_jobs (
      id bigserial primary key,
      state text not null default 'queued',
      payload jsonb not null default '{}'
    )`;
  await admin`truncate bench.bare_jobs`;
  await admin`insert into bench.bare_jobs (state) select 'queued' from generate_series(1, ${count})`;
  await admin`vacuum analyze bench.bare_jobs`;
  const clients = Array.from({ length: connections }, () => queueClient(url, pooled));
  await Promise.all(clients.map((c) => c`select 1`));
  let done = 0;
  const started = performance.now();
  await Promise.all(clients.map(async (sql) => {
    for (;;) {
      const [r] = await sql<{ n: number }[]>`
        with c as (
          select id from bench.bare_jobs where state = 'queued'
          order by id limit 50 for update skip locked
        ), u as (
          update bench.bare_jobs b set state = 'done' from c where b.id = c.id returning 1
        )
        select count(*)::int as n from u`;
      if (r.n === 0) break;
      done += r.n;
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.end({ timeout: 5 })));
  if (done !== count) throw new Error(`bare drain: ${done} of ${count} rows done`);
  return { jobs: done, seconds, jobsPerSecond: done / seconds };
}

export interface ClaimLatency {
  claimP50: number;
  claimP99: number;
  idleP50: number;
  idleP99: number;
}

/**
 * claim_jobs(8) over `sql` with 8 due jobs waiting, and with nothing due, `samples` times each;
 * the jobs are inserted, completed and deleted over `admin`.
 */
export async function claimLatency(
  sql: postgres.Sql,
  admin: postgres.Sql,
  users: string[],
  samples: number,
): Promise<ClaimLatency> {
  const busy: number[] = [];
  const idle: number[] = [];
  const outputs = admin.json(OUTPUTS as unknown as postgres.JSONValue);
  for (let i = 0; i < samples; i++) {
    await insertTrivialJobs(
      admin,
      users.slice((i * 8) % users.length),
      8,
      `claim-${Date.now()}-${i}`,
    );
    const t0 = performance.now();
    const rows = await sql<Claimed[]>`select job_id, lease_token from bff.claim_jobs(8, 60, 1000)`;
    busy.push(performance.now() - t0);
    await admin`
      select bff.complete_job(x.id, x.lease, ${outputs})
      from unnest(${rows.map((r) => r.job_id)}::uuid[], ${
      rows.map((r) => r.lease_token)
    }::uuid[]) as x(id, lease)`;
    // Keep the table as it was (empty stays empty), so only the backlog differs between runs.
    await admin`delete from public.jobs where id = any (${rows.map((r) => r.job_id)}::uuid[])`;
    const t1 = performance.now();
    await sql`select job_id from bff.claim_jobs(8, 60, 1000)`;
    idle.push(performance.now() - t1);
  }
  return {
    claimP50: percentile(busy, 50),
    claimP99: percentile(busy, 99),
    idleP50: percentile(idle, 50),
    idleP99: percentile(idle, 99),
  };
}
