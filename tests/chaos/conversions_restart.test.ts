// Chained conversions (output_formats) under a whole-stack SIGKILL: killed while some models are
// still being made and some of their conversions are queued, submitted or mid-download, then
// restarted on the same database. Every model and every conversion ends with a clear reason,
// each model gets exactly the conversions it asked for, no conversion is paid twice, every
// stored file is whole in its format, and the ledger settles every job once.
import assert from "node:assert/strict";
import {
  chaosTest,
  checkCredits,
  checkFailureReasons,
  checkOutputs,
  generate,
  newAttribution,
  newUser,
  priceAndFund,
  startChaosStack,
  startSims,
  tripoTasksPerJob,
  waitFor,
  waitTerminal,
} from "./_harness.ts";

const ASKED = [
  ["USDZ", "STL"],
  ["3MF", "FBX"],
  ["OBJ", "GLTF"],
  ["STL"],
  ["USDZ", "3MF", "FBX"],
  ["GLTF", "OBJ"],
];

chaosTest("chained conversions: SIGKILL with conversions in flight; each ends once", async () => {
  const sims = startSims({
    tripo: { runMs: 2000, queueMs: 200, glbSize: 500_000, convertSize: 1_000_000 },
  });
  const cs = await startChaosStack({
    label: "convkill",
    sims,
    env: { TRIPO_MAX_CONCURRENCY: "4" },
  });
  try {
    const user = await newUser(cs, "cv");
    await priceAndFund(cs, { text_to_model: 5, convert_model: 2 }, [user.id], 10_000);
    const attr = newAttribution();
    const ids: string[] = [];
    // Slow downloads, so some conversions are mid-transfer at the kill.
    sims.injector = (sim, method, path) =>
      sim === "tripo" && method === "GET" && path.startsWith("/files/")
        ? { kind: "delay", ms: 1200 }
        : null;
    for (let i = 0; i < ASKED.length; i++) {
      const prompt = `conversion chain ${i}`;
      const id = await generate(cs, user, "text_to_model", {
        task_id: `cv-${i}`,
        prompt,
        output_formats: ASKED[i],
      });
      attr.prompts.set(prompt, id);
      ids.push(id);
    }
    let snapshot: Record<string, number> = {};
    await waitFor("conversions in flight while models are still being made", async () => {
      const [s] = await cs.sql`
        select count(*) filter (where kind = 'convert_model')::int as conversions,
               count(*) filter (where kind = 'convert_model'
                                and state in ('queued', 'running'))::int as converting,
               count(*) filter (where kind = 'text_to_model'
                                and state in ('queued', 'running'))::int as modelling
        from public.jobs`;
      snapshot = s;
      // A completion chains all of a model's conversions at once (two or more for most), and
      // two models wait behind the Tripo cap of 4 when the first ones complete.
      return s.converting >= 2 && s.modelling > 0;
    }, 90_000);
    for (const f of cs.stack.functions.values()) await f.kill("SIGKILL");
    console.log(`CONVERSIONS killed with ${JSON.stringify(snapshot)}`);
    await cs.restart();
    sims.injector = null;

    const sources = await waitTerminal(cs, ids, 180_000);
    const conversions = await cs.sql<
      { id: string; source: string; format: string; original: string }[]
    >`
      select j.id, j.source_job_id as source, j.request -> 'params' ->> 'format' as format,
             j.request ->> 'original_model_task_id' as original
      from public.jobs j where j.source_job_id = any(${ids}::uuid[])`;
    for (const [i, s] of sources.entries()) {
      const made = conversions.filter((c) => c.source === s.id).map((c) => c.format).sort();
      const want = s.state === "succeeded" ? [...ASKED[ids.indexOf(s.id)]].sort() : [];
      assert.deepEqual(made, want, `model ${i} (${s.state}): its conversions`);
      for (const c of conversions.filter((c) => c.source === s.id)) {
        assert.equal(c.original, s.provider_task_id, "converted from the model's own task");
      }
    }
    const convRows = await waitTerminal(cs, conversions.map((c) => c.id), 180_000);
    const all = [...sources, ...convRows];
    await checkFailureReasons(cs, all);
    await checkOutputs(cs, all);
    for (const c of conversions) attr.converts.set(`${c.original}:${c.format}`, c.id);
    const tasks = await tripoTasksPerJob(sims, attr);
    for (const r of all) {
      assert.ok((tasks.get(r.id)?.length ?? 0) <= 1, `job ${r.id} (${r.kind}): paid twice`);
    }
    const outcome: Record<string, number> = {};
    for (const r of all) {
      const k = `${r.kind}:${r.state === "succeeded" ? "succeeded" : `${r.state}/${r.error_code}`}`;
      outcome[k] = (outcome[k] ?? 0) + 1;
      if (r.state !== "succeeded") {
        // A submission cut by the kill is never replayed: the only failure this run may have.
        assert.equal(r.error_code, "submission_unknown", `unexpected failure ${JSON.stringify(r)}`);
      }
    }
    assert.ok(conversions.length >= 6, `only ${conversions.length} conversions were chained`);
    assert.equal(await checkCredits(cs), all.length, "every job held credits and settled once");
    console.log(`CONVERSIONS outcomes ${JSON.stringify(outcome)}`);
  } finally {
    await cs.stop();
    await sims.close();
  }
});
