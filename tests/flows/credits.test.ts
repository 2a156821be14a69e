// Credits (SPEC §11) through the `credits` function and the generation endpoints: prices and
// grants only with the secret key, a 402 that creates nothing and calls no provider, the price
// charged when the job completes, an idempotent replay that reserves once, and the user's own
// statement. Prices are global: this file sets them and puts them back to 0 at the end.
import assert from "node:assert/strict";
import { call, db, it, newUser, simMark, simRequests, waitForJob } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";

const service = { apikey: stack.serviceKey };

async function setPrices(prices: Record<string, number>) {
  const r = await call("credits/prices", {
    method: "PUT",
    token: null,
    headers: service,
    body: prices,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function grant(userId: string, amount: number, key: string, reason = "test") {
  return await call("credits/grant", {
    token: null,
    headers: { ...service, "idempotency-key": key },
    body: { user_id: userId, amount, reason },
  });
}

it("credits: prices and grants are for the project's services; users read prices and their own statement", async () => {
  const user = await newUser("cr-admin");
  try {
    const set = await setPrices({ text_to_model: 30 });
    assert.equal(set.text_to_model, 30);
    assert.equal(set.image_to_image, 0, "the other prices stay");
    const seen = await call("credits/prices", { token: user.token });
    assert.deepEqual([seen.status, seen.body.text_to_model], [200, 30]);
    // Not with the user's token, nor the publishable key.
    for (const headers of [{}, { apikey: stack.publishableKey }] as Record<string, string>[]) {
      const put = await call("credits/prices", {
        method: "PUT",
        token: user.token,
        headers,
        body: { text_to_model: 0 },
      });
      assert.equal(put.status, 401, JSON.stringify(put.body));
      const g = await call("credits/grant", {
        token: user.token,
        headers,
        body: { user_id: user.id, amount: 5, reason: "x" },
      });
      assert.equal(g.status, 401);
    }
    const bad = await call("credits/prices", {
      method: "PUT",
      token: null,
      headers: service,
      body: { text_to_model: -1 },
    });
    assert.deepEqual([bad.status, bad.body.error.code], [400, "validation_failed"]);
    const unknown = await call("credits/prices", {
      method: "PUT",
      token: null,
      headers: service,
      body: { teleport: 1 },
    });
    assert.equal(unknown.status, 400);
    // A grant once per Idempotency-Key.
    const key = `g-${crypto.randomUUID()}`;
    const first = await grant(user.id, 50, key);
    assert.deepEqual([first.status, first.body.available], [201, 50]);
    const again = await grant(user.id, 50, key);
    assert.deepEqual(
      [again.status, again.headers.get("idempotent-replayed"), again.body.available],
      [200, "true", 50],
    );
    const other = await grant(user.id, 70, key);
    assert.deepEqual([other.status, other.body.error.code], [409, "idempotency_conflict"]);
    const nobody = await grant(crypto.randomUUID(), 5, `g-${crypto.randomUUID()}`);
    assert.equal(nobody.status, 404);
    const st = await call("credits", { token: user.token });
    assert.equal(st.status, 200);
    assert.deepEqual([st.body.balance, st.body.reserved, st.body.available], [50, 0, 50]);
    assert.equal(st.body.ledger.length, 1);
    assert.deepEqual([st.body.ledger[0].entry, st.body.ledger[0].amount], ["grant", 50]);
  } finally {
    await setPrices({ text_to_model: 0 });
  }
});

it("credits: not enough is a 402 with balance and price; nothing is created, no provider called", async () => {
  const user = await newUser("cr-poor");
  try {
    await setPrices({ text_to_model: 30 });
    await grant(user.id, 20, `g-${crypto.randomUUID()}`);
    const mark = await simMark("tripo");
    const r = await call("generate-text-to-model", {
      token: user.token,
      body: { task_id: "poor", prompt: "too dear" },
    });
    assert.equal(r.status, 402, JSON.stringify(r.body));
    assert.deepEqual([r.body.error.code, r.body.error.details], ["insufficient_credits", {
      balance: 20,
      price: 30,
    }]);
    const [n] = await db()`select count(*)::int as n from public.jobs where user_id = ${user.id}`;
    assert.equal(n.n, 0, "no job");
    const [m] = await db()`select count(*)::int as n from public.models where user_id = ${user.id}`;
    assert.equal(m.n, 0, "no row");
    assert.equal((await simRequests("tripo", mark)).length, 0, "no provider call");
    const st = await call("credits", { token: user.token });
    assert.deepEqual([st.body.available, st.body.reserved], [20, 0]);
  } finally {
    await setPrices({ text_to_model: 0 });
  }
});

it("credits: held while the job runs, charged once when it completes; a replay holds nothing more", async () => {
  const user = await newUser("cr-pay");
  try {
    await setPrices({ text_to_model: 30 });
    await grant(user.id, 100, `g-${crypto.randomUUID()}`);
    const body = { task_id: "pay", prompt: "a paid teapot" };
    const r = await call("generate-text-to-model", { token: user.token, body });
    assert.equal(r.status, 202);
    const replay = await call("generate-text-to-model", { token: user.token, body });
    assert.deepEqual([replay.status, replay.body.job_id], [202, r.body.job_id]);
    const held = await call("credits", { token: user.token });
    assert.equal(held.body.reserved + held.body.available, 100);
    const done = await waitForJob(user, r.body.job_id, "tripoai");
    assert.equal(done.status, "complete");
    assert.equal((done as unknown as { cost: number }).cost, 30, "task-status shows the cost");
    const st = await call("credits", { token: user.token });
    assert.deepEqual([st.body.balance, st.body.reserved, st.body.available], [70, 0, 70]);
    const entries = await db()`select entry, amount from public.credit_ledger
      where job_id = ${r.body.job_id} order by id`;
    assert.deepEqual(entries.map((e) => [e.entry, e.amount]), [["reserve", 30], ["charge", 30]]);
  } finally {
    await setPrices({ text_to_model: 0 });
  }
});

it("credits: a job that fails at the provider after its paid call is released (the documented rule)", async () => {
  const user = await newUser("cr-fail");
  try {
    await setPrices({ text_to_model: 30 });
    await grant(user.id, 30, `g-${crypto.randomUUID()}`);
    const r = await call("generate-text-to-model", {
      token: user.token,
      body: { task_id: "f", prompt: "fails [sim:fail]" },
    });
    assert.equal(r.status, 202);
    const s = await waitForJob(user, r.body.job_id, "tripoai");
    assert.deepEqual([s.status, s.error_code], ["failed", "task_failed"]);
    const st = await call("credits", { token: user.token });
    assert.deepEqual([st.body.balance, st.body.reserved, st.body.available], [30, 0, 30]);
    const entries =
      await db()`select entry from public.credit_ledger where job_id = ${r.body.job_id} order by id`;
    assert.deepEqual(entries.map((e) => e.entry), ["reserve", "release"]);
  } finally {
    await setPrices({ text_to_model: 0 });
  }
});
