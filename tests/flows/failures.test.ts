// Each failure class, end to end through the stack: permanent failures end the job at once with
// a clear, safe error; transient ones are retried (without ever replaying a paid submission
// that may have landed) and the job completes.
import assert from "node:assert/strict";
import {
  call,
  db,
  it,
  makePng,
  newUser,
  simControl,
  simMark,
  simRequests,
  type TestUser,
  uploadInput,
  waitForJob,
} from "../_helpers/app.ts";

const UNSAFE = /https?:\/\/|tsk_|sk-|postgres|stack|\.ts:\d/i;

async function t2m(user: TestUser, prompt: string, taskId = crypto.randomUUID().slice(0, 8)) {
  const r = await call("generate-text-to-model", {
    token: user.token,
    body: { task_id: taskId, prompt },
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.job_id as string;
}

async function tripoPosts(mark: number, prompt: string) {
  const posts = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/task");
  return posts.filter((p) => p.body?.prompt === prompt);
}

async function withFaults(sim: "tripo" | "openai", faults: unknown[], fn: () => Promise<void>) {
  await simControl(sim, "config", { faults });
  try {
    await fn();
  } finally {
    await simControl(sim, "config", { faults: [] });
  }
}

it("Tripo permanent failures: task failed, banned at create, no credits — failed, clear error, one POST", async () => {
  const user = await newUser("perm");
  const cases: [string, string][] = [
    ["a failing model [sim:fail]", "task_failed"],
    ["a banned model [sim:banned]", "content_policy"],
    ["a banned-later model [sim:banned-late]", "content_policy"],
    ["no credits [sim:credits]", "insufficient_credits"],
  ];
  const mark = await simMark("tripo");
  const jobs: string[] = [];
  for (const [prompt] of cases) jobs.push(await t2m(user, prompt));
  for (let i = 0; i < cases.length; i++) {
    const s = await waitForJob(user, jobs[i], "tripoai");
    assert.equal(s.status, "failed", cases[i][0]);
    assert.equal(s.error_code, cases[i][1], cases[i][0]);
    assert.ok(s.error && !UNSAFE.test(s.error), s.error ?? "");
    assert.equal((await tripoPosts(mark, cases[i][0])).length, 1, "never resubmitted");
    const [row] = await db()`select status, error from public.models where job_id = ${jobs[i]}`;
    assert.equal(row.status, "failed");
    assert.equal(row.error, s.error);
  }
});

it("Tripo 429 (cap) at submission: retried after Retry-After, completes, one accepted task", async () => {
  const user = await newUser("t429");
  const prompt = "a rate limited teapot";
  const mark = await simMark("tripo");
  await withFaults("tripo", [{
    match: "POST /v2/openapi/task",
    status: 429,
    code: 2000,
    retryAfter: 1,
    times: 2,
  }], async () => {
    const job = await t2m(user, prompt);
    const s = await waitForJob(user, job, "tripoai");
    assert.equal(s.status, "complete", JSON.stringify(s));
  });
  // Refused requests are logged without a parsed body: count every POST since the mark.
  const posts = await simRequests("tripo", mark, "&method=POST&path=/v2/openapi/task");
  assert.equal(posts.length, 3, "two refused, one accepted");
  assert.deepEqual(posts.map((p) => p.status), [429, 429, 200]);
});

it("Tripo 503 and connection resets while polling: retried, completes", async () => {
  const user = await newUser("t503");
  const prompt = "a flaky-poll teapot";
  const mark = await simMark("tripo");
  await withFaults("tripo", [
    { match: "GET /v2/openapi/task/*", status: 503, retryAfter: 1, times: 2 },
    { match: "GET /v2/openapi/task/*", kind: "reset", times: 1 },
    { match: "GET /v2/openapi/task/*", kind: "malformed", times: 1 },
  ], async () => {
    const job = await t2m(user, prompt);
    const s = await waitForJob(user, job, "tripoai");
    assert.equal(s.status, "complete", JSON.stringify(s));
  });
  assert.equal((await tripoPosts(mark, prompt)).length, 1);
});

it("Tripo 500 on submission may have landed: not replayed, failed with a clear reason", async () => {
  const user = await newUser("t500");
  const prompt = "an ambiguous teapot";
  const mark = await simMark("tripo");
  await withFaults("tripo", [{
    match: "POST /v2/openapi/task",
    status: 500,
    code: 1000,
    landed: true,
    times: 1,
  }], async () => {
    const job = await t2m(user, prompt);
    const s = await waitForJob(user, job, "tripoai");
    assert.equal(s.status, "failed");
    assert.equal(s.error_code, "submission_unknown");
    assert.ok(s.error && /not resubmitted|charg/i.test(s.error), s.error ?? "");
  });
  assert.equal((await tripoPosts(mark, prompt)).length, 1, "exactly one POST /task");
});

it("an expired output URL and a truncated download are retried from a fresh task read", async () => {
  const user = await newUser("expire");
  const prompt = "an expiring teapot";
  await withFaults("tripo", [
    { match: "GET /files/**", status: 403, times: 1 },
    { match: "GET /files/**", kind: "truncate", truncateAt: 1000, times: 1 },
  ], async () => {
    const job = await t2m(user, prompt);
    const s = await waitForJob(user, job, "tripoai");
    assert.equal(s.status, "complete", JSON.stringify(s));
    const res = await fetch(s.asset_url!);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const { inspectGlb } = await import("../../localstack/simulators/glb.ts");
    assert.equal(inspectGlb(bytes).ok, true, "the stored model is whole");
  });
});

it("OpenAI 429 and 500 are retried; insufficient quota fails at once", async () => {
  const user = await newUser("oai");
  const input = await uploadInput(user, "in.png", makePng(32, 32, 7));
  const mark = await simMark("openai");
  let retried = "";
  await withFaults("openai", [
    {
      match: "POST /v1/images/edits",
      status: 429,
      code: "rate_limit_exceeded",
      retryAfter: 1,
      times: 1,
    },
    { match: "POST /v1/images/edits", status: 500, code: "server_error", times: 1 },
  ], async () => {
    const r = await call("generate-image-to-image", {
      token: user.token,
      body: { task_id: "retry", prompt: "retry me", input_image_asset_url: input },
    });
    assert.equal(r.status, 202);
    retried = r.body.job_id;
    const s = await waitForJob(user, retried, "openai");
    assert.equal(s.status, "complete", JSON.stringify(s));
  });
  const edits = await simRequests("openai", mark, "&method=POST&path=/v1/images/edits");
  assert.equal(edits.length, 3, "429, 500, then success");

  const q = await call("generate-image-to-image", {
    token: user.token,
    body: { task_id: "quota", prompt: "no money [sim:quota]", input_image_asset_url: input },
  });
  const s = await waitForJob(user, q.body.job_id, "openai");
  assert.equal(s.status, "failed");
  assert.ok(s.error && !UNSAFE.test(s.error), s.error ?? "");
});

it("idempotency: the same body twice is one job and one paid call; same key + new body is 409", async () => {
  const user = await newUser("idem");
  const prompt = "an idempotent teapot";
  const mark = await simMark("tripo");
  const body = { task_id: "idem-1", prompt };
  const a = await call("generate-text-to-model", { token: user.token, body });
  const b = await call("generate-text-to-model", {
    token: user.token,
    body: { prompt, task_id: "idem-1" },
  });
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  assert.equal(b.body.job_id, a.body.job_id);
  assert.equal(b.headers.get("idempotent-replayed"), "true");
  const k1 = await call("generate-text-to-model", {
    token: user.token,
    headers: { "idempotency-key": "key-1" },
    body: { task_id: "idem-2", prompt: "keyed teapot" },
  });
  const k2 = await call("generate-text-to-model", {
    token: user.token,
    headers: { "idempotency-key": "key-1" },
    body: { task_id: "idem-2", prompt: "keyed teapot" },
  });
  assert.equal(k2.body.job_id, k1.body.job_id);
  const k3 = await call("generate-text-to-model", {
    token: user.token,
    headers: { "idempotency-key": "key-1" },
    body: { task_id: "idem-2", prompt: "another teapot" },
  });
  assert.equal(k3.status, 409);
  assert.equal(k3.body.error.code, "idempotency_conflict");
  await waitForJob(user, a.body.job_id, "tripoai");
  await waitForJob(user, k1.body.job_id, "tripoai");
  assert.equal((await tripoPosts(mark, prompt)).length, 1);
  const [n] = await db()`select count(*)::int as n from public.jobs where user_id = ${user.id}`;
  assert.equal(n.n, 2);
});

it("task-status: 404 alike for unknown and foreign jobs; service must match; cancel", async () => {
  const owner = await newUser("ts-owner");
  const other = await newUser("ts-other");
  const job = await t2m(owner, "a slow teapot [sim:slow=20000]");
  const foreign = await call(`task-status/${job}?service=tripoai`, { token: other.token });
  const unknown = await call(`task-status/${crypto.randomUUID()}?service=tripoai`, {
    token: other.token,
  });
  assert.equal(foreign.status, 404);
  assert.equal(unknown.status, 404);
  assert.deepEqual(foreign.body, unknown.body, "the same answer for both");
  const wrong = await call(`task-status/${job}?service=openai`, { token: owner.token });
  assert.equal(wrong.status, 400);
  const cancel = await call(`task-status/${job}`, { token: owner.token, method: "DELETE" });
  assert.equal(cancel.status, 200);
  assert.equal(cancel.body.cancelled, true);
  const s = await call(`task-status/${job}?service=tripoai`, { token: owner.token });
  assert.equal(s.body.status, "failed");
  assert.equal(s.body.error_code, "cancelled");
  const again = await call(`task-status/${job}`, { token: owner.token, method: "DELETE" });
  assert.equal(again.status, 409);
});
