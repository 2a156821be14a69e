// The platform's own faults (issue: run on the Supabase platform as it is today): the transaction
// pooler killed and restarted mid-run, its server connections reset under load, and an isolate
// shut down while it holds leases or while it waits for the next poll. Every job ends, nothing
// is billed twice, no function process dies of an uncaught error, and the work of a retired
// isolate is taken over at once.
import assert from "node:assert/strict";
import {
  type ChaosStack,
  chaosTest,
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
  openaiEditsPerPrompt,
  sleep,
  startChaosStack,
  startSims,
  tripoTasksPerJob,
  uploadInput,
  type User,
  waitFor,
  waitTerminal,
} from "./_harness.ts";

/** Enqueues `n` jobs of three kinds, recording what each paid call would be traced by. */
async function enqueueMix(cs: ChaosStack, user: User, n: number, label: string) {
  const attr = newAttribution();
  const ids: string[] = [];
  const prompts: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      const prompt = `${label} text ${i}`;
      const id = await generate(cs, user, "text_to_model", { task_id: `${label}-${i}`, prompt });
      attr.prompts.set(prompt, id);
      ids.push(id);
    } else if (i % 3 === 1) {
      const bytes = makePng(24, 24 + i, i);
      const input = await uploadInput(cs, user, `${label}-${i}.png`, bytes);
      const id = await generate(cs, user, "image_to_model", {
        task_id: `${label}-${i}`,
        input_image_asset_urls: [input],
      });
      attr.inputs.set(await inputKey(bytes), id);
      ids.push(id);
    } else {
      const input = await uploadInput(cs, user, `${label}-${i}.png`, makePng(24, 40 + i, i));
      const prompt = `${label} image ${i}`;
      prompts.push(prompt);
      ids.push(
        await generate(cs, user, "image_to_image", {
          task_id: `${label}-${i}`,
          prompt,
          input_image_asset_url: input,
        }),
      );
    }
  }
  return { ids, attr, prompts };
}

/** Nothing billed twice, every output whole, no two holders of a lease at once. */
async function checkRun(
  cs: ChaosStack,
  run: Awaited<ReturnType<typeof enqueueMix>>,
  timeoutMs: number,
) {
  const rows = await waitTerminal(cs, run.ids, timeoutMs, 2_000);
  await checkFailureReasons(cs, rows);
  await checkOutputs(cs, rows);
  const tasks = await tripoTasksPerJob(cs.sims, run.attr);
  for (const [job, t] of tasks) assert.ok(t.length <= 1, `job ${job}: ${t.length} Tripo tasks`);
  const edits = await openaiEditsPerPrompt(cs.sims);
  for (const p of run.prompts) assert.ok((edits.get(p) ?? 0) <= 1, `${p}: billed twice`);
  assert.equal(await leaseOverlaps(cs), 0, "two holders of one lease");
  return rows;
}

/** No function process died: each runner still runs the isolates it started with. */
function assertNoCrash(cs: ChaosStack, before: Map<string, number>) {
  for (const [name, runner] of cs.stack.functions) {
    assert.equal(runner.generation, before.get(name), `${name} was restarted (it died)`);
  }
}

chaosTest(
  "pooler: killed and restarted three times mid-run; every job ends, none billed twice",
  async () => {
    const sims = startSims({ tripo: { runMs: 800 } });
    const cs = await startChaosStack({ label: "poolerkill", sims });
    try {
      await installLeaseAudit(cs);
      const user = await newUser(cs, "pk");
      const generations = new Map([...cs.stack.functions].map(([n, r]) => [n, r.generation]));
      const run = await enqueueMix(cs, user, 15, "pk");
      for (let i = 0; i < 3; i++) {
        await sleep(400 + i * 300);
        await cs.stack.pooler.kill();
        await sleep(700);
        await cs.stack.pooler.start();
      }
      const rows = await checkRun(cs, run, 120_000);
      assertNoCrash(cs, generations);
      const outcome: Record<string, number> = {};
      for (const r of rows) {
        const k = r.state === "succeeded" ? "succeeded" : `${r.state}/${r.error_code}`;
        outcome[k] = (outcome[k] ?? 0) + 1;
      }
      // The outages are short against the retry budget: a paid call that may have landed when
      // the pooler died is the only acceptable failure (never replayed).
      for (const r of rows) {
        if (r.state !== "succeeded") {
          assert.equal(
            r.error_code,
            "submission_unknown",
            JSON.stringify(r),
          );
        }
      }
      console.log(`POOLER_KILL restarts=3 jobs=${rows.length} outcomes=${JSON.stringify(outcome)}`);
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);

chaosTest("pooler: server connections reset under load; only requests on them fail", async () => {
  const sims = startSims({ tripo: { runMs: 600 } });
  const cs = await startChaosStack({ label: "pgreset", sims });
  const failures: string[] = [];
  let requests = 0;
  let cut = 0;
  try {
    await installLeaseAudit(cs);
    const users = [await newUser(cs, "pr1"), await newUser(cs, "pr2")];
    const generations = new Map([...cs.stack.functions].map(([n, r]) => [n, r.generation]));
    let stop = false;
    // Reset the pooler's server connections (the functions' only path to the database) again
    // and again; count the ones caught in the middle of a statement.
    const killer = (async () => {
      for (let i = 0; i < 120 && !stop; i++) {
        const r = await cs.sql`
          select state, pg_terminate_backend(pid) as ok from pg_stat_activity
          where datname = ${cs.name} and application_name = 'makeit3d-bff'`;
        cut += r.filter((x) => x.state !== "idle").length;
        await sleep(80 + (i % 4) * 40);
      }
    })();
    const run = { ids: [] as string[], attr: newAttribution(), prompts: [] as string[] };
    for (let i = 0; i < 24; i++) {
      const user = users[i % 2];
      const prompt = `reset text ${i}`;
      const r = await fetch(`${cs.gatewayUrl}/functions/v1/generate-text-to-model`, {
        method: "POST",
        headers: {
          apikey: cs.stack.keys.publishableKey,
          authorization: `Bearer ${user.token}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ task_id: `pr-${i}`, prompt }),
      });
      requests++;
      const body = await r.json().catch(() => null);
      if (r.status === 202) {
        run.ids.push(body.job_id);
        run.attr.prompts.set(prompt, body.job_id);
      } else {
        failures.push(`${r.status} ${JSON.stringify(body)}`);
      }
      await sleep(60);
    }
    await sleep(3000);
    stop = true;
    await killer;
    const lastCut = performance.now();
    await checkRun(cs, run, 120_000);
    // Reported, not asserted: how soon after the last reset every job ended (a step whose
    // outcome write was cut hands its lease back rather than holding it JOB_LEASE_SECONDS).
    const settledMs = Math.round(performance.now() - lastCut);
    assertNoCrash(cs, generations);
    // A request fails only if a statement of its own was cut: never more failures than cuts,
    // and a failure is a clean 5xx from the error table, never the platform's WORKER_ERROR.
    assert.ok(failures.length <= cut, `${failures.length} failures for ${cut} cut statements`);
    for (const f of failures) assert.match(f, /^5\d\d \{"error":\{"code":"internal_error"/, f);
    assert.ok(cut > 0, "no connection was caught mid-statement: the test exercised nothing");
    console.log(
      `PG_RESETS requests=${requests} failed=${failures.length} cut_mid_statement=${cut} ` +
        `jobs=${run.ids.length} all_ended_ms_after_last_reset=${settledMs}`,
    );
  } finally {
    await cs.stop();
    await sims.close();
  }
});

chaosTest(
  "beforeunload: a process-jobs isolate shut down mid-step hands its leases back at once",
  async () => {
    // Polls that take 20 s hold the lease; the lease itself runs 15 s (FAST_ENV).
    const sims = startSims({ tripo: { runMs: 1_500 } });
    const cs = await startChaosStack({ label: "unload", sims, cronIntervalMs: 0 });
    try {
      const user = await newUser(cs, "ul");
      const ids = [
        await generate(cs, user, "text_to_model", { task_id: "ul-1", prompt: "unload one" }),
        await generate(cs, user, "text_to_model", { task_id: "ul-2", prompt: "unload two" }),
      ];
      // Submitted, then every poll of Tripo hangs for 20 s: the steps hold their leases.
      await waitFor("both submitted", async () => {
        const r = await cs.sql`select count(*)::int as n from public.jobs
        where id = any(${ids}::uuid[]) and provider_task_id is not null`;
        return r[0].n === 2;
      }, 20_000);
      sims.injector = (sim, method) =>
        sim === "tripo" && method === "GET" ? { kind: "delay", ms: 20_000 } : null;
      await cs.sql`update public.jobs set run_at = now() where id = any(${ids}::uuid[])`;
      await kick(cs);
      await waitFor("both leased by the polling step", async () => {
        const r = await cs.sql`select count(*)::int as n from public.jobs
        where id = any(${ids}::uuid[]) and lease_token is not null`;
        return r[0].n === 2;
      }, 10_000);
      const held = await cs.sql<{ id: string; lease_token: string }[]>`
      select id, lease_token from public.jobs where id = any(${ids}::uuid[])`;
      // Another invocation is running meanwhile (idle: both jobs are leased elsewhere).
      const [other] = await extraWorkers(cs, 1);
      await kickProcess(cs, other, false);
      // The platform shuts the isolate down (SIGTERM → beforeunload), mid-step.
      const runner = cs.stack.functions.get("process-jobs")!;
      const stopped = Date.now();
      const exited = runner.kill("SIGTERM");
      assert.ok(exited, "a process-jobs isolate was running");
      sims.injector = null;
      // Handed back while the isolate shuts down: unleased and due now, not in 15 s.
      const tokens = held.map((h) => h.lease_token);
      await waitFor("the leases handed back", async () => {
        const r = await cs.sql`select count(*)::int as n from public.jobs
          where id = any(${ids}::uuid[]) and lease_token::text = any(${tokens})`;
        return r[0].n === 0;
      }, 5_000);
      const released = Date.now();
      // So the invocation that is running takes them on its next look.
      await waitFor("another invocation holds them", async () => {
        const r = await cs.sql`select count(*)::int as n from public.jobs
          where id = any(${ids}::uuid[])
            and (state <> 'running'
                 or (lease_token is not null and lease_token::text <> all(${tokens})))`;
        return r[0].n === 2;
      }, 10_000);
      const takeover = Date.now() - released;
      assert.ok(
        Date.now() - stopped < 15_000,
        `taken over ${Date.now() - stopped} ms after the shutdown: the lease ran out instead`,
      );
      await exited;
      const rows = await waitTerminal(cs, ids, 60_000, 1_000);
      for (const r of rows) assert.equal(r.state, "succeeded", JSON.stringify(r));
      console.log(
        `UNLOAD handed back 2 leases ${released - stopped} ms after the shutdown; another ` +
          `invocation took them ${takeover} ms later`,
      );
      await other.stop();
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);

chaosTest(
  "beforeunload between two polls: a retired process-jobs isolate starts its successor at once",
  async () => {
    // Models that run 5 s: polled several times, holding no lease between two polls.
    const sims = startSims({ tripo: { runMs: 5_000 } });
    // No cron: only the shut-down isolate's own wake-up can start the next invocation.
    const cs = await startChaosStack({ label: "unidle", sims, cronIntervalMs: 0 });
    try {
      const user = await newUser(cs, "ui");
      const ids = [
        await generate(cs, user, "text_to_model", { task_id: "ui-1", prompt: "idle one" }),
        await generate(cs, user, "text_to_model", { task_id: "ui-2", prompt: "idle two" }),
      ];
      await waitFor("both submitted and waiting for their next poll", async () => {
        const r = await cs.sql`select count(*)::int as n from public.jobs
          where id = any(${ids}::uuid[]) and provider_task_id is not null
            and state = 'running' and lease_token is null and run_at > now()`;
        return r[0].n === 2;
      }, 20_000);
      // The platform retires the isolate (SIGTERM → beforeunload) while its loop waits.
      const runner = cs.stack.functions.get("process-jobs")!;
      const generation = runner.generation;
      const stopped = Date.now();
      const exited = runner.kill("SIGTERM");
      assert.ok(exited, "a process-jobs isolate was running");
      // Its wake-up starts a fresh isolate while it shuts down.
      await waitFor("a successor isolate", () => runner.generation > generation, 5_000);
      const successor = Date.now() - stopped;
      await exited;
      // Without a successor nothing would poll again (no cron, no new POST): both would stay
      // running for good.
      const rows = await waitTerminal(cs, ids, 30_000);
      for (const r of rows) assert.equal(r.state, "succeeded", JSON.stringify(r));
      console.log(
        `UNLOAD_IDLE successor started ${successor} ms after the shutdown; both models ` +
          `finished ${Date.now() - stopped} ms after the shutdown`,
      );
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);
