// The contract test (openapi_contract.test.ts, which imports this): the generation endpoints —
// for every kind 202 with Location, a replay and each refusal that can be provoked; 402 once
// prices are set; 429 rate_limited and too_many_active_jobs; cancelling running jobs.
import assert from "node:assert/strict";
import { it, makePng, newUser, uploadInput } from "../../_helpers/app.ts";
import { stack } from "../../_helpers/stack.ts";
import { hit, OVERSIZED, refused, setPrices, settle, withStuckTripo } from "../_driver.ts";
import { bodyOf, finishedModel, FN, IMAGE_INPUT, type Kind, KINDS, setup, uid } from "../_world.ts";

it("contract: every generation endpoint — 202 with Location, a replay, and its refusals", async () => {
  const w = await setup();
  const token = w.owner.token;
  for (const kind of KINDS) {
    const fn = FN[kind];
    const key = `oa-${kind}-${uid()}`;
    const body = bodyOf(kind, w, w.png);
    const first = await hit(fn, 202, { token, body, headers: { "idempotency-key": key } });
    assert.equal(first.headers.get("idempotent-replayed"), null);
    assert.match(first.headers.get("location")!, new RegExp(first.body.job_id));
    const again = await hit(fn, 202, { token, body, headers: { "idempotency-key": key } });
    assert.deepEqual(
      [again.body.job_id, again.headers.get("idempotent-replayed")],
      [first.body.job_id, "true"],
    );
    await refused(fn, 409, "idempotency_conflict", {
      token,
      body: { ...body, task_id: `other-${uid()}` },
      headers: { "idempotency-key": key },
    });
    await refused(fn, 400, "bad_request", { token, body, headers: { "idempotency-key": "a b" } });
    await refused(fn, 400, "invalid_json", { token, raw: "{" });
    await refused(fn, 400, "invalid_json", { token, raw: "" });
    await refused(fn, 400, "validation_failed", { token, body: { task_id: "x" } });
    await refused(fn, 400, "validation_failed", { token, body: [] });
    await refused(fn, 400, "validation_failed", { token, body: { ...body, extra: 1 } });
    await refused(fn, 401, "unauthorized", { body });
    await refused(fn, 401, "unauthorized", { token: "not-a-jwt", body });
    await refused(fn, 401, "unauthorized", { token: stack.publishableKey, body });
    await refused(fn, 405, "method_not_allowed", { token, method: "GET" });
    await refused(fn, 405, "method_not_allowed", { token, method: "PUT", body });
    await refused(fn, 401, "unauthorized", { method: "DELETE" });
    await refused(fn, 413, "payload_too_large", { token, raw: OVERSIZED });
    await refused(fn, 415, "unsupported_media_type", {
      token,
      raw: JSON.stringify(body),
      contentType: "text/plain",
    });
    if (IMAGE_INPUT[kind]) {
      await refused(fn, 403, "asset_not_readable", { token, body: bodyOf(kind, w, w.othersPng) });
      await refused(fn, 415, "unsupported_asset_type", {
        token,
        body: bodyOf(kind, w, w.notImage),
      });
      await refused(fn, 413, "asset_too_large", { token, body: bodyOf(kind, w, w.huge) });
      await refused(fn, 400, "bad_request", {
        token,
        body: bodyOf(kind, w, "https://example.com/a.png"),
      });
    }
    if (kind === "refine_model" || kind === "convert_model") {
      // Another user's model is not one of the caller's finished models.
      await refused(fn, 400, "bad_request", {
        token,
        body: { ...body, input_model_asset_url: w.othersModel.url },
      });
    }
  }
  await refused(FN.refine_model, 403, "forbidden", {
    token,
    body: { ...bodyOf("refine_model", w, w.png), draft_model_task_id: "not-mine-0001" },
  });
  await refused(FN.convert_model, 400, "validation_failed", {
    token,
    body: { ...bodyOf("convert_model", w, w.png), format: "STL", fbx_preset: "blender" },
  });
});

it("contract: 402 insufficient_credits on every generation endpoint once prices are set", async () => {
  const w = await setup();
  const poor = await newUser("oa-poor");
  const poorsPng = await uploadInput(poor, "front.png", makePng());
  await setPrices(Object.fromEntries(KINDS.map((k) => [k, 7])));
  try {
    for (const kind of KINDS) {
      // Refine and convert start from one of the caller's own models: the owner's (balance 0).
      const user = kind === "refine_model" || kind === "convert_model" ? w.owner : poor;
      const a = await refused(FN[kind], 402, "insufficient_credits", {
        token: user.token,
        body: bodyOf(kind, w, poorsPng),
      });
      assert.deepEqual(a.body.error.details, { balance: 0, price: 7 });
    }
  } finally {
    await setPrices(Object.fromEntries(KINDS.map((k) => [k, 0])));
  }
});

it("contract: 429 rate_limited with Retry-After once a bucket is full", async () => {
  const busy = await newUser("oa-busy");
  const png = await uploadInput(busy, "front.png", makePng());
  const w = await setup();
  for (let i = 0; i < 4; i++) {
    await hit(FN.text_to_image, 202, { token: busy.token, body: bodyOf("text_to_image", w, png) });
    await hit(FN.text_to_model, 202, { token: busy.token, body: bodyOf("text_to_model", w, png) });
  }
  for (const kind of ["text_to_image", "image_to_image", "text_to_model", "image_to_model"]) {
    const a = await refused(FN[kind as Kind], 429, "rate_limited", {
      token: busy.token,
      body: bodyOf(kind as Kind, w, png),
    });
    assert.ok(Number(a.headers.get("retry-after")) >= 1);
  }
  await refused(FN.sketch_to_model, 429, "rate_limited", {
    token: busy.token,
    body: bodyOf("sketch_to_model", w, png),
  });
});

it("contract: 429 too_many_active_jobs, refine's rate limit, and cancelling running jobs", async () => {
  const crowd = await newUser("oa-crowd");
  const model = await finishedModel(crowd);
  const w = { ...(await setup()), model };
  const token = crowd.token;
  const jobs: string[] = [];
  // Jobs of the tests before must not be the ones the stuck simulator catches.
  await settle();
  await withStuckTripo(async () => {
    // 1 finished + 3 running models (bucket of 4), 2 refines (bucket of 2), 5 conversions: 10
    // running, the cap.
    for (let i = 0; i < 3; i++) {
      jobs.push(
        (await hit(FN.text_to_model, 202, { token, body: bodyOf("text_to_model", w, "") }))
          .body.job_id,
      );
    }
    for (let i = 0; i < 2; i++) {
      jobs.push(
        (await hit(FN.refine_model, 202, { token, body: bodyOf("refine_model", w, "") }))
          .body.job_id,
      );
    }
    await refused(FN.refine_model, 429, "rate_limited", {
      token,
      body: bodyOf("refine_model", w, ""),
    });
    for (let i = 0; i < 5; i++) {
      jobs.push(
        (await hit(FN.convert_model, 202, { token, body: bodyOf("convert_model", w, "") }))
          .body.job_id,
      );
    }
    const a = await refused(FN.convert_model, 429, "too_many_active_jobs", {
      token,
      body: bodyOf("convert_model", w, ""),
    });
    assert.ok(Number(a.headers.get("retry-after")) >= 1);
    for (const [i, job] of jobs.entries()) {
      const c = i % 2
        ? await hit(`task-status/${job}`, 200, { token, method: "DELETE" })
        : await hit(`task-status/${job}/cancel`, 200, { token, method: "POST" });
      assert.deepEqual([c.body.task_id, c.body.cancelled], [job, true]);
    }
  });
  for (const job of jobs) {
    const s = await hit(`task-status/${job}?service=tripoai`, 200, { token });
    assert.equal(s.body.error_code, "cancelled");
  }
  await settle();
});
