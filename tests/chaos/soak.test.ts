// Soak: 500+ jobs across all five kinds with provider faults injected from a seeded PRNG
// (SOAK_SEED reproduces a run's fault schedule). Ends with no job outside a terminal state, no
// job with more than one paid submission, and every complete row pointing at a valid object.
import assert from "node:assert/strict";
import {
  chaosTest,
  checkCredits,
  checkFailureReasons,
  checkOutputs,
  extraWorkers,
  generate,
  type InjectedFault,
  inputKey,
  installLeaseAudit,
  kickProcess,
  type Kind,
  leaseOverlaps,
  makePng,
  newAttribution,
  newUser,
  openaiEditsPerPrompt,
  priceAndFund,
  prng,
  sleep,
  startChaosStack,
  startSims,
  tripoTasksPerJob,
  uploadInput,
  type User,
  waitTerminal,
} from "./_harness.ts";

const PER_KIND = 100;
const EXTRA_DRAFTS = 15;

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T, R>(
  items: T[],
  n: number,
  fn: (t: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

chaosTest("soak: 500+ jobs, five kinds, seeded random provider faults", async () => {
  const seed = Number(Deno.env.get("SOAK_SEED") ?? Math.floor(Math.random() * 1e9));
  console.log(`SOAK_SEED ${seed}`);
  const rnd = prng(seed);
  const started = performance.now();
  const sims = startSims({
    tripo: { cap: 40, queueMs: 50, runMs: 200, glbSize: 24 * 1024 },
    openai: { imageSide: 24 },
  });
  const cs = await startChaosStack({
    label: "soak",
    sims,
    env: { TRIPO_MAX_CONCURRENCY: "40", JOB_MAX_ATTEMPTS: "6", JOB_DEADLINE_SECONDS: "900" },
  });
  const workers = await extraWorkers(cs, 1);
  let driving = true;
  const driver = (async () => {
    for (let i = 0; i < 2000 && driving; i++) {
      await Promise.all(workers.map((w) => kickProcess(cs, w, false)));
      await sleep(1000);
    }
  })();
  try {
    await installLeaseAudit(cs);
    const f = (kind: InjectedFault) => kind;
    sims.injector = (sim, method, path) => {
      const r = rnd();
      if (sim === "tripo" && method === "POST" && path.endsWith("/task")) {
        if (r < 0.04) return f({ kind: "status", status: 429, retryAfter: 1 });
        if (r < 0.07) return f({ kind: "status", status: 503 });
        if (r < 0.08) return f({ kind: "reset" }); // landed, answer lost
        if (r < 0.085) return f({ kind: "status", status: 500 }); // may have landed
      } else if (sim === "tripo" && method === "GET" && path.includes("/task/")) {
        if (r < 0.04) return f({ kind: "status", status: 500 });
        if (r < 0.06) return f({ kind: "status", status: 503 });
        if (r < 0.08) return f({ kind: "reset" });
        if (r < 0.09) return f({ kind: "malformed" });
        if (r < 0.10) return f({ kind: "delay", ms: 300 });
      } else if (sim === "tripo" && path.startsWith("/files/")) {
        if (r < 0.04) return f({ kind: "expired" });
        if (r < 0.08) return f({ kind: "truncate" });
      } else if (sim === "tripo" && path.endsWith("/upload")) {
        if (r < 0.04) return f({ kind: "status", status: 503 });
      } else if (sim === "openai") {
        if (r < 0.04) return f({ kind: "status", status: 429, retryAfter: 1 });
        if (r < 0.07) return f({ kind: "status", status: 500 });
        if (r < 0.09) return f({ kind: "status", status: 503 });
        if (r < 0.095) return f({ kind: "reset" });
      }
      return null;
    };

    const users: User[] = [];
    for (let i = 0; i < 8; i++) users.push(await newUser(cs, `soak${i}`));
    // Every kind priced, every user funded for all of their jobs: the run also proves that no
    // job is charged twice and no reservation is left held (checkCredits at the end).
    await priceAndFund(
      cs,
      {
        image_to_image: 3,
        text_to_model: 5,
        image_to_model: 6,
        sketch_to_model: 6,
        refine_model: 4,
      },
      users.map((u) => u.id),
      10_000,
    );
    const attr = newAttribution();
    const openaiPrompts: string[] = [];
    type Plan = { kind: Kind; n: number };
    const plans: Plan[] = [];
    for (let n = 0; n < PER_KIND + EXTRA_DRAFTS; n++) plans.push({ kind: "text_to_model", n });
    for (const kind of ["image_to_model", "sketch_to_model", "image_to_image"] as Kind[]) {
      for (let n = 0; n < PER_KIND; n++) plans.push({ kind, n });
    }
    // Interleave kinds (deterministically) so every kind runs under load at once.
    plans.sort((a, b) => (a.n - b.n) || a.kind.localeCompare(b.kind));
    const kindOf = new Map<string, Kind>();
    const ids = await pool(plans, 6, async (p, i) => {
      const user = users[i % users.length];
      const taskId = `soak-${p.kind}-${p.n}`;
      let id: string;
      if (p.kind === "text_to_model") {
        const prompt = `soak draft ${p.n} seed ${seed}`;
        id = await generate(cs, user, p.kind, { task_id: taskId, prompt });
        attr.prompts.set(prompt, id);
      } else {
        // Unique bytes per job: Tripo tasks are traced back to jobs through their input.
        const bytes = makePng(16 + (i % 40), 16 + Math.floor(i / 40), i);
        const url = await uploadInput(cs, user, `${taskId}.png`, bytes);
        if (p.kind === "image_to_image") {
          const prompt = `soak concept ${p.n} seed ${seed}`;
          openaiPrompts.push(prompt);
          id = await generate(cs, user, p.kind, {
            task_id: taskId,
            prompt,
            input_image_asset_url: url,
            n: 1 + (p.n % 2),
          });
        } else {
          id = await generate(cs, user, p.kind, {
            task_id: taskId,
            ...(p.kind === "image_to_model"
              ? { input_image_asset_urls: [url] }
              : { input_sketch_asset_url: url }),
          });
          attr.inputs.set(await inputKey(bytes), id);
        }
      }
      kindOf.set(id, p.kind);
      return id;
    });

    // Refines need finished drafts: refine each of the first PER_KIND drafts that succeeded.
    const drafts = ids.filter((id) => kindOf.get(id) === "text_to_model");
    await waitTerminal(cs, drafts, 300_000);
    const done = await cs.sql`
      select m.job_id, m.user_id, m.asset_url, m.ai_service_task_id from public.models m
      join public.jobs j on j.id = m.job_id
      where j.id = any(${drafts}::uuid[]) and j.state = 'succeeded'
      order by j.created_at limit ${PER_KIND}`;
    assert.ok(done.length >= PER_KIND * 0.8, `only ${done.length} drafts succeeded`);
    const refineIds = await pool([...done], 6, async (d, i) => {
      const user = users.find((u) => u.id === d.user_id)!;
      const id = await generate(cs, user, "refine_model", {
        task_id: `soak-refine-${i}`,
        input_model_asset_url: d.asset_url,
      });
      attr.drafts.set(d.ai_service_task_id, id);
      kindOf.set(id, "refine_model");
      return id;
    });
    const all = [...ids, ...refineIds];
    const rows = await waitTerminal(cs, all, 300_000);
    sims.injector = null;

    // Audit.
    const open = await cs
      .sql`select count(*)::int as n from public.jobs where state in ('queued','running')`;
    assert.equal(open[0].n, 0, "jobs left outside a terminal state");
    await checkFailureReasons(cs, rows);
    const objects = await checkOutputs(cs, rows);
    const paid = await checkCredits(cs);
    assert.equal(paid, rows.length, "every job held credits");
    const tasks = await tripoTasksPerJob(sims, attr); // throws on an untraceable task
    let dupTripo = 0;
    for (const t of tasks.values()) if (t.length > 1) dupTripo += t.length - 1;
    const edits = await openaiEditsPerPrompt(sims);
    let dupOpenai = 0;
    for (const p of openaiPrompts) dupOpenai += Math.max(0, (edits.get(p) ?? 0) - 1);
    const overlaps = await leaseOverlaps(cs);
    const outcomes: Record<string, number> = {};
    const byKind: Record<string, number> = {};
    for (const r of rows) {
      const k = r.state === "succeeded" ? "succeeded" : `${r.state}/${r.error_code}`;
      outcomes[k] = (outcomes[k] ?? 0) + 1;
      byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
    }
    const faults = Object.fromEntries([...sims.injected].sort());
    const faultTotal = [...sims.injected.values()].reduce((a, b) => a + b, 0);
    console.log(
      `SOAK_RESULT seed=${seed} jobs=${rows.length} kinds=${JSON.stringify(byKind)} ` +
        `outcomes=${JSON.stringify(outcomes)} faults_injected=${faultTotal} ` +
        `faults=${JSON.stringify(faults)} tripo_tasks=${[...tasks.values()].flat().length} ` +
        `duplicate_submissions=${dupTripo + dupOpenai} lease_overlaps=${overlaps} ` +
        `objects_validated=${objects} non_terminal=0 ` +
        `wall_s=${((performance.now() - started) / 1000).toFixed(0)}`,
    );
    assert.ok(rows.length >= 500, `only ${rows.length} jobs`);
    assert.equal(dupTripo, 0, "a job paid Tripo twice");
    assert.equal(dupOpenai, 0, "a job paid OpenAI twice");
    assert.equal(overlaps, 0, "a job was processed by two invocations at once");
    assert.ok(faultTotal > 50, "the soak injected too few faults to mean anything");
    // Failures are only the ones faults make legitimate; nothing ended on a silent retry cap.
    const allowed = new Set([
      "succeeded",
      "failed/submission_unknown",
      "failed/output_unavailable",
      "failed/provider_unavailable",
      "failed/rate_limited",
      "failed/network",
      "failed/bad_response",
      "failed/timeout",
    ]);
    for (const k of Object.keys(outcomes)) assert.ok(allowed.has(k), `unexpected outcome ${k}`);
    assert.ok((outcomes.succeeded ?? 0) >= rows.length * 0.85, "too few jobs succeeded");
  } finally {
    driving = false;
    await driver;
    for (const w of workers) await w.stop();
    await cs.stop();
    await sims.close();
  }
});
