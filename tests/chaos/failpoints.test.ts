// process-jobs SIGKILLed at each failpoint: the job still ends (complete, or failed
// `submission_unknown` where Tripo may hold a task whose id was never stored), Tripo saw at most
// one POST /task for it, and no half-written object is ever readable.
import assert from "node:assert/strict";
import {
  chaosTest,
  checkCredits,
  checkFailureReasons,
  checkOutputs,
  download,
  expireLeases,
  generate,
  installLeaseAudit,
  leaseOverlaps,
  makePng,
  newUser,
  openaiEditsPerPrompt,
  priceAndFund,
  startChaosStack,
  startSims,
  tripoPosts,
  uploadInput,
  waitFor,
  waitTerminal,
} from "./_harness.ts";

const FAILPOINTS = [
  "after_claim",
  "after_submit_sent",
  "mid_download",
  "mid_upload",
  "before_complete",
];

chaosTest(
  "SIGKILL at every failpoint: every job ends, ≤1 paid submission, no partial object",
  async () => {
    const sims = startSims({ tripo: { glbSize: 1_500_000 } });
    // No cron: the test decides when process-jobs runs again after each crash.
    const cs = await startChaosStack({ label: "failpoints", sims, cronIntervalMs: 0 });
    try {
      await installLeaseAudit(cs);
      const user = await newUser(cs, "fp");
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
      const pj = cs.stack.functions.get("process-jobs")!;
      const summary: string[] = [];

      for (const fp of FAILPOINTS) {
        const cases: { kind: "text_to_model" | "image_to_image"; id: string; prompt: string }[] =
          [];
        const gen = pj.generation;
        await Deno.writeTextFile(`${cs.failDir}/${fp}`, "");
        const prompt = `a crash test ${fp} ${crypto.randomUUID().slice(0, 8)}`;
        cases.push({
          kind: "text_to_model",
          prompt,
          id: await generate(cs, user, "text_to_model", { task_id: `fp-${fp}`, prompt }),
        });
        // The enqueue nudges process-jobs; it must die at the failpoint (file consumed, process gone).
        await waitFor(`failpoint ${fp} to fire`, async () => {
          const armed = await Deno.stat(`${cs.failDir}/${fp}`).then(() => true, () => false);
          return !armed && !pj.running;
        }, 60_000);
        assert.equal(pj.generation, gen, "process-jobs was not restarted behind the test's back");

        if (fp === "mid_upload" || fp === "mid_download") {
          // The half-streamed object must not exist (Storage commits only a complete upload).
          const d = await download(
            cs,
            "generated-assets",
            `${user.id}/models/fp-${fp}/${cases[0].id}.glb`,
          );
          assert.notEqual(d.status, 200, `a partial object became readable after a kill at ${fp}`);
        }
        if (fp === "after_claim") {
          // An OpenAI job crashed right after its claim too.
          await Deno.writeTextFile(`${cs.failDir}/${fp}`, "");
          const input = await uploadInput(cs, user, `fp-${fp}.png`, makePng(32, 32, 5));
          const p = `openai crash ${crypto.randomUUID().slice(0, 8)}`;
          cases.push({
            kind: "image_to_image",
            prompt: p,
            id: await generate(cs, user, "image_to_image", {
              task_id: `fp-oa-${fp}`,
              prompt: p,
              input_image_asset_url: input,
            }),
          });
          await waitFor("openai failpoint", async () => {
            const armed = await Deno.stat(`${cs.failDir}/${fp}`).then(() => true, () => false);
            return !armed && !pj.running;
          }, 60_000);
        }

        // The dead worker's leases would expire after 60 s; let them expire now.
        await expireLeases(cs);
        const rows = await waitTerminal(cs, cases.map((c) => c.id), 60_000, 1000);
        await checkFailureReasons(cs, rows);
        await checkOutputs(cs, rows);
        await checkCredits(cs);
        const posts = await tripoPosts(sims);
        const tripoCase = cases[0];
        const row = rows.find((r) => r.id === tripoCase.id)!;
        const mine = posts.filter((p) => p.body?.prompt === tripoCase.prompt);
        assert.equal(mine.length, 1, `${fp}: Tripo saw ${mine.length} POST /task for one job`);
        if (fp === "after_submit_sent") {
          // The task landed but its id died with the worker: never resubmitted, failed clearly.
          assert.equal(row.state, "failed");
          assert.equal(row.error_code, "submission_unknown");
        } else {
          assert.equal(row.state, "succeeded", `${fp}: ${JSON.stringify(row)}`);
        }
        for (const c of cases.slice(1)) {
          const r = rows.find((x) => x.id === c.id)!;
          assert.equal(r.state, "succeeded", `openai after ${fp}: ${JSON.stringify(r)}`);
          const edits = (await openaiEditsPerPrompt(sims)).get(c.prompt) ?? 0;
          assert.equal(edits, 1, `openai after ${fp}: ${edits} billed edits for one job`);
        }
        summary.push(`${fp}=${row.state}${row.error_code ? `/${row.error_code}` : ""}`);
      }
      assert.equal(await leaseOverlaps(cs), 0, "a job was claimed while its lease was live");
      console.log(`FAILPOINTS ${summary.join(" ")}`);
    } finally {
      await cs.stop();
      await sims.close();
    }
  },
);
