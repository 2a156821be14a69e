// Our own side failing: Storage uploads that fail or stall (a proxy in front of the gateway that
// the functions use as SUPABASE_URL), and Postgres connections killed mid-run.
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  chaosTest,
  checkFailureReasons,
  checkOutputs,
  generate,
  inputKey,
  installLeaseAudit,
  leaseOverlaps,
  makePng,
  newAttribution,
  newUser,
  openaiEditsPerPrompt,
  sleep,
  startChaosStack,
  startProxy,
  startSims,
  tripoTasksPerJob,
  uploadInput,
  waitTerminal,
} from "./_harness.ts";

chaosTest("storage: failed and stalled output uploads are retried; no partial object", async () => {
  const proxy = startProxy();
  const sims = startSims({ tripo: { glbSize: 600_000 } });
  const cs = await startChaosStack({ label: "storage", sims, proxy });
  try {
    const user = await newUser(cs, "st");
    const attr = newAttribution();
    const upload = (t: string) => `POST /storage/v1/object/generated-assets/${user.id}/${t}/`;
    proxy.rules.push(
      { contains: upload("models/st-fail"), mode: "fail", times: 2 },
      { contains: upload("concepts/st-oa-fail"), mode: "fail", times: 2 },
      { contains: upload("models/st-stall"), mode: "stall", stallMs: 40_000, times: 1 },
      { contains: upload("concepts/st-oa-stall"), mode: "stall", stallMs: 40_000, times: 1 },
    );
    const ids: string[] = [];
    const prompts: string[] = [];
    for (const t of ["st-fail", "st-stall"]) {
      const prompt = `storage fault ${t}`;
      const id = await generate(cs, user, "text_to_model", { task_id: t, prompt });
      attr.prompts.set(prompt, id);
      ids.push(id);
    }
    for (const [i, t] of ["st-oa-fail", "st-oa-stall"].entries()) {
      const input = await uploadInput(cs, user, `${t}.png`, makePng(20, 20, i));
      const prompt = `storage fault ${t}`;
      prompts.push(prompt);
      ids.push(
        await generate(cs, user, "image_to_image", {
          task_id: t,
          prompt,
          input_image_asset_url: input,
        }),
      );
    }
    const rows = await waitTerminal(cs, ids, 150_000);
    await checkFailureReasons(cs, rows);
    await checkOutputs(cs, rows);
    for (const r of rows) assert.equal(r.state, "succeeded", JSON.stringify(r));
    const tasks = await tripoTasksPerJob(sims, attr);
    for (const id of ids.slice(0, 2)) assert.equal(tasks.get(id)?.length, 1);
    const edits = await openaiEditsPerPrompt(sims);
    for (const p of prompts) assert.equal(edits.get(p), 1, `${p}: billed edits`);
    assert.ok((proxy.hits.get("fail") ?? 0) >= 4 && (proxy.hits.get("stall") ?? 0) >= 2);
    console.log(`STORAGE_FAULTS injected ${JSON.stringify(Object.fromEntries(proxy.hits))}`);
  } finally {
    await cs.stop();
    await sims.close();
    await proxy.close();
  }
});

chaosTest("postgres: connections terminated again and again mid-run; every job ends", async () => {
  const sims = startSims({ tripo: { runMs: 800 } });
  const cs = await startChaosStack({ label: "pgdrop", sims, env: { JOB_MAX_ATTEMPTS: "8" } });
  const admin = postgres(Deno.env.get("STACK_ADMIN_DB_URL")!, { max: 1, onnotice: () => {} });
  // The Storage/Auth stand-ins run in this test process on the same database, each statement on
  // its own (localstack/db/standin_pool.ts): a terminated connection is an error answered to its
  // caller, never an uncaught error or an unhandled rejection, which would fail this run.
  try {
    await installLeaseAudit(cs);
    const users = [await newUser(cs, "pg1"), await newUser(cs, "pg2")];
    const attr = newAttribution();
    const ids: string[] = [];
    const prompts: string[] = [];
    let stop = false;
    let killed = 0;
    // Terminate the stand-ins' connections to this stack's database (their pools are named
    // standin-*; unnamed postgres.js ones too), repeatedly, while jobs are enqueued and processed.
    const killer = (async () => {
      for (let i = 0; i < 200 && !stop; i++) {
        const r = await admin`
          select pg_terminate_backend(pid) as ok from pg_stat_activity
          where datname = ${cs.name}
            and application_name in ('postgres.js', 'standin-storage', 'standin-auth')`;
        killed += r.length;
        await sleep(150 + (i % 5) * 60);
      }
    })();
    for (let i = 0; i < 18; i++) {
      const user = users[i % 2];
      try {
        if (i % 3 === 2) {
          const bytes = makePng(24, 24 + i, i);
          const input = await uploadInput(cs, user, `pg-${i}.png`, bytes);
          const prompt = `pg drop openai ${i}`;
          prompts.push(prompt);
          ids.push(
            await generate(cs, user, "image_to_image", {
              task_id: `pg-${i}`,
              prompt,
              input_image_asset_url: input,
            }),
          );
        } else if (i % 3 === 1) {
          const bytes = makePng(24, 30 + i, i);
          const input = await uploadInput(cs, user, `pg-${i}.png`, bytes);
          const id = await generate(cs, user, "image_to_model", {
            task_id: `pg-${i}`,
            input_image_asset_urls: [input],
          });
          attr.inputs.set(await inputKey(bytes), id);
          ids.push(id);
        } else {
          const prompt = `pg drop text ${i}`;
          const id = await generate(cs, user, "text_to_model", { task_id: `pg-${i}`, prompt });
          attr.prompts.set(prompt, id);
          ids.push(id);
        }
      } catch (e) {
        // A POST that hit a dropped connection answers 5xx and enqueued nothing (one
        // transaction); the app would retry it. Not a lost job.
        console.log(`enqueue ${i} refused under DB drops: ${(e as Error).message.slice(0, 120)}`);
      }
      await sleep(300);
    }
    await sleep(8000);
    stop = true;
    await killer;
    const rows = await waitTerminal(cs, ids, 150_000);
    await checkFailureReasons(cs, rows);
    await checkOutputs(cs, rows);
    const tasks = await tripoTasksPerJob(sims, attr);
    for (const [job, t] of tasks) assert.ok(t.length <= 1, `job ${job}: ${t.length} Tripo tasks`);
    const edits = await openaiEditsPerPrompt(sims);
    for (const p of prompts) assert.ok((edits.get(p) ?? 0) <= 1, `${p}: billed twice`);
    assert.equal(await leaseOverlaps(cs), 0);
    const outcome: Record<string, number> = {};
    for (const r of rows) {
      const k = r.state === "succeeded" ? "succeeded" : `${r.state}/${r.error_code}`;
      outcome[k] = (outcome[k] ?? 0) + 1;
    }
    assert.ok(ids.length >= 12, `only ${ids.length} jobs were enqueued`);
    assert.ok(killed > 0, "no connection was terminated");
    console.log(
      `PG_DROPS terminated=${killed} jobs=${ids.length} outcomes=${JSON.stringify(outcome)}`,
    );
  } finally {
    await admin.end({ timeout: 2 });
    await cs.stop();
    await sims.close();
  }
});
