// The contract test (openapi_contract.test.ts, which imports this): every function but the
// generation ones — task-status (reads, refusals, cancelling a finished job), credits
// (statement, prices, grants), ops (operators only) and process-jobs (services only).
import assert from "node:assert/strict";
import { it, newUser, serviceClient } from "../../_helpers/app.ts";
import { stack } from "../../_helpers/stack.ts";
import { hit, OVERSIZED, refused } from "../_driver.ts";
import { type Body, setup, uid } from "../_world.ts";

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
