// The live-update trigger renumbers the Tripo jobs waiting behind one that leaves the queue. It
// must never wait for rows another transaction holds: a claim or a cancel that waits there can
// deadlock with another (seen in the bench), and a failed claim ends the process-jobs loop. Real,
// separate connections in a scratch database.
import postgres from "postgres";
import assert from "node:assert/strict";
import { scratchDatabase } from "../_helpers/scratch_db.ts";

Deno.test("a Tripo job leaving the queue does not wait on waiting jobs another transaction holds", async () => {
  const scratch = await scratchDatabase("qmoves");
  const setup = postgres(scratch.url, { max: 1, onnotice: () => {} });
  const holder = postgres(scratch.url, { max: 1, onnotice: () => {} });
  try {
    const [{ id: user }] = await setup<{ id: string }[]>`
      insert into auth.users (id, email) values (gen_random_uuid(), 'qmoves@test.local')
      returning id`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const [r] = await setup<{ outcome: string; job_id: string }[]>`
        select outcome, job_id from bff.enqueue_job(
          ${user}::uuid, 'text_to_model', 'tripo', ${"q" + i}, '{}'::jsonb, ${"hdr:q" + i}, 'h',
          'model', 100000, 100000, 1, ${setup.json({ table: "models", task_id: "q" + i })})`;
      assert.equal(r.outcome, "created");
      ids.push(r.job_id);
      // Distinct queue places, in enqueue order.
      await setup`update public.jobs set run_at = now() - make_interval(secs => ${100 - i})
        where id = ${r.job_id}`;
    }
    // Another transaction holds the second waiting job (as a claim or a cancel would).
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    const holding = holder.begin(async (tx) => {
      await tx`select id from public.jobs where id = ${ids[1]} for update`;
      await held;
    });
    try {
      await new Promise((r) => setTimeout(r, 100));
      // The first job leaves the queue: the jobs behind it move up, the held one included.
      await setup`set statement_timeout = 3000`;
      const [{ outcome }] = await setup<{ outcome: string }[]>`
        select bff.cancel_job(${ids[0]}::uuid, ${user}::uuid) as outcome`;
      assert.equal(outcome, "cancelled", "the cancel did not wait for the held row");
      const seqs = await setup<{ id: string; event_seq: number }[]>`
        select id, event_seq from public.jobs where id = any (${ids.slice(2)}::uuid[])`;
      assert.ok(seqs.every((r) => r.event_seq > 0), "the free jobs behind it got their new place");
    } finally {
      release();
      await holding;
    }
  } finally {
    await setup.end();
    await holder.end();
    await scratch.drop();
  }
});
