// Table-driven hostile input (the cases are in hostile/). Every case, one step each, asserts:
// the status, the one error shape, nothing leaked (no SQL, stack, keys, internal URLs), no row or
// job created or changed, no object written, and no call made to a provider (read from the
// simulators' request logs).
import assert from "node:assert/strict";
import { call, db, it, newUser, simMark, simRequests } from "../_helpers/app.ts";
import { authCases } from "./hostile/cases_auth.ts";
import { inputCases } from "./hostile/cases_inputs.ts";
import { outputCases } from "./hostile/cases_outputs.ts";
import { requestCases } from "./hostile/cases_requests.ts";
import { fingerprint, LEAKS, setup, T2M, waitIdle, type World } from "./hostile/world.ts";

const cases = [...authCases, ...requestCases, ...inputCases, ...outputCases];

Deno.test({
  name: `hostile input: ${cases.length} cases refused cleanly and change nothing`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    assert.ok(cases.length >= 60, `only ${cases.length} cases`);
    const world: World = await setup();
    for (const c of cases) {
      await t.step(c.name, async () => {
        const before = await fingerprint();
        const marks = [await simMark("tripo"), await simMark("openai")];
        let fn = c.fn ?? T2M;
        if (fn.startsWith("@bjob")) fn = `task-status/${world.bJobId}${fn.slice(5)}`;
        const token = c.token === undefined
          ? world.a.token
          : typeof c.token === "function"
          ? await c.token(world)
          : c.token;
        const body = typeof c.body === "function"
          ? await (c.body as (w: World) => unknown)(world)
          : c.body;
        const rawBody = typeof c.rawBody === "function" ? c.rawBody() : c.rawBody;
        const res = await call(fn, { token, method: c.method, headers: c.headers, body, rawBody });
        const text = JSON.stringify(res.body);
        assert.equal(res.status, c.status, `status (body ${text})`);
        assert.equal(typeof res.body?.error?.message, "string", `error shape ${text}`);
        assert.equal(res.body.error.code, c.code, "error code");
        assert.ok(res.body.error.message.length > 0 && res.body.error.message.length < 300);
        for (const leak of LEAKS) assert.ok(!leak.test(text), `leak ${leak} in ${text}`);
        if (c.status === 429) assert.ok(res.headers.get("retry-after"));
        assert.equal(await fingerprint(), before, "database or storage changed");
        const calls = [
          ...(await simRequests("tripo", marks[0])),
          ...(await simRequests("openai", marks[1])),
        ];
        assert.equal(
          calls.length,
          0,
          `provider called: ${JSON.stringify(calls.map((r) => r.path))}`,
        );
      });
    }
  },
});

it("rate limit burst: the fifth model request in a minute is 429 with Retry-After and creates nothing", async () => {
  const user = await newUser("burst");
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await call(T2M, {
      token: user.token,
      body: { task_id: `burst-${i}`, prompt: `burst ${i}` },
    });
    statuses.push(r.status);
  }
  assert.deepEqual(statuses, [202, 202, 202, 202]);
  const r = await call(T2M, { token: user.token, body: { task_id: "burst-5", prompt: "burst 5" } });
  assert.equal(r.status, 429);
  assert.equal(r.body.error.code, "rate_limited");
  const after = Number(r.headers.get("retry-after"));
  assert.ok(after >= 1 && after <= 60, `Retry-After ${after}`);
  const [n] = await db()`select count(*)::int as n from public.jobs where user_id = ${user.id}`;
  // The four accepted jobs are being worked on meanwhile, so the refusal is checked by count.
  assert.equal(n.n, 4, "the refused request created no job");
  // Another user is not affected by this user's burst (per user, not per IP).
  const other = await newUser("burst-other");
  const ok = await call(T2M, { token: other.token, body: { task_id: "calm", prompt: "calm" } });
  assert.equal(ok.status, 202);
  await waitIdle();
});

it("jobs in flight per user are capped: the next request is 429 and creates nothing", async () => {
  const user = await newUser("active-cap");
  // Ten waiting jobs (the default USER_MAX_ACTIVE_JOBS), parked an hour ahead so no worker runs
  // them during the test; cancelled at the end.
  // One transaction, so no worker can claim a job before it is parked.
  const ids = await db().begin(async (tx) => {
    const out: string[] = [];
    for (let i = 0; i < 10; i++) {
      const [r] = await tx`
        select job_id from bff.enqueue_job(${user.id}::uuid, 'text_to_model', 'tripo',
          ${`parked-${i}`}, '{"tripo_type":"text_to_model","params":{"prompt":"parked"}}'::jsonb,
          ${`hdr:parked-${i}`}, ${`h${i}`}, 'parked', 100000, 100000, 1,
          '{"table":"models","task_id":"parked","prompt":"parked"}'::jsonb)`;
      out.push(r.job_id);
    }
    await tx`update public.jobs set run_at = now() + interval '1 hour'
             where id = any (${out}::uuid[])`;
    return out;
  });
  try {
    const before = await fingerprint();
    const r = await call(T2M, {
      token: user.token,
      body: { task_id: "one-more", prompt: "one more" },
    });
    assert.equal(r.status, 429, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "too_many_active_jobs");
    assert.ok(Number(r.headers.get("retry-after")) >= 1);
    assert.equal(await fingerprint(), before, "nothing created");
  } finally {
    for (const id of ids) await db()`select bff.cancel_job(${id}::uuid, ${user.id}::uuid)`;
  }
});
