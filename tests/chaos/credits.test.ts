// Credits under concurrency and on every way a job can end before a paid call, each on a stack of
// its own: a balance for exactly k jobs and k + 10 parallel POSTs give k jobs and 402s for the
// rest, never below zero; content-policy refusal at create, 429 exhaustion and a cancel before
// submission all release the reservation; the invariants hold at the end of each run.
import assert from "node:assert/strict";
import {
  callFn,
  chaosTest,
  checkCredits,
  generate,
  newUser,
  priceAndFund,
  sleep,
  startChaosStack,
  startSims,
  waitFor,
  waitTerminal,
} from "./_harness.ts";

chaosTest(
  "credits: k + 10 parallel POSTs on a balance for k jobs: exactly k accepted",
  async () => {
    const sims = startSims();
    const cs = await startChaosStack({ label: "creditsk", sims });
    try {
      const user = await newUser(cs, "ck");
      const k = 7;
      await priceAndFund(cs, { text_to_model: 10 }, [user.id], k * 10);
      const results = await Promise.all(
        Array.from({ length: k + 10 }, (_, i) =>
          callFn(cs, user, "generate-text-to-model", {
            body: { task_id: `ck-${i}`, prompt: `parallel ${i}` },
          })),
      );
      const statuses = results.map((r) => r.status).sort();
      assert.equal(statuses.filter((s) => s === 202).length, k, statuses.join(","));
      assert.equal(statuses.filter((s) => s === 402).length, 10, statuses.join(","));
      for (const r of results.filter((r) => r.status === 402)) {
        assert.equal(r.body.error.details.price, 10);
        assert.ok(r.body.error.details.balance < 10);
      }
      const [a] = await cs
        .sql`select granted - charged - reserved as available from public.credit_accounts
      where user_id = ${user.id}`;
      assert.equal(Number(a.available), 0, "everything held, nothing below zero");
      const ids = results.filter((r) => r.status === 202).map((r) => r.body.job_id);
      await waitTerminal(cs, ids, 60_000);
      assert.equal(await checkCredits(cs), k);
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);

chaosTest(
  "credits: released on every failure before a paid call (policy at create, 429 exhausted, cancel)",
  async () => {
    // The Tripo cap of 1 keeps the third job waiting behind a slow one, so it can be cancelled
    // before its submission; two attempts make a 429 that never ends exhaust quickly.
    const sims = startSims({ tripo: { runMs: 600 } });
    const cs = await startChaosStack({
      label: "creditsrel",
      sims,
      env: { TRIPO_MAX_CONCURRENCY: "1", JOB_MAX_ATTEMPTS: "2" },
    });
    try {
      const user = await newUser(cs, "cr");
      await priceAndFund(cs, { text_to_model: 10 }, [user.id], 100);
      const policy = await generate(cs, user, "text_to_model", {
        task_id: "p",
        prompt: "refused [sim:banned]",
      });
      await waitTerminal(cs, [policy], 30_000);
      const capped = await generate(cs, user, "text_to_model", {
        task_id: "c",
        prompt: "always busy [sim:cap]",
      });
      await waitTerminal(cs, [capped], 60_000);
      const slow = await generate(cs, user, "text_to_model", {
        task_id: "s",
        prompt: "slow [sim:slow=8000]",
      });
      await waitFor("the slow job submitted", async () => {
        const [r] = await cs.sql`select provider_task_id from public.jobs where id = ${slow}`;
        return r.provider_task_id !== null;
      }, 20_000);
      const waiting = await generate(cs, user, "text_to_model", {
        task_id: "w",
        prompt: "waits behind it",
      });
      await sleep(500);
      const [w] = await cs.sql`select submitted_at from public.jobs where id = ${waiting}`;
      assert.equal(w.submitted_at, null, "the waiting job was not submitted");
      const c = await callFn(cs, user, `task-status/${waiting}`, { method: "DELETE" });
      assert.equal(c.status, 200);
      const rows = await waitTerminal(cs, [policy, capped, slow, waiting], 60_000);
      const by = Object.fromEntries(rows.map((r) => [r.id, r]));
      assert.equal(by[policy].error_code, "content_policy");
      assert.equal(by[capped].error_code, "rate_limited");
      assert.equal(by[waiting].state, "cancelled");
      const ends = await cs.sql<{ job_id: string; entry: string }[]>`
      select job_id, entry from public.credit_ledger where entry in ('charge', 'release')`;
      const end = Object.fromEntries(ends.map((e) => [e.job_id, e.entry]));
      assert.deepEqual([end[policy], end[capped], end[waiting], end[slow]], [
        "release",
        "release",
        "release",
        "charge",
      ]);
      const [a] = await cs
        .sql`select granted - charged as balance, reserved from public.credit_accounts
      where user_id = ${user.id}`;
      assert.deepEqual(
        [Number(a.balance), Number(a.reserved)],
        [90, 0],
        "only the delivered model was paid",
      );
      await checkCredits(cs);
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);
