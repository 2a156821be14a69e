// Several process-jobs at once never process one job twice at the same time and keep Tripo
// under TRIPO_MAX_CONCURRENCY; a whole-stack kill and restart on the same database loses
// nothing and pays for nothing twice.
import assert from "node:assert/strict";
import {
  chaosTest,
  checkCredits,
  checkFailureReasons,
  checkOutputs,
  extraWorkers,
  generate,
  inputKey,
  installLeaseAudit,
  kick,
  kickProcess,
  leaseOverlaps,
  makePng,
  newAttribution,
  newUser,
  priceAndFund,
  sleep,
  startChaosStack,
  startSims,
  tripoPosts,
  tripoTasksPerJob,
  uploadInput,
  waitFor,
  waitTerminal,
} from "./_harness.ts";

chaosTest(
  "concurrency: 3 workers + parallel POSTs, 16 Tripo jobs, cap 4 never exceeded",
  async () => {
    const CAP = 4;
    // The simulator's own cap equals ours: one task too many would be answered 429/2000.
    const sims = startSims({ tripo: { cap: CAP, runMs: 1500, queueMs: 200 } });
    const cs = await startChaosStack({
      label: "concurrency",
      sims,
      env: { TRIPO_MAX_CONCURRENCY: String(CAP) },
    });
    const workers = await extraWorkers(cs, 2);
    try {
      await installLeaseAudit(cs);
      const user = await newUser(cs, "cc");
      const attr = newAttribution();
      let maxActive = 0;
      let sampling = true;
      const sampler = (async () => {
        for (let i = 0; i < 3000 && sampling; i++) {
          const r = await (await sims.tripo.fetch(new Request(`${sims.tripoUrl}/__sim/tasks`)))
            .json();
          const active = (r.tasks as { status: string }[]).filter((t) =>
            ["queued", "running", "unknown"].includes(t.status)
          ).length;
          maxActive = Math.max(maxActive, active);
          await sleep(50);
        }
      })();
      const ids = await Promise.all(Array.from({ length: 16 }, async (_, i) => {
        const prompt = `concurrency job ${i}`;
        const id = await generate(cs, user, "text_to_model", { task_id: `cc-${i}`, prompt });
        attr.prompts.set(prompt, id);
        return id;
      }));
      // Hammer: parallel invocations on the gateway's worker and on two extra processes.
      const hammer = (async () => {
        for (let round = 0; round < 40; round++) {
          const rows = await cs.sql`
          select count(*)::int as n from public.jobs where state in ('queued','running')`;
          if (rows[0].n === 0) break;
          await Promise.all([
            ...Array.from({ length: 4 }, () => kick(cs)),
            ...workers.map((w) => kickProcess(cs, w, false)),
            ...workers.map((w) => kickProcess(cs, w, false)),
          ]);
          await sleep(300);
        }
      })();
      const rows = await waitTerminal(cs, ids, 120_000);
      await hammer;
      sampling = false;
      await sampler;
      await checkFailureReasons(cs, rows);
      await checkOutputs(cs, rows);
      for (const r of rows) assert.equal(r.state, "succeeded", JSON.stringify(r));
      const tasks = await tripoTasksPerJob(sims, attr);
      for (const id of ids) assert.equal(tasks.get(id)?.length, 1, `job ${id}: paid tasks`);
      const refused = (await tripoPosts(sims)).filter((p) => p.status === 429);
      assert.equal(refused.length, 0, "Tripo had to answer 429/2000 (cap exceeded)");
      assert.ok(maxActive <= CAP, `Tripo saw ${maxActive} active tasks (cap ${CAP})`);
      assert.ok(maxActive >= 2, "the test never ran tasks in parallel");
      assert.equal(await leaseOverlaps(cs), 0, "a job was held by two invocations at once");
      console.log(`CONCURRENCY jobs=16 cap=${CAP} max_active_at_tripo=${maxActive} posts_429=0`);
    } finally {
      for (const w of workers) await w.stop();
      await cs.stop();
      await sims.close();
    }
  },
);

chaosTest(
  "whole stack SIGKILLed with jobs in every state, restarted on the same database",
  async () => {
    const sims = startSims({ tripo: { runMs: 2500, queueMs: 300, glbSize: 3_000_000 } });
    const cs = await startChaosStack({
      label: "restart",
      sims,
      env: { TRIPO_MAX_CONCURRENCY: "4" },
    });
    try {
      const user = await newUser(cs, "rs");
      await priceAndFund(
        cs,
        {
          image_to_image: 3,
          text_to_model: 5,
          image_to_model: 6,
          sketch_to_model: 6,
          refine_model: 4,
        },
        [user.id],
        10_000,
      );
      const attr = newAttribution();
      const ids: string[] = [];
      // Slow downloads so some jobs are mid-transfer at the kill.
      sims.injector = (sim, method, path) =>
        sim === "tripo" && method === "GET" && path.startsWith("/files/")
          ? { kind: "delay", ms: 1500 }
          : null;
      for (let i = 0; i < 12; i++) {
        if (i % 4 === 3) {
          const bytes = makePng(30, 30 + i, i);
          const input = await uploadInput(cs, user, `rs-${i}.png`, bytes);
          const id = await generate(cs, user, "image_to_model", {
            task_id: `rs-${i}`,
            input_image_asset_urls: [input],
          });
          attr.inputs.set(await inputKey(bytes), id);
          ids.push(id);
        } else {
          const prompt = `restart job ${i}`;
          const id = await generate(cs, user, "text_to_model", { task_id: `rs-${i}`, prompt });
          attr.prompts.set(prompt, id);
          ids.push(id);
        }
      }
      // Kill when some jobs are polling at Tripo and others still queued behind the cap.
      let snapshot: Record<string, number> = {};
      await waitFor("a mix of job states", async () => {
        const [s] = await cs.sql`
        select count(*) filter (where state = 'queued')::int as queued,
               count(*) filter (where state = 'running' and provider_task_id is not null)::int as polling,
               count(*) filter (where state = 'running' and provider_task_id is not null
                                and lease_token is not null)::int as leased_after_submit,
               count(*) filter (where state = 'succeeded')::int as done
        from public.jobs`;
        snapshot = s;
        return s.queued > 0 && s.polling > 0 && s.leased_after_submit > 0;
      }, 60_000);
      for (const f of cs.stack.functions.values()) await f.kill("SIGKILL");
      console.log(`RESTART killed with ${JSON.stringify(snapshot)}`);
      await cs.restart();
      sims.injector = null;
      // Real recovery: the dead workers' leases expire on their own (JOB_LEASE_SECONDS), no time
      // travel.
      const rows = await waitTerminal(cs, ids, 180_000);
      await checkFailureReasons(cs, rows);
      await checkOutputs(cs, rows);
      assert.equal(await checkCredits(cs), ids.length, "every job held credits and settled once");
      const tasks = await tripoTasksPerJob(sims, attr);
      for (const id of ids) assert.ok((tasks.get(id)?.length ?? 0) <= 1, `job ${id}: paid twice`);
      const outcome: Record<string, number> = {};
      for (const r of rows) {
        const k = r.state === "succeeded" ? "succeeded" : `${r.state}/${r.error_code}`;
        outcome[k] = (outcome[k] ?? 0) + 1;
        if (r.state !== "succeeded") {
          assert.equal(
            r.error_code,
            "submission_unknown",
            `unexpected failure ${JSON.stringify(r)}`,
          );
        }
      }
      console.log(`RESTART outcomes ${JSON.stringify(outcome)}`);
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);
