// The ops function (SPEC §10) on the running stack: the operator claim set with the secret key
// through Auth's admin API (never by the user), read from a freshly issued token; operators read
// the queue, failures and credits; everyone else is refused.
import assert from "node:assert/strict";
import { call, it, newUser, serviceClient, waitForJob } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";

it("ops: an operator (app_metadata set with the secret key) 200; a user 403; no token or a key 401", async () => {
  const user = await newUser("ops-op");
  // Before the claim: a plain user.
  const before = await call("ops", { token: user.token });
  assert.deepEqual([before.status, before.body.error.code], [403, "forbidden"]);

  // The user cannot grant themselves the claim: the admin API refuses a user token.
  const self = await fetch(`${stack.url}/auth/v1/admin/users/${user.id}`, {
    method: "PUT",
    headers: {
      apikey: stack.publishableKey,
      authorization: `Bearer ${user.token}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ app_metadata: { role: "operator" } }),
  });
  assert.equal(self.status, 403, "a user token cannot set app_metadata");
  assert.equal((await self.json()).error_code, "not_admin");

  // Nor through their own PUT /user; their user_metadata is theirs, and no claim.
  const put = await user.client.auth.updateUser({ data: { role: "operator", operator: true } });
  assert.equal(put.error, null);
  assert.equal(put.data.user?.user_metadata.role, "operator");
  const sneaky = await fetch(`${stack.url}/auth/v1/user`, {
    method: "PUT",
    headers: {
      apikey: stack.publishableKey,
      authorization: `Bearer ${user.token}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ app_metadata: { role: "operator" } }),
  });
  assert.equal(sneaky.status, 403);
  const { data: still } = await user.client.auth.refreshSession();
  assert.equal(still.session?.user.app_metadata.role, undefined);
  const metaOnly = await call("ops", { token: still.session!.access_token });
  assert.equal(metaOnly.status, 403, "user_metadata never makes an operator");

  const admin = serviceClient();
  const set = await admin.auth.admin.updateUserById(user.id, {
    app_metadata: { role: "operator" },
  });
  assert.equal(set.error, null);
  assert.equal(set.data.user?.app_metadata.role, "operator");
  // The claim rides in the token: the old token still says nothing, a refreshed one does.
  const stale = await call("ops", { token: user.token });
  assert.equal(stale.status, 403);
  const { data: fresh, error } = await user.client.auth.refreshSession();
  assert.equal(error, null);
  const token = fresh.session!.access_token;

  // Something to see: one job of this user to the end.
  const job = await call("generate-text-to-model", {
    token,
    body: { task_id: "ops-1", prompt: "a lamp for the operators" },
  });
  assert.equal(job.status, 202, JSON.stringify(job.body));
  assert.equal(
    (await waitForJob({ ...user, token }, job.body.job_id, "tripoai")).status,
    "complete",
  );

  const ok = await call("ops", { token });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.headers.get("cache-control"), "no-store");
  const done = ok.body.queue.find((q: { state: string; provider: string }) =>
    q.state === "succeeded" && q.provider === "tripo"
  );
  assert.ok(done && done.jobs >= 1, JSON.stringify(ok.body.queue));
  assert.ok(Array.isArray(ok.body.failures));
  assert.ok(Array.isArray(ok.body.credits) && ok.body.credits.length <= 50);
  assert.ok(Array.isArray(ok.body.credit_totals));

  // Everyone else.
  const other = await newUser("ops-plain");
  const plain = await call("ops", { token: other.token });
  assert.deepEqual([plain.status, plain.body.error.code], [403, "forbidden"]);
  const none = await call("ops", {});
  assert.deepEqual([none.status, none.body.error.code], [401, "unauthorized"]);
  for (const key of [stack.publishableKey, stack.secretKey]) {
    const r = await call("ops", { headers: { apikey: key } });
    assert.equal(r.status, 401, `apikey alone: ${JSON.stringify(r.body)}`);
  }
  const post = await call("ops", { token, body: {} });
  assert.equal(post.status, 405);

  // Demoted: the next token carries no claim.
  await admin.auth.admin.updateUserById(user.id, { app_metadata: { role: null } });
  const { data: demoted } = await user.client.auth.refreshSession();
  const after = await call("ops", { token: demoted.session!.access_token });
  assert.equal(after.status, 403);
});
