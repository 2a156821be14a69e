// The claim stays index-driven when the jobs table is mostly history: with 100,000 finished
// jobs (plus future-dated ones), every statement bff.claim_jobs runs, the candidate query
// included, must use the partial claim index and never scan all of public.jobs. The plans are
// the real ones, captured with auto_explain (nested statements, sent to the client as notices).
// Runs in a scratch database that is dropped afterwards.
import postgres from "postgres";
import assert from "node:assert/strict";
import { type CapturedPlan, planCapture, planNodes } from "../_helpers/plans.ts";
import { scratchDatabase } from "../_helpers/scratch_db.ts";

/**
 * The claim's candidate statement: bff.claim_candidates (inlined into claim_jobs), or the query
 * claim_jobs ran itself before that function existed (so these tests fail on that code rather
 * than miss it).
 */
const isCandidateQuery = (p: CapturedPlan) =>
  p["Query Text"].includes("bff.claim_candidates") || p["Query Text"].includes("with recursive");

/** Rows of jobs a statement read: returned by its scans or removed by their filters, all loops. */
const jobRowsRead = (p: CapturedPlan) =>
  planNodes(p.Plan)
    .filter((n) => n["Relation Name"] === "jobs")
    .reduce(
      (sum, n) =>
        sum + ((n["Actual Rows"] ?? 0) + (n["Rows Removed by Filter"] ?? 0)) *
          (n["Actual Loops"] ?? 0),
      0,
    );

Deno.test("claim_jobs uses the partial claim index, not a scan of 100,000 finished jobs", async () => {
  const scratch = await scratchDatabase();
  const { sql, capture } = planCapture(postgres, scratch.url);
  try {
    await sql`
      insert into auth.users (id, email)
      select gen_random_uuid(), 'plan-' || i || '@test.local' from generate_series(1, 200) as i`;
    // History: 100,000 finished jobs spread over the users.
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, state, progress, run_at, deadline_at, created_at, finished_at,
        result)
      select u.ids[1 + i % 200], 'text_to_model', case when i % 2 = 0 then 'tripo' else 'openai' end,
        'done-' || i, '{"prompt":"x"}', 'hdr:done-' || i, 'h', 'b',
        case when i % 10 = 0 then 'failed' else 'succeeded' end, 100,
        now() - interval '2 days', now() - interval '1 day', now() - interval '2 days',
        now() - interval '1 day', '{"outputs":[]}'
      from generate_series(1, 100000) as i,
           (select array_agg(id) as ids from auth.users) as u`;
    // Waiting but not due (future run_at), and a few due ones including Tripo submissions.
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, run_at, deadline_at)
      select u.ids[1 + i % 200], 'text_to_model', case when i % 2 = 0 then 'tripo' else 'openai' end,
        'later-' || i, '{}', 'hdr:later-' || i, 'h', 'b', now() + interval '1 hour',
        now() + interval '2 hours'
      from generate_series(1, 2000) as i, (select array_agg(id) as ids from auth.users) as u`;
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, run_at, deadline_at)
      select u.ids[1 + i % 200], 'text_to_model', case when i % 2 = 0 then 'tripo' else 'openai' end,
        'due-' || i, '{}', 'hdr:due-' || i, 'h', 'b', now() - interval '1 second',
        now() + interval '1 hour'
      from generate_series(1, 20) as i, (select array_agg(id) as ids from auth.users) as u`;
    // Every job has its model row, as generation jobs do.
    await sql`
      insert into public.models (task_id, user_id, prompt, status, job_id)
      select j.client_task_id, j.user_id, 'x',
        case when j.state = 'succeeded' then 'complete' when j.state = 'failed' then 'failed'
             else 'pending' end, j.id
      from public.jobs j`;
    // What autovacuum would have done by now.
    await sql`analyze public.jobs`;
    await sql`analyze public.models`;

    const { result: [claimed, rest], plans } = await capture(async () => [
      await sql`select * from bff.claim_jobs(10, 60, 5)`,
      // More slots than due jobs: the top-up pass runs too.
      await sql`select * from bff.claim_jobs(30, 60, 5)`,
    ]);
    assert.equal(claimed.length, 10, "the due jobs are claimed");
    assert.ok(rest.length > 0 && rest.length <= 10, `then the rest: ${rest.length}`);
    assert.ok(
      plans.some((p) => p["Query Text"].startsWith("select v_ids || coalesce(array_agg(t.id)")),
      "the top-up statement ran",
    );

    assert.ok(plans.length >= 3, `expected nested statement plans, got ${plans.length}`);

    const candidate = plans.find(isCandidateQuery);
    assert.ok(candidate, "the candidate query's plan was captured");
    const candNodes = planNodes(candidate.Plan);
    const shown = JSON.stringify(candidate.Plan, null, 1);
    const indexes = new Set(candNodes.map((n) => n["Index Name"]).filter((n) => n !== undefined));
    // Both are partial indexes over claimable (queued/running) rows only: the per-user fair scan
    // and the due-order top-up.
    const allowed = new Set(["jobs_claimable_idx", "jobs_due_idx"]);
    assert.ok(
      indexes.has("jobs_claimable_idx"),
      `the fair scan uses jobs_claimable_idx:\n${shown}`,
    );
    assert.deepEqual(
      [...indexes].filter((i) => !allowed.has(i as string)),
      [],
      `the candidate query reads jobs only through the claimable partial indexes:\n${shown}`,
    );
    assert.ok(
      candNodes.some((n) => n["Relation Name"] === "jobs"),
      `the candidate plan reads jobs:\n${shown}`,
    );

    // No statement of the claim (deadline sweep, Tripo count, row lock, update, marking the
    // model rows) seq-scans jobs or models.
    for (const p of plans) {
      const seq = planNodes(p.Plan).filter((n) =>
        n["Node Type"] === "Seq Scan" &&
        (n["Relation Name"] === "jobs" || n["Relation Name"] === "models")
      );
      assert.equal(seq.length, 0, `seq scan in: ${p["Query Text"].slice(0, 200)}`);
    }
  } finally {
    await sql.end();
    await scratch.drop();
  }
});

Deno.test("a claim reads each user's fair share, not the user's whole backlog", async () => {
  const scratch = await scratchDatabase();
  const { sql, capture } = planCapture(postgres, scratch.url);
  try {
    await sql`
      insert into auth.users (id, email)
      select gen_random_uuid(), 'share-' || i || '@test.local' from generate_series(1, 4) as i`;
    // One user with 5,000 due jobs enqueued in one batch (one run_at: ties are the costly case
    // for a window over the backlog), three users with one each.
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, run_at, deadline_at)
      select case when i <= 5000 then u.ids[1] else u.ids[i - 4999] end, 'image_to_image',
        'openai', 'share-' || i, '{}', 'hdr:share-' || i, 'h', 'b',
        now() - interval '1 minute', now() + interval '1 hour'
      from generate_series(1, 5003) as i,
           (select array_agg(id order by email) as ids from auth.users) as u`;
    await sql`analyze public.jobs`;

    const { result: claimed, plans } = await capture(
      () => sql<{ user_id: string }[]>`select * from bff.claim_jobs(10, 60, 5)`,
      { analyze: true },
    );
    assert.equal(claimed.length, 10);
    assert.equal(new Set(claimed.map((c) => c.user_id)).size, 4, "every user got a slot");

    const candidate = plans.find(isCandidateQuery);
    assert.ok(candidate, "the candidate query's plan was captured");
    const read = planNodes(candidate.Plan)
      .filter((n) => n["Relation Name"] === "jobs")
      .reduce((sum, n) => sum + (n["Actual Rows"] ?? 0) * (n["Actual Loops"] ?? 0), 0);
    // Skip-scan (one row per user step), the shares (at most 10) and the due-order list (10).
    assert.ok(read > 0 && read <= 100, `the candidate query read ${read} job rows`);
  } finally {
    await sql.end();
    await scratch.drop();
  }
});

Deno.test("with the Tripo cap full, a claim never reads the Tripo jobs waiting for a slot", async () => {
  const scratch = await scratchDatabase();
  const { sql, capture } = planCapture(postgres, scratch.url);
  try {
    await sql`
      insert into auth.users (id, email)
      select gen_random_uuid(), 'cap-' || i || '@test.local' from generate_series(1, 50) as i`;
    // The cap (5) full of submitted tasks, 2,000 Tripo jobs waiting for a slot, 10 OpenAI jobs due.
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, state, provider_task_id, submitted_at, run_at, deadline_at)
      select u.ids[1 + i % 50], 'text_to_model', 'tripo', 'flight-' || i, '{}', 'hdr:flight-' || i,
        'h', 'b', 'running', 'task-' || i, now(), now() + interval '1 hour', now() + interval '2 hours'
      from generate_series(1, 5) as i, (select array_agg(id) as ids from auth.users) as u`;
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, run_at, deadline_at)
      select u.ids[1 + i % 50], 'text_to_model', 'tripo', 'wait-' || i, '{}', 'hdr:wait-' || i,
        'h', 'b', now() - interval '1 minute', now() + interval '2 hours'
      from generate_series(1, 2000) as i, (select array_agg(id) as ids from auth.users) as u`;
    await sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, run_at, deadline_at)
      select u.ids[1 + i % 50], 'image_to_image', 'openai', 'ready-' || i, '{}', 'hdr:ready-' || i,
        'h', 'b', now() - interval '1 second', now() + interval '2 hours'
      from generate_series(1, 10) as i, (select array_agg(id) as ids from auth.users) as u`;
    await sql`analyze public.jobs`;

    const { result: [claimed, again], plans } = await capture(async () => [
      await sql<{ provider: string }[]>`select * from bff.claim_jobs(8, 60, 5)`,
      // More slots than ready jobs: the top-up pass runs too.
      await sql<{ provider: string }[]>`select * from bff.claim_jobs(8, 60, 5)`,
    ], { analyze: true });
    assert.equal(claimed.length, 8, "eight of the ready jobs are claimed");
    assert.equal(again.length, 2, "then the other two");
    assert.ok([...claimed, ...again].every((c) => c.provider === "openai"), "no submission");

    const candidates = plans.filter(isCandidateQuery).map(jobRowsRead);
    assert.equal(candidates.length, 2, "both candidate queries' plans were captured");
    for (const read of candidates) {
      assert.ok(read <= 100, `a candidate query read ${read} job rows (2,000 wait behind the cap)`);
    }
    const topUp = plans
      .filter((p) => p["Query Text"].startsWith("select v_ids || coalesce(array_agg(t.id)"))
      .map(jobRowsRead);
    assert.ok(topUp.length > 0, "the top-up pass ran");
    for (const read of topUp) {
      assert.ok(read <= 100, `the top-up pass read ${read} job rows (2,000 wait behind the cap)`);
    }
  } finally {
    await sql.end();
    await scratch.drop();
  }
});
