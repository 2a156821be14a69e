// A job past its deadline ends failed with a clear reason (its row too); a cancelled job stops
// cleanly (no later paid submission, task-status says failed/cancelled); operators can see the
// queue and the failures.
import assert from "node:assert/strict";
import {
  callFn,
  chaosTest,
  checkFailureReasons,
  generate,
  kick,
  newAttribution,
  newUser,
  sleep,
  startChaosStack,
  startSims,
  tripoTasksPerJob,
  waitFor,
  waitTerminal,
} from "./_harness.ts";

chaosTest("deadline, cancellation and the operator views", async () => {
  const sims = startSims();
  const cs = await startChaosStack({
    label: "deadline",
    sims,
    env: { JOB_DEADLINE_SECONDS: "8" },
  });
  try {
    const user = await newUser(cs, "dl");
    const other = await newUser(cs, "dl-other");

    // 1. A Tripo task that never finishes: failed at the deadline, with a clear reason.
    const stuck = await generate(cs, user, "text_to_model", {
      task_id: "stuck",
      prompt: "a statue that never finishes [sim:stuck]",
    });
    // 2. A job cancelled before its submission got through (Tripo answering 429 meanwhile).
    sims.tripo.configure({
      faults: [{ match: "POST /v2/openapi/task", status: 429, retryAfter: 2, times: -1 }],
    });
    const attr = newAttribution();
    const early = await generate(cs, user, "text_to_model", {
      task_id: "early",
      prompt: "cancel me early",
    });
    attr.prompts.set("cancel me early", early);
    await waitFor("a refused submission", async () => {
      const [r] = await cs.sql`select attempts from public.jobs where id = ${early}`;
      return r.attempts >= 1;
    }, 20_000);
    assert.equal(
      (await callFn(cs, other, `task-status/${early}`, { method: "DELETE" })).status,
      404,
    );
    const c1 = await callFn(cs, user, `task-status/${early}`, { method: "DELETE" });
    assert.equal(c1.status, 200, JSON.stringify(c1.body));
    sims.tripo.configure({ faults: [] });

    // 3. A job cancelled while Tripo runs it (POST …/cancel).
    const late = await generate(cs, user, "text_to_model", {
      task_id: "late",
      prompt: "cancel me while running [sim:slow=3000]",
    });
    attr.prompts.set("cancel me while running [sim:slow=3000]", late);
    await waitFor("the submission", async () => {
      const [r] = await cs.sql`select provider_task_id from public.jobs where id = ${late}`;
      return r.provider_task_id !== null;
    }, 20_000);
    const c2 = await callFn(cs, user, `task-status/${late}/cancel`, { body: {} });
    assert.equal(c2.status, 200, JSON.stringify(c2.body));
    assert.equal((await callFn(cs, user, `task-status/${late}`, { method: "DELETE" })).status, 409);

    const rows = await waitTerminal(cs, [stuck, early, late], 60_000);
    // Let the workers run on past the slow task's end: a cancelled job must stay cancelled.
    for (let i = 0; i < 8; i++) {
      await kick(cs);
      await sleep(500);
    }
    const final = await cs.sql`select id, state, error_code from public.jobs
      where id = any(${[stuck, early, late]}::uuid[])`;
    const by = new Map(final.map((r) => [r.id, r]));
    await checkFailureReasons(cs, rows);
    assert.equal(by.get(stuck)!.state, "failed");
    assert.equal(by.get(stuck)!.error_code, "deadline_exceeded");
    const [m] = await cs.sql`select status, error from public.models where job_id = ${stuck}`;
    assert.equal(m.status, "failed");
    assert.match(m.error, /did not finish in time/);
    for (const id of [early, late]) {
      assert.equal(by.get(id)!.state, "cancelled");
      const s = await callFn(cs, user, `task-status/${id}?service=tripoai`);
      assert.equal(s.status, 200);
      assert.equal(s.body.status, "failed");
      assert.match(s.body.error, /cancel/i);
    }
    const st = await callFn(cs, user, `task-status/${stuck}?service=tripoai`);
    assert.equal(st.body.status, "failed");
    assert.match(st.body.error, /did not finish in time/);
    const tasks = await tripoTasksPerJob(sims, attr, false);
    assert.equal(tasks.get(early)?.length ?? 0, 0, "a cancelled job was submitted later");
    assert.equal(tasks.get(late)?.length, 1);
    const objects = await cs.sql`select name from storage.objects
      where bucket_id = 'generated-assets' and name like ${`${user.id}/models/late/%`}`;
    assert.equal(objects.length, 0, "a cancelled job stored a result");

    // Operator views: exist, are readable by service_role only, and count what happened.
    const overview = await cs.sql`select * from bff.queue_overview`;
    const cancelled = overview.find((r) => r.state === "cancelled" && r.provider === "tripo");
    assert.equal(Number(cancelled?.jobs), 2);
    const failures = await cs.sql`select * from bff.failures_by_code`;
    const codes = Object.fromEntries(failures.map((r) => [r.error_code, Number(r.jobs)]));
    assert.equal(codes.deadline_exceeded, 1);
    assert.equal(codes.cancelled, 2);
    await cs.sql.begin(async (tx) => {
      await tx`set local role service_role`;
      await tx`select * from bff.queue_overview`;
      await tx`select * from bff.failures_by_code`;
    });
    await assert.rejects(
      cs.sql.begin(async (tx) => {
        await tx`set local role authenticated`;
        await tx`select * from bff.queue_overview`;
      }),
      /permission denied/,
    );
    console.log(`OPS queue_overview=${JSON.stringify(overview)} failures=${JSON.stringify(codes)}`);
  } finally {
    await cs.stop();
    await sims.close();
  }
});
