// Tripo convert_model in the simulator (provider_apis.md §1.4 convert_model, §1.6): outcomes
// other than success — the markers carried by the original's prompt (convert- prefix) and faults
// matched by taskType.
import assert from "node:assert/strict";
import {
  assertError,
  call,
  control,
  create,
  getTask,
  model,
  poll,
  withSim,
} from "./_tripo_convert_sim.ts";

Deno.test("tripo convert: markers carried by the original's prompt (convert- prefix)", async () => {
  await withSim(async (s) => {
    const convert = (original: string) =>
      create(s, { type: "convert_model", original_model_task_id: original, format: "STL" });
    // The original itself ignores convert- markers and succeeds on its own.
    const o1 = await create(s, { type: "text_to_model", prompt: "x [sim:convert-fail]" });
    assert.equal((await poll(s, o1)).at(-1)!.status, "success");
    const failed = (await poll(s, await convert(o1))).at(-1)!;
    assert.equal(failed.status, "failed");
    assert.equal(failed.error_code, 1001);
    assert.deepEqual(failed.output, {});
    assert.equal(failed.running_left_time, -1);

    const o2 = await model(s, "x [sim:convert-expired]");
    const expired = (await poll(s, await convert(o2))).at(-1)!;
    assert.deepEqual([expired.status, expired.error_code], ["expired", 2018]);

    const o3 = await model(s, "x [sim:convert-banned-late]");
    const banned = (await poll(s, await convert(o3))).at(-1)!;
    assert.deepEqual([banned.status, banned.error_code], ["banned", 2008]);

    const o4 = await model(s, "x [sim:convert-banned]");
    assertError(
      await call(s, "POST", "/task", {
        type: "convert_model",
        original_model_task_id: o4,
        format: "STL",
      }),
      400,
      2008,
    );
    const o5 = await model(s, "x [sim:convert-credits]");
    assertError(
      await call(s, "POST", "/task", {
        type: "convert_model",
        original_model_task_id: o5,
        format: "OBJ",
      }),
      403,
      2010,
    );

    // Slow and stuck: still running right after creation although runMs is tiny.
    const o6 = await model(s, "x [sim:convert-slow=600000]");
    const slow = await convert(o6);
    const o7 = await model(s, "x __sim-convert_stuck__");
    const stuck = await convert(o7);
    assert.equal((await getTask(s, slow)).status, "running");
    assert.equal((await getTask(s, stuck)).status, "running");
    const listed = (await control(s, "tasks")).json.tasks as {
      task_id: string;
      outcome: string;
      format: string;
      original: string;
    }[];
    const st = listed.find((t) => t.task_id === stuck)!;
    assert.deepEqual([st.outcome, st.format, st.original], ["stuck", "STL", o7]);

    // Markers survive a refine in between (the refine keeps its draft's texts).
    const draft = await model(s, "x [sim:convert-fail]");
    const refine = await create(s, { type: "refine_model", draft_model_task_id: draft });
    assert.equal((await poll(s, refine)).at(-1)!.status, "success");
    assert.equal((await poll(s, await convert(refine))).at(-1)!.status, "failed");
  }, { queueMs: 0, runMs: 30 });
});

Deno.test("tripo convert: faults matched by taskType (status, outcome) leave other tasks alone", async () => {
  await withSim(async (s) => {
    const original = await model(s);
    const body = { type: "convert_model", original_model_task_id: original, format: "USDZ" };
    const cfg = await control(s, "config", {
      faults: [
        { match: "POST /v2/openapi/task", taskType: "convert_model", status: 503, retryAfter: 4 },
        {
          match: "POST /v2/openapi/task",
          taskType: "convert_model",
          kind: "outcome",
          outcome: "banned",
          runMs: 0,
          times: 1,
        },
        {
          match: "POST /v2/openapi/task",
          taskType: "convert_model",
          kind: "outcome",
          outcome: "cancelled",
          times: 1,
        },
      ],
    });
    assert.equal(cfg.status, 200);
    // A text task is not matched by the convert faults.
    const text = await create(s, { type: "text_to_model", prompt: "unaffected" });
    const r = await call(s, "POST", "/task", body);
    assertError(r, 503, 1000);
    assert.equal(r.headers.get("retry-after"), "4");
    const banned = (await poll(s, await create(s, body))).at(-1)!;
    assert.deepEqual([banned.status, banned.error_code], ["banned", 2008]);
    const cancelled = (await poll(s, await create(s, body))).at(-1)!;
    assert.equal(cancelled.status, "cancelled");
    assert.equal(typeof cancelled.error_code, "number");
    // Faults used up: the next convert succeeds, and the text task was never touched.
    assert.equal((await poll(s, await create(s, body))).at(-1)!.status, "success");
    assert.equal((await poll(s, text)).at(-1)!.status, "success");
    const log = (await control(s, "requests?method=POST&path=/v2/openapi/task")).json.requests as {
      fault?: string;
      status: number;
      body: { type: string };
    }[];
    assert.deepEqual(
      log.map((e) => [e.body?.type ?? null, e.status, e.fault ?? null]),
      [
        ["text_to_model", 200, null],
        ["text_to_model", 200, null],
        ["convert_model", 503, "status"],
        ["convert_model", 200, "outcome"],
        ["convert_model", 200, "outcome"],
        ["convert_model", 200, null],
      ],
    );
    // nextOutcomes apply to converts too; bad outcome names are refused.
    await control(s, "config", { nextOutcomes: ["expired"] });
    assert.equal((await poll(s, await create(s, body))).at(-1)!.status, "expired");
    assert.equal((await control(s, "config", { nextOutcomes: ["exploded"] })).status, 400);
    assert.equal(
      (await control(s, "config", {
        faults: [{ match: "POST /v2/openapi/task", kind: "outcome", outcome: "exploded" }],
      })).status,
      400,
    );
  }, { queueMs: 0, runMs: 30 });
});
