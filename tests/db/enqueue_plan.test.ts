// A generation POST's one round trip, bff.enqueue_job, reads a handful of index entries however
// long the caller's history and however many jobs other users have waiting: the idempotency
// lookup is served by the unique idempotency index, and the rate-window and active-job counts
// by the per-user indexes (rows read or filtered out both count). Plans are the real ones
// (auto_explain, nested statements, analyzed), made generic as PL/pgSQL settles on them.
import postgres from "postgres";
import assert from "node:assert/strict";
import { planCapture, planNodes } from "../_helpers/plans.ts";
import { scratchDatabase } from "../_helpers/scratch_db.ts";

Deno.test("enqueue_job reads a few entries, not the caller's history or the whole queue", async () => {
  const scratch = await scratchDatabase("enqueue");
  const { sql, capture } = planCapture(postgres, scratch.url);
  try {
    const [{ id: me }] = await sql<{ id: string }[]>`
      insert into auth.users (id, email) values (gen_random_uuid(), 'history@test.local')
      returning id`;
    await sql`
      insert into auth.users (id, email)
      select gen_random_uuid(), 'other-' || i || '@test.local' from generate_series(1, 50) as i`;
    // The caller: 5,000 finished jobs in the same kind and bucket.
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, state, run_at, deadline_at, created_at, finished_at)
      select ${me}::uuid, 'text_to_model', 'tripo', 'old-' || i, '{}', 'body:old-' || i, 'h',
        'model', 'succeeded', now() - interval '2 days', now() - interval '1 day',
        now() - interval '2 days', now() - interval '1 day'
      from generate_series(1, 5000) as i`;
    // Everyone else: 5,000 jobs waiting.
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, run_at, deadline_at)
      select u.ids[1 + i % 50], 'image_to_image', 'openai', 'wait-' || i, '{}', 'body:wait-' || i,
        'h', 'image', now() + interval '1 hour', now() + interval '2 hours'
      from generate_series(1, 5000) as i,
           (select array_agg(id) as ids from auth.users where email like 'other-%') as u`;
    await sql`analyze public.jobs`;

    const enqueue = (key: string) =>
      sql`
        select * from bff.enqueue_job(${me}::uuid, 'text_to_model', 'tripo', ${key},
          '{"prompt":"x"}'::jsonb, ${"body:" + key}, 'h', 'model', 10, 10, 1,
          '{"table":"models","prompt":"x"}'::jsonb)`;
    // Generic plans (what PL/pgSQL settles on after five calls when they look no worse), so no
    // statement gets by on a plan specialised to this call's values. The warm-up jobs are then
    // finished, so the caps stay clear of their limits.
    await sql`set plan_cache_mode = force_generic_plan`;
    for (let i = 0; i < 6; i++) assert.equal((await enqueue(`warm-${i}`))[0].outcome, "created");
    await sql`update public.jobs set state = 'succeeded', finished_at = now(), created_at = now() - interval '1 hour'
      where user_id = ${me}::uuid and client_task_id like 'warm-%'`;

    const { result: [r], plans: all } = await capture(() => enqueue("measured"), {
      analyze: true,
    });
    assert.equal(r.outcome, "created");

    const plans = all.filter((p) => !p["Query Text"].includes("bff.enqueue_job("));
    assert.ok(plans.length >= 4, `expected the nested statements' plans, got ${plans.length}`);
    for (const p of plans) {
      const read = planNodes(p.Plan)
        .filter((n) => n["Relation Name"] === "jobs" || n["Index Name"]?.startsWith("jobs_"))
        .reduce(
          (sum, n) =>
            sum +
            ((n["Actual Rows"] ?? 0) + (n["Rows Removed by Filter"] ?? 0) +
                (n["Rows Removed by Index Recheck"] ?? 0)) * (n["Actual Loops"] ?? 0),
          0,
        );
      assert.ok(read <= 20, `${read} job rows read by: ${p["Query Text"].trim().slice(0, 160)}`);
    }
  } finally {
    await sql.end();
    await scratch.drop();
  }
});
