// A queue position is counted by a streaming index scan that stops at the job (or the cap), with
// statistics older than the queue too: not by a bitmap of every entry in range, which reads the
// entries of jobs cancelled since the last vacuum on every count and never marks them dead (a
// POST's accepted event pays this count). Plans are the real ones (auto_explain, nested
// statements, analyzed).
import postgres from "postgres";
import assert from "node:assert/strict";
import { type CapturedPlan, planCapture, planNodes } from "../_helpers/plans.ts";
import { scratchDatabase } from "../_helpers/scratch_db.ts";

/** The most entries any node on jobs handed up, filtered out or rechecked. */
function jobEntriesRead(p: CapturedPlan): number {
  return Math.max(
    0,
    ...planNodes(p.Plan)
      .filter((n) => n["Relation Name"] === "jobs" || n["Index Name"]?.startsWith("jobs_"))
      .map((n) =>
        ((n["Actual Rows"] ?? 0) + (n["Rows Removed by Filter"] ?? 0) +
          (n["Rows Removed by Index Recheck"] ?? 0)) * (n["Actual Loops"] ?? 0)
      ),
  );
}

const bitmaps = (p: CapturedPlan) =>
  planNodes(p.Plan).filter((n) => n["Node Type"].startsWith("Bitmap")).length;

Deno.test("queue positions stream past the queue's dead entries instead of rereading them", async () => {
  const scratch = await scratchDatabase("queuepos");
  const { sql, capture } = planCapture(postgres, scratch.url);
  try {
    await sql`
      insert into auth.users (id, email)
      select gen_random_uuid(), 'q-' || i || '@test.local' from generate_series(1, 50) as i`;
    const wait = (from: number, n: number) =>
      sql`
        insert into public.jobs (user_id, kind, provider, client_task_id, request,
          idempotency_key, request_hash, rate_bucket, run_at, deadline_at)
        select u.ids[1 + i % 50], 'text_to_model', 'tripo', 'w-' || i, '{}', 'body:w-' || i,
          'h', 'model', now() - interval '1 hour' + i * interval '10 ms', now() + interval '1 hour'
        from generate_series(${from}::int, ${from + n - 1}::int) as i,
             (select array_agg(id) as ids from auth.users where email like 'q-%') as u`;
    // No statistics yet (a fresh project, or the bench's fresh database, until autovacuum gets
    // to the table), 2,020 jobs of which 1,500 were cancelled (their entries stay in the indexes
    // until a vacuum): 520 waiting.
    await wait(1, 20);
    await wait(21, 2000);
    await sql`
      update public.jobs set state = 'cancelled', finished_at = now()
      where client_task_id like 'w-%' and split_part(client_task_id, '-', 2)::int between 21 and 1520`;

    const [last] = await sql<{ id: string }[]>`
      select id from public.jobs where client_task_id = 'w-2020'`;
    const position = () =>
      capture(
        () =>
          sql<{ n: number }[]>`
            select bff.queue_position(j) as n from public.jobs j where j.id = ${last.id}::uuid`,
        { analyze: true },
      );
    await position(); // the first count may still meet the dead entries
    const { result: [pos], plans } = await position();
    assert.equal(pos.n, 519);
    const count = plans.find((p) => p["Query Text"].includes("limit 1000"));
    assert.ok(count, "the count's plan was captured");
    assert.equal(bitmaps(count), 0, "a bitmap scan reads every entry in range before any row");
    assert.ok(jobEntriesRead(count) <= 530, `${jobEntriesRead(count)} entries read for place 519`);

    // The accepted event of a new job behind them counts the same way.
    const [me] = await sql<{ id: string }[]>`select id from auth.users where email = 'q-1@test.local'`;
    const { result: [r], plans: enq } = await capture(
      () =>
        sql<{ outcome: string; job_id: string }[]>`
          select * from bff.enqueue_job(${me.id}::uuid, 'text_to_model', 'tripo', 'new',
            '{"prompt":"x"}'::jsonb, 'body:new', 'h', 'model', null, null, 1,
            '{"table":"models","prompt":"x"}'::jsonb)`,
      { analyze: true },
    );
    assert.equal(r.outcome, "created");
    const [event] = await sql<{ payload: { queue_position: number } }[]>`
      select payload from realtime.messages where payload ->> 'task_id' = ${r.job_id}`;
    assert.equal(event.payload.queue_position, 520);
    const accepted = enq.find((p) => p["Query Text"].includes("limit 1000"));
    assert.ok(accepted, "the accepted event's count was captured");
    assert.equal(bitmaps(accepted), 0);
    assert.ok(jobEntriesRead(accepted) <= 530, `${jobEntriesRead(accepted)} entries read`);
  } finally {
    await sql.end();
    await scratch.drop();
  }
});
