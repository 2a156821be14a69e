// process-jobs runs many light steps at once but bounds the ones that hold a provider's output
// (jobs/worker.ts: MAX_HEAVY = 8): 24 text-to-image jobs whose OpenAI calls each take 1.5 s are
// never more than 8 at the simulator at once, and the isolate holds at most 8 more waiting for
// a slot (16 leases), leaving the rest in the queue for any other invocation. All 24 complete.
import assert from "node:assert/strict";
import { db, it, newUser, simMark, simRequests, waitForJob } from "../_helpers/app.ts";

const SLOW_MS = 1_500;

it("process-jobs: at most 8 OpenAI calls at once, at most 8 more jobs held waiting", async () => {
  const users = await Promise.all(Array.from({ length: 6 }, (_, i) => newUser(`heavy-${i}`)));
  const mark = await simMark("openai");
  const tag = `heavy-${crypto.randomUUID().slice(0, 8)}`;
  const jobs: { user: (typeof users)[number]; id: string }[] = [];
  // Four per user: the image rate limit (4 a minute) and the active cap stay clear.
  await Promise.all(users.flatMap((user) =>
    Array.from({ length: 4 }, async (_, i) => {
      const { data, error, response } = await user.client.functions.invoke(
        "generate-text-to-image",
        {
          body: { task_id: `${tag}-${i}`, prompt: `${tag} [sim:slow=${SLOW_MS}]`, quality: "low" },
          headers: { authorization: `Bearer ${user.token}` },
        },
      );
      assert.equal(error, null, String(error));
      assert.equal(response?.status, 202);
      jobs.push({ user, id: data.job_id });
    })
  ));
  const ids = jobs.map((j) => j.id);
  // Leases held on these jobs, sampled until all of them have ended.
  let mostHeld = 0;
  for (let i = 0; i < 600; i++) {
    const [r] = await db()<{ held: number; open: number }[]>`
      select count(*) filter (where lease_token is not null)::int as held,
             count(*) filter (where state in ('queued', 'running'))::int as open
      from public.jobs where id = any (${ids}::uuid[])`;
    mostHeld = Math.max(mostHeld, r.held);
    if (r.open === 0) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  for (const j of jobs) {
    const s = await waitForJob(j.user, j.id, "openai");
    assert.equal(s.status, "complete", JSON.stringify(s));
  }
  assert.ok(mostHeld <= 16, `at most 8 running and 8 waiting hold a lease, saw ${mostHeld}`);
  assert.ok(
    mostHeld > 8,
    `more jobs held than heavy slots (light steps are not bound by them), saw ${mostHeld}`,
  );

  // Each call is answered SLOW_MS after it arrives: the calls open at an arrival are those that
  // arrived in the SLOW_MS before it.
  const calls = (await simRequests("openai", mark, "&method=POST&path=/v1/images/generations"))
    .filter((r) => String(r.body?.prompt ?? "").includes(tag))
    .map((r) => Date.parse(r.time))
    .sort((a, b) => a - b);
  assert.equal(calls.length, 24, "one billed call per job");
  const open = calls.map((t) => calls.filter((u) => u <= t && u > t - SLOW_MS).length);
  assert.ok(Math.max(...open) <= 8, `at most 8 calls at once, saw ${Math.max(...open)}`);
  assert.ok(Math.max(...open) >= 4, `calls ran side by side, saw ${Math.max(...open)}`);
});
