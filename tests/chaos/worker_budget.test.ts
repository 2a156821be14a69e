// process-jobs' loop runs for a budget (PROCESS_JOBS_BUDGET_MS), then ends. Work that is due when
// it ends must not wait for the next cron tick: a wake-up that arrived while the loop was
// finishing its last steps (it claims nothing more by then), and a poll due a moment after the
// budget, are both picked up by the same isolate. This stack has no cron at all, so a job left
// behind by the loop never ends (the bench runs so, and once timed out on exactly this).
import assert from "node:assert/strict";
import {
  chaosTest,
  generate,
  newUser,
  sleep,
  startChaosStack,
  waitFor,
  waitTerminal,
} from "./_harness.ts";

chaosTest("process-jobs: work due when the loop's budget ends is not left for cron", async () => {
  const cs = await startChaosStack({
    label: "budget",
    cronIntervalMs: 0,
    env: { PROCESS_JOBS_BUDGET_MS: "1500" },
  });
  try {
    const user = await newUser(cs, "budget");
    const state = async (id: string) => {
      const [r] = await cs.sql`select state from public.jobs where id = ${id}`;
      return r.state as string;
    };

    // 1. A slow OpenAI call outlives the budget; a job enqueued meanwhile nudges the loop while
    //    it is only waiting for that call.
    const slow = await generate(cs, user, "text_to_image", {
      task_id: "slow",
      prompt: "a slow lamp [sim:slow=3500]",
      quality: "low",
    });
    await waitFor("the slow job to start", async () => (await state(slow)) === "running", 10_000);
    await sleep(2_000); // past the 1.5 s budget, the slow call still open
    const late = await generate(cs, user, "text_to_image", {
      task_id: "late",
      prompt: "a lamp enqueued at the end of the budget",
      quality: "low",
    });
    const rows = await waitTerminal(cs, [slow, late], 20_000);
    for (const r of rows) assert.equal(r.state, "succeeded", JSON.stringify(r));

    // 2. A Tripo task that runs past the budget: its polls are due after the loop's budget ended.
    const model = await generate(cs, user, "text_to_model", {
      task_id: "model",
      prompt: "a chair that takes a while [sim:slow=4000]",
    });
    const [m] = await waitTerminal(cs, [model], 30_000);
    assert.equal(m.state, "succeeded", JSON.stringify(m));
  } finally {
    await cs.stop();
  }
});
