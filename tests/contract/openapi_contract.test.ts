// The contract test (SPEC §10): every endpoint of the running stack, its successes and each
// error class that can be provoked from outside, every answer validated against openapi.json
// with ajv (tests/_helpers/openapi.ts): status described, required headers present and valid,
// body valid. What cannot be provoked without breaking a service (500, 502, 503) is listed at
// the end; the last tests prove the check refuses what the document does not describe.
import assert from "node:assert/strict";
import {
  it,
  makePng,
  newUser,
  serviceClient,
  type TestUser,
  uploadInput,
} from "../_helpers/app.ts";
import { Contract, ContractError } from "../_helpers/openapi.ts";
import { stack } from "../_helpers/stack.ts";
import {
  contract,
  hit,
  observed,
  OVERSIZED,
  refused,
  setPrices,
  settle,
  waitDone,
  withStuckTripo,
} from "./_driver.ts";

type Body = Record<string, unknown>;
// deno-lint-ignore no-explicit-any
type Json = any;
type Kind =
  | "text_to_model"
  | "image_to_model"
  | "sketch_to_model"
  | "refine_model"
  | "convert_model"
  | "image_to_image"
  | "text_to_image";
const FN: Record<Kind, string> = {
  text_to_model: "generate-text-to-model",
  image_to_model: "generate-image-to-model",
  sketch_to_model: "generate-sketch-to-model",
  refine_model: "generate-refine-model",
  convert_model: "generate-convert-model",
  image_to_image: "generate-image-to-image",
  text_to_image: "generate-text-to-image",
};
const KINDS = Object.keys(FN) as Kind[];
const IMAGE_INPUT: Partial<Record<Kind, (url: string) => Body>> = {
  image_to_model: (url) => ({ input_image_asset_urls: [url] }),
  sketch_to_model: (url) => ({ input_sketch_asset_url: url }),
  image_to_image: (url) => ({ prompt: "in brushed steel", input_image_asset_url: url }),
};

const uid = () => crypto.randomUUID().slice(0, 8);
const outputUrl = (o: { bucket: string; path: string }) =>
  `${stack.url}/storage/v1/object/authenticated/${o.bucket}/${o.path}`;

/** A finished text-to-model of the user's (its job id and GLB URL). */
async function finishedModel(user: TestUser) {
  const a = await hit(FN.text_to_model, 202, {
    token: user.token,
    body: { task_id: `src-${uid()}`, prompt: "a small wooden robot" },
  });
  const s = await waitDone(user.token, a.body.job_id);
  assert.equal(s.status, "complete", JSON.stringify(s));
  return { job: a.body.job_id as string, url: outputUrl(s.outputs[0]) };
}

interface World {
  owner: TestUser;
  other: TestUser;
  png: string;
  othersPng: string;
  notImage: string;
  huge: string;
  model: { job: string; url: string };
  othersModel: { job: string; url: string };
}
let world: World | undefined;
async function setup(): Promise<World> {
  if (world) return world;
  const [owner, other] = [await newUser("oa-owner"), await newUser("oa-other")];
  // 21 MB that sniff as PNG: over the 20 MB input limit.
  const huge = new Uint8Array(21 * 1024 * 1024);
  huge.set(makePng().subarray(0, 8));
  world = {
    owner,
    other,
    png: await uploadInput(owner, "front.png", makePng()),
    othersPng: await uploadInput(other, "theirs.png", makePng(64, 64, 1)),
    notImage: await uploadInput(owner, "notes.png", new TextEncoder().encode("just text")),
    huge: await uploadInput(owner, "huge.png", huge),
    model: await finishedModel(owner),
    othersModel: await finishedModel(other),
  };
  return world;
}

function bodyOf(kind: Kind, w: World, png: string, taskId = `t-${uid()}`): Body {
  switch (kind) {
    case "text_to_model":
      return { task_id: taskId, prompt: "a ceramic teapot" };
    case "text_to_image":
      return { task_id: taskId, prompt: "a mushroom lamp", quality: "low" };
    case "refine_model":
      return { task_id: taskId, input_model_asset_url: w.model.url };
    case "convert_model":
      return { task_id: taskId, input_model_asset_url: w.model.url, format: "STL" };
    default:
      return { task_id: taskId, ...IMAGE_INPUT[kind]!(png) };
  }
}

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

it("contract: task-status — reads, refusals, and cancelling a finished job", async () => {
  const w = await setup();
  const token = w.owner.token;
  const job = w.model.job;
  const s = await hit(`task-status/${job}?service=tripoai`, 200, { token });
  assert.equal(s.body.status, "complete");
  assert.equal(s.headers.get("location"), null);
  await hit(`task-status/${job}`, 200, { token });
  await refused(`task-status/not-a-uuid`, 400, "bad_request", { token });
  await refused(`task-status/${job}?service=bogus`, 400, "bad_request", { token });
  await refused(`task-status/${job}?service=openai`, 400, "bad_request", { token });
  await refused(`task-status/${crypto.randomUUID()}`, 404, "not_found", { token });
  await refused(`task-status/${w.othersModel.job}`, 404, "not_found", { token });
  await refused(`task-status/${job}`, 401, "unauthorized", {});
  await refused(`task-status/${job}`, 405, "method_not_allowed", {
    token,
    method: "PUT",
    body: {},
  });
  await refused(`task-status/${job}`, 405, "method_not_allowed", {
    token,
    method: "POST",
    body: {},
  });
  await refused(`task-status/${job}`, 401, "unauthorized", { method: "PUT", body: {} });
  for (
    const [path, method] of [[`task-status/${job}`, "DELETE"], [
      `task-status/${job}/cancel`,
      "POST",
    ]]
  ) {
    await refused(path, 409, "conflict", { token, method });
    await refused(path.replace(job, crypto.randomUUID()), 404, "not_found", { token, method });
    await refused(path.replace(job, "nope"), 400, "bad_request", { token, method });
    await refused(path, 401, "unauthorized", { method });
    await refused(path.replace(job, w.othersModel.job), 404, "not_found", { token, method });
  }
  // No route for the other methods of …/cancel.
  await refused(`task-status/${job}/cancel`, 404, "not_found", { token });
  await refused(`task-status/${job}/cancel`, 404, "not_found", { token, method: "DELETE" });
  await refused(`task-status/${job}/cancel`, 401, "unauthorized", {});
});

it("contract: credits — statement, prices, grants, and their refusals", async () => {
  const w = await setup();
  const token = w.owner.token;
  const st = await hit("credits", 200, { token });
  assert.equal(typeof st.body.balance, "number");
  const page = await hit("credits?limit=1", 200, { token });
  assert.ok(page.body.ledger.length <= 1);
  await refused("credits?limit=0", 400, "validation_failed", { token });
  await refused("credits?before=x", 400, "validation_failed", { token });
  await refused("credits", 401, "unauthorized", {});
  await refused("credits", 405, "method_not_allowed", { token, method: "POST", body: {} });
  await refused("credits", 405, "method_not_allowed", { method: "DELETE" });

  const prices = await hit("credits/prices", 200, { token });
  assert.equal(prices.body.text_to_model, 0);
  await refused("credits/prices", 401, "unauthorized", {});
  await refused("credits/prices", 405, "method_not_allowed", { token, method: "DELETE" });
  await hit("credits/prices", 200, { method: "PUT", service: true, body: { text_to_model: 0 } });
  const put = { method: "PUT", service: true };
  await refused("credits/prices", 400, "validation_failed", {
    ...put,
    body: { text_to_model: -1 },
  });
  await refused("credits/prices", 400, "validation_failed", { ...put, body: { teleport: 1 } });
  await refused("credits/prices", 400, "validation_failed", { ...put, body: {} });
  await refused("credits/prices", 400, "invalid_json", { ...put, raw: "{" });
  await refused("credits/prices", 413, "payload_too_large", { ...put, raw: OVERSIZED });
  await refused("credits/prices", 415, "unsupported_media_type", {
    ...put,
    raw: "{}",
    contentType: "text/plain",
  });
  await refused("credits/prices", 401, "unauthorized", {
    method: "PUT",
    token,
    body: { text_to_model: 1 },
  });

  const key = `oa-grant-${uid()}`;
  const grant = (body: Body, headers: Record<string, string> = { "idempotency-key": key }) => ({
    service: true,
    body,
    headers,
  });
  const g = { user_id: w.owner.id, amount: 5, reason: "contract test" };
  const first = await hit("credits/grant", 201, grant(g));
  const again = await hit("credits/grant", 200, grant(g));
  assert.deepEqual(
    [again.body.entry_id, again.headers.get("idempotent-replayed")],
    [first.body.entry_id, "true"],
  );
  await refused("credits/grant", 409, "idempotency_conflict", grant({ ...g, amount: 6 }));
  await refused(
    "credits/grant",
    404,
    "not_found",
    grant({ ...g, user_id: crypto.randomUUID() }, { "idempotency-key": `oa-${uid()}` }),
  );
  await refused("credits/grant", 400, "bad_request", grant(g, { "idempotency-key": "a b" }));
  await refused("credits/grant", 400, "validation_failed", grant({ ...g, amount: 0 }));
  await refused("credits/grant", 400, "invalid_json", { service: true, raw: "{" });
  await refused("credits/grant", 413, "payload_too_large", { service: true, raw: OVERSIZED });
  await refused("credits/grant", 415, "unsupported_media_type", {
    service: true,
    raw: JSON.stringify(g),
    contentType: "text/plain",
  });
  await refused("credits/grant", 401, "unauthorized", { token, body: g });
  await refused("credits/grant", 401, "unauthorized", { body: g });
  await refused("credits/grant", 405, "method_not_allowed", { service: true, method: "GET" });
});

it("contract: ops — operators (app_metadata, set with the secret key) 200; other users 403", async () => {
  const w = await setup();
  const op = await newUser("oa-operator");
  const set = await serviceClient().auth.admin.updateUserById(op.id, {
    app_metadata: { role: "operator" },
  });
  assert.equal(set.error, null);
  const { data } = await op.client.auth.refreshSession();
  const token = data.session!.access_token;
  const a = await hit("ops", 200, { token });
  assert.ok(Array.isArray(a.body.queue) && Array.isArray(a.body.failures));
  await refused("ops", 403, "forbidden", { token: w.owner.token });
  await refused("ops", 401, "unauthorized", {});
  await refused("ops", 401, "unauthorized", { headers: { apikey: stack.publishableKey } });
  await refused("ops", 405, "method_not_allowed", { token, method: "POST", body: {} });
  await refused("ops", 401, "unauthorized", { method: "DELETE" });
});

it("contract: process-jobs — only the project's services; 202 in the background, 200 with wait", async () => {
  const w = await setup();
  await refused("process-jobs", 401, "unauthorized", { method: "POST" });
  await refused("process-jobs", 401, "unauthorized", { method: "POST", token: w.owner.token });
  await refused("process-jobs", 401, "unauthorized", {
    method: "POST",
    headers: { apikey: stack.publishableKey },
  });
  const bg = await hit("process-jobs", 202, { method: "POST", service: true });
  assert.equal(bg.body.accepted, true);
  const waited = await hit("process-jobs?wait=true", 200, { method: "POST", service: true });
  assert.equal(typeof waited.body.claimed, "number");
  await refused("process-jobs", 405, "method_not_allowed", { method: "GET", service: true });
  await refused("process-jobs", 401, "unauthorized", { method: "GET" });
});

it("contract: the check refuses answers the document does not describe", async () => {
  await setup();
  const accepted = observed.find((o) => o.status === 202 && o.path.includes("text-to-model"));
  const status = observed.find((o) => o.status === 200 && o.path.includes("task-status"));
  assert.ok(accepted && status, "a 202 and a task-status 200 were seen");
  const mutate = (change: (doc: Record<string, Json>) => void) => {
    const doc = structuredClone(contract.doc);
    change(doc);
    return new Contract(doc);
  };
  const post = (d: Record<string, Json>) => d.paths["/functions/v1/generate-text-to-model"].post;
  const cases: [string, Contract, typeof accepted][] = [
    ["an undescribed status", mutate((d) => delete post(d).responses["202"]), accepted],
    [
      "an undescribed method",
      mutate((d) => {
        delete d.paths["/functions/v1/generate-text-to-model"].post;
      }),
      accepted,
    ],
    [
      "a missing required header",
      mutate((d) => {
        post(d).responses["202"].headers["X-Extra"] = {
          $ref: "#/components/headers/Location",
          required: true,
        };
      }),
      accepted,
    ],
    [
      "a header its schema refuses",
      mutate((d) => {
        d.components.headers.Location.schema = { type: "string", pattern: "^https://" };
      }),
      accepted,
    ],
    [
      "a field the schema does not have",
      mutate((d) => {
        delete d.components.schemas.TaskStatus.properties.cost;
        d.components.schemas.TaskStatus.required = d.components.schemas.TaskStatus.required
          .filter((k: string) => k !== "cost");
      }),
      status,
    ],
    [
      "a value outside the schema",
      mutate((d) => {
        d.components.schemas.Accepted.properties.status = { const: "complete" };
      }),
      accepted,
    ],
  ];
  for (const [what, c, o] of cases) {
    contract.assertions++;
    assert.throws(() => c.check(o), ContractError, what);
  }
  // The real document accepts both.
  contract.check(accepted);
  contract.check(status);
});

// Answers that cannot be provoked from outside without breaking a service: a server fault
// (500), Storage failing while an input is read (502/503) or a download link is signed (502),
// and a convert input readable in `models` but not in Storage (403).
const UNPROVOKED = new Set([
  ...["500", "502", "503"],
  "generateConvertModel 403",
]);

it("contract: every operation and every described status was exercised", async () => {
  await setup();
  const missing: string[] = [];
  for (const [path, item] of Object.entries<Record<string, Json>>(contract.doc.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) {
      const key = method === "x-other-methods" ? null : op.operationId;
      const statuses = Object.keys(method === "x-other-methods" ? op.responses : op.responses);
      const seen = key ? contract.seen.get(key) ?? new Set() : new Set(
        [...contract.seen.entries()].filter(([k]) => k.startsWith(`${path} `))
          .flatMap(([, s]) => [...s]),
      );
      for (const s of statuses) {
        if (UNPROVOKED.has(s) || UNPROVOKED.has(`${key} ${s}`)) continue;
        if (!seen.has(Number(s))) missing.push(`${key ?? `${path} (other methods)`} ${s}`);
      }
    }
  }
  // The next test files find no job of this one still running.
  await settle();
  contract.assertions++;
  assert.deepEqual(missing, []);
  console.log(`contract: ${contract.assertions} assertions, ${observed.length} answers checked`);
});
