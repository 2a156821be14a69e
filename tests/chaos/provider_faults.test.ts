// Provider faults, one scenario at a time per provider (faults match by path, so one job each):
// 429 with and without Retry-After, 5xx bursts, connection resets, answers slower than the
// client timeout, malformed JSON, expired and truncated downloads. Each job must end terminal
// with the expected outcome, never with a second paid submission, and never leave a partial
// object behind.
import assert from "node:assert/strict";
import type { SimFault } from "../../localstack/simulators/mod.ts";
import {
  type ChaosStack,
  chaosTest,
  checkFailureReasons,
  checkOutputs,
  download,
  generate,
  makePng,
  newAttribution,
  newUser,
  openaiEditsPerPrompt,
  type Sims,
  startChaosStack,
  startSims,
  tripoMark,
  tripoPosts,
  tripoTasksPerJob,
  uploadInput,
  type User,
  waitTerminal,
} from "./_harness.ts";

interface Scenario {
  name: string;
  provider: "tripo" | "openai";
  faults: SimFault[];
  tripoConfig?: Record<string, unknown>;
  expect: "succeeded" | string; // or the failure code
  /** POST /task requests Tripo must have seen for the job (landed or refused). */
  posts?: number;
  /** The output object must not exist afterwards (failed transfer). */
  noObject?: boolean;
}

const TASK = "POST /v2/openapi/task";
const POLL = "GET /v2/openapi/task/*";
const FILES = "GET /files/**";
const EDIT = "POST /v1/images/edits";

const SCENARIOS: Scenario[] = [
  {
    name: "429 without Retry-After",
    provider: "tripo",
    faults: [{ match: TASK, status: 429, times: 2 }],
    expect: "succeeded",
    posts: 3,
  },
  {
    name: "429 with Retry-After",
    provider: "tripo",
    faults: [{ match: TASK, status: 429, retryAfter: 1, times: 2 }],
    expect: "succeeded",
    posts: 3,
  },
  {
    name: "503 burst on submit",
    provider: "tripo",
    faults: [{ match: TASK, status: 503, times: 3 }],
    expect: "succeeded",
    posts: 4,
  },
  // A 500 on POST /task may have landed: never replayed, failed clearly.
  {
    name: "500 on submit",
    provider: "tripo",
    faults: [{ match: TASK, status: 500, times: 1 }],
    expect: "submission_unknown",
    posts: 1,
  },
  {
    name: "500 burst on poll",
    provider: "tripo",
    faults: [{ match: POLL, status: 500, times: 5 }],
    expect: "succeeded",
    posts: 1,
  },
  {
    name: "503 burst on poll",
    provider: "tripo",
    faults: [{ match: POLL, status: 503, times: 4 }],
    expect: "succeeded",
    posts: 1,
  },
  {
    name: "reset after submit landed",
    provider: "tripo",
    faults: [{ match: TASK, kind: "reset" }],
    expect: "submission_unknown",
    posts: 1,
  },
  {
    name: "resets on poll",
    provider: "tripo",
    faults: [{ match: POLL, kind: "reset", times: 3 }],
    expect: "succeeded",
    posts: 1,
  },
  {
    name: "poll slower than the client timeout",
    provider: "tripo",
    faults: [{ match: POLL, kind: "delay", delayMs: 21_000 }],
    expect: "succeeded",
    posts: 1,
  },
  {
    name: "malformed JSON on poll",
    provider: "tripo",
    faults: [{ match: POLL, kind: "malformed", times: 2 }],
    expect: "succeeded",
    posts: 1,
  },
  {
    name: "malformed JSON on submit",
    provider: "tripo",
    faults: [{ match: TASK, kind: "malformed" }],
    expect: "submission_unknown",
    posts: 1,
  },
  {
    name: "output URL expired (403) once",
    provider: "tripo",
    faults: [{ match: FILES, status: 403, times: 1 }],
    expect: "succeeded",
    posts: 1,
  },
  {
    // Every download answers 403 like an expired signed URL (re-polling mints new ones).
    name: "output URLs always expired",
    provider: "tripo",
    faults: [{ match: FILES, status: 403, times: -1 }],
    expect: "output_unavailable",
    posts: 1,
    noObject: true,
  },
  {
    name: "truncated download once",
    provider: "tripo",
    faults: [{ match: FILES, kind: "truncate", times: 1 }],
    expect: "succeeded",
    posts: 1,
  },
  {
    name: "truncated download always",
    provider: "tripo",
    faults: [{ match: FILES, kind: "truncate", times: -1 }],
    expect: "output_unavailable",
    posts: 1,
    noObject: true,
  },
  {
    name: "openai 429 burst",
    provider: "openai",
    faults: [{ match: EDIT, status: 429, retryAfter: 1, times: 2 }],
    expect: "succeeded",
  },
  {
    name: "openai 500 burst",
    provider: "openai",
    faults: [{ match: EDIT, status: 500, times: 2 }],
    expect: "succeeded",
  },
  {
    name: "openai 503",
    provider: "openai",
    faults: [{ match: EDIT, status: 503, times: 1 }],
    expect: "succeeded",
  },
  {
    name: "openai reset after the edit ran",
    provider: "openai",
    faults: [{ match: EDIT, kind: "reset" }],
    expect: "submission_unknown",
  },
  {
    name: "openai malformed answer",
    provider: "openai",
    faults: [{ match: EDIT, kind: "malformed" }],
    expect: "submission_unknown",
  },
];

async function runScenario(cs: ChaosStack, sims: Sims, user: User, s: Scenario, i: number) {
  const prompt = `scenario ${i} ${s.name.replace(/[^a-z0-9 ]/gi, "")}`;
  const sim = s.provider === "tripo" ? sims.tripo : sims.openai;
  sim.configure({ faults: s.faults, ...(s.tripoConfig ?? {}) } as never);
  let id: string;
  let taskId: string;
  const mark = await tripoMark(sims);
  try {
    if (s.provider === "tripo") {
      taskId = `pf-${i}`;
      id = await generate(cs, user, "text_to_model", { task_id: taskId, prompt });
    } else {
      taskId = `pf-oa-${i}`;
      const input = await uploadInput(cs, user, `pf-${i}.png`, makePng(16, 16, i));
      id = await generate(cs, user, "image_to_image", {
        task_id: taskId,
        prompt,
        input_image_asset_url: input,
      });
    }
    const rows = await waitTerminal(cs, [id], 90_000);
    const row = rows[0];
    await checkFailureReasons(cs, rows);
    if (s.expect === "succeeded") {
      assert.equal(row.state, "succeeded", `${s.name}: ${JSON.stringify(row)}`);
    } else {
      assert.equal(row.state, "failed", `${s.name}: ${JSON.stringify(row)}`);
      if (s.expect !== "*") {
        assert.equal(row.error_code, s.expect, `${s.name}: ${JSON.stringify(row)}`);
      }
    }
    if (s.provider === "tripo") {
      const posts = await tripoPosts(sims, mark);
      // Refused POSTs carry no logged body; any logged body must be this job's.
      assert.ok(posts.every((p) => p.body === undefined || p.body.prompt === prompt));
      if (s.posts !== undefined) assert.equal(posts.length, s.posts, `${s.name}: POST /task count`);
      const attr = newAttribution();
      attr.prompts.set(prompt, id);
      const tasks = (await tripoTasksPerJob(sims, attr, false)).get(id) ?? [];
      assert.ok(tasks.length <= 1, `${s.name}: ${tasks.length} paid Tripo tasks for one job`);
      if (row.state === "succeeded") assert.equal(tasks.length, 1);
    } else {
      const edits = (await openaiEditsPerPrompt(sims)).get(prompt) ?? 0;
      assert.ok(edits <= 1, `${s.name}: ${edits} billed edits for one job`);
    }
    if (s.noObject) {
      const d = await download(cs, "generated-assets", `${user.id}/models/${taskId}/${id}.glb`);
      assert.notEqual(d.status, 200, `${s.name}: an object was stored for a failed transfer`);
    }
    await checkOutputs(cs, rows);
    return `${s.name} → ${row.state}${
      row.error_code ? `/${row.error_code}` : ""
    } (attempts ${row.attempts})`;
  } finally {
    sim.configure({ faults: [], ...(s.tripoConfig ? { outputTtlSec: 300 } : {}) } as never);
  }
}

chaosTest("provider faults: every job ends as expected, never billed twice", async () => {
  const sims = startSims();
  const cs = await startChaosStack({
    label: "provider",
    sims,
    env: { JOB_MAX_ATTEMPTS: "4" },
  });
  try {
    const user = await newUser(cs, "pf");
    const lanes = ["tripo", "openai"].map(async (p) => {
      const out: string[] = [];
      for (const [i, s] of SCENARIOS.entries()) {
        if (s.provider === p) out.push(await runScenario(cs, sims, user, s, i));
      }
      return out;
    });
    const results = (await Promise.all(lanes)).flat();
    for (const r of results) console.log(`PROVIDER_FAULT ${r}`);
    assert.equal(results.length, SCENARIOS.length);
  } finally {
    await cs.stop();
    await sims.close();
  }
});
