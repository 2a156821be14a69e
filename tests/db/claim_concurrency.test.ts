// Parallel claimers against bff.claim_jobs on real, separate connections. Runs in a scratch
// database (bootstrap + every migration) so the stack's own process-jobs never claims these jobs.
import postgres from "postgres";
import assert from "node:assert/strict";
import { scratchDatabase } from "../_helpers/scratch_db.ts";

type Sql = ReturnType<typeof postgres>;

function connect(url: string, max = 1): Sql {
  return postgres(url, { max, onnotice: () => {}, idle_timeout: 5 });
}

interface Claimed {
  job_id: string;
  lease_token: string;
  provider: string;
  provider_task_id: string | null;
  submitted_at: Date | null;
}

async function seedUsers(sql: Sql, n: number): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    insert into auth.users (id, email)
    select gen_random_uuid(), 'claim-' || i || '-' || gen_random_uuid() || '@test.local'
    from generate_series(1, ${n}::int) as i
    returning id`;
  return rows.map((r) => r.id);
}

async function enqueue(sql: Sql, userId: string, provider: "openai" | "tripo", key: string) {
  const kind = provider === "openai" ? "image_to_image" : "text_to_model";
  const table = provider === "openai" ? "concept_images" : "models";
  const [r] = await sql<{ outcome: string }[]>`
    select outcome from bff.enqueue_job(
      ${userId}::uuid, ${kind}, ${provider}, ${key}, '{}'::jsonb, ${"hdr:" + key}, 'h', 'b',
      100000, 100000, 1, ${sql.json({ table, task_id: key })})`;
  assert.equal(r.outcome, "created");
}

async function openAll(url: string, n: number): Promise<Sql[]> {
  const conns = Array.from({ length: n }, () => connect(url));
  // Open every connection before the race starts, so the claims really overlap.
  await Promise.all(conns.map((c) => c`select 1`));
  return conns;
}

Deno.test("parallel claimers never share a job and never overshoot the Tripo cap", async (t) => {
  const scratch = await scratchDatabase();
  const setup = connect(scratch.url);
  try {
    await t.step("every job is handed to exactly one claimer", async () => {
      const users = await seedUsers(setup, 12);
      let n = 0;
      for (const u of users) {
        for (let i = 0; i < 15; i++) {
          await enqueue(setup, u, i % 3 === 0 ? "tripo" : "openai", `a${n++}`);
        }
      }
      const total = n;
      const claimers = await openAll(scratch.url, 8);
      const seen: string[] = [];
      try {
        await Promise.all(claimers.map(async (c) => {
          let empties = 0;
          // Keep claiming until the queue looks empty a few times in a row.
          while (empties < 3) {
            const got = await c<Claimed[]>`select * from bff.claim_jobs(3, 300, 100000)`;
            if (got.length === 0) empties++;
            else empties = 0;
            for (const g of got) seen.push(g.job_id);
          }
        }));
      } finally {
        await Promise.all(claimers.map((c) => c.end()));
      }
      assert.equal(new Set(seen).size, seen.length, "a job was handed to two claimers");
      assert.equal(seen.length, total, "every due job was claimed");
      const [{ live }] = await setup<{ live: number }[]>`
        select count(*)::int as live from public.jobs
        where state = 'running' and lease_expires_at > now()`;
      assert.equal(live, total);
      await setup`update public.jobs set state = 'succeeded', finished_at = now(),
        lease_token = null, lease_expires_at = null where state in ('queued', 'running')`;
    });

    await t.step("the Tripo cap holds under parallel claims", async () => {
      const CAP = 5;
      const users = await seedUsers(setup, 6);
      let n = 0;
      for (const u of users) {
        for (let i = 0; i < 10; i++) {
          await enqueue(setup, u, i % 4 === 0 ? "openai" : "tripo", `b${n++}`);
        }
      }
      const claimers = await openAll(scratch.url, 8);
      const allClaims: string[] = [];
      const inFlight = async () => {
        const [{ c }] = await setup<{ c: number }[]>`
          select count(*)::int as c from public.jobs
          where provider = 'tripo' and state in ('queued', 'running')
            and (submitted_at is not null or provider_task_id is not null
                 or lease_expires_at > now())`;
        return c;
      };
      const waitingTripo = async () => {
        const [{ c }] = await setup<{ c: number }[]>`
          select count(*)::int as c from public.jobs
          where provider = 'tripo' and state in ('queued', 'running') and submitted_at is null`;
        return c;
      };
      try {
        let rounds = 0;
        // Each round: all claimers race; new submissions must fill exactly the free slots.
        while ((await waitingTripo()) > 0) {
          rounds++;
          assert(rounds < 100, "the cap let no job through");
          const before = await inFlight();
          const waiting = await waitingTripo();
          let newSubmissions = 0;
          await Promise.all(claimers.map(async (c) => {
            let empties = 0;
            while (empties < 2) {
              const got = await c<Claimed[]>`select * from bff.claim_jobs(2, 300, ${CAP}::int)`;
              if (got.length === 0) empties++;
              else empties = 0;
              for (const g of got) {
                allClaims.push(g.job_id);
                if (g.provider !== "tripo") continue;
                newSubmissions++;
                // Submit as the worker would: intent, then the provider task id.
                const [{ s }] = await c<{ s: string }[]>`
                  select bff.begin_submit(${g.job_id}::uuid, ${g.lease_token}::uuid) as s`;
                assert.equal(s, "ok");
                await c`select bff.record_submission(${g.job_id}::uuid, ${g.lease_token}::uuid,
                  ${"tripo-" + g.job_id})`;
              }
            }
          }));
          const after = await inFlight();
          assert(after <= CAP, `in flight ${after} > cap ${CAP}`);
          assert.equal(before + newSubmissions, after);
          assert(before + newSubmissions <= CAP, `round ${rounds} overshot the cap`);
          assert.equal(
            after,
            Math.min(CAP, before + waiting),
            "free slots left unused while jobs waited",
          );
          // Two Tripo tasks finish, freeing two slots for the next round.
          await setup`
            with done as (
              select id from public.jobs
              where provider = 'tripo' and state = 'running' and provider_task_id is not null
              order by id limit 2
            )
            update public.jobs j set state = 'succeeded', finished_at = now(),
              lease_token = null, lease_expires_at = null
            from done where j.id = done.id`;
        }
        assert(rounds >= 5, "expected several rounds at the cap");
      } finally {
        await Promise.all(claimers.map((c) => c.end()));
      }
      assert.equal(new Set(allClaims).size, allClaims.length, "a job was handed out twice");
    });

    await t.step(
      "a claim short of candidates tops up past rows another claimer holds",
      async () => {
        await setup`update public.jobs set state = 'succeeded', finished_at = now(),
        lease_token = null, lease_expires_at = null where state in ('queued', 'running')`;
        const [u] = await seedUsers(setup, 1);
        for (let i = 0; i < 30; i++) await enqueue(setup, u, "openai", `c${i}`);
        const [holder, other] = await openAll(scratch.url, 2);
        try {
          // The holder's transaction stays open: its ten rows (this user's oldest, which are also
          // every candidate the other claimer's fair pass and due-order list pick) stay locked.
          await holder`begin`;
          const held = await holder<Claimed[]>`select * from bff.claim_jobs(10, 300, 100)`;
          assert.equal(held.length, 10);
          const got = await other<Claimed[]>`select * from bff.claim_jobs(10, 300, 100)`;
          assert.equal(got.length, 10, "the second claimer's slots were left empty");
          const heldIds = new Set(held.map((h) => h.job_id));
          assert.ok(got.every((g) => !heldIds.has(g.job_id)), "a held row was handed out again");
          await holder`commit`;
        } finally {
          await holder.end();
          await other.end();
        }
      },
    );
  } finally {
    await setup.end();
    await scratch.drop();
  }
});
