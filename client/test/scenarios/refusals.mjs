// The client's scenarios (../scenarios.mjs) of refusals: every error class arrives as an
// ApiError; ops refuses a plain user and serves an operator.
import assert from "node:assert/strict";
import { appClient, refused, signedIn, supabaseClient, withPrices } from "./_helpers.mjs";

export const errors = {
  async "every error class arrives as an ApiError: 400, 401, 402, 403, 404, 409, 429, network, timeout"(
    host,
  ) {
    const u = await signedIn(host, "err");
    const other = await signedIn(host, "err-other");
    try {
      const v = await refused(
        host,
        u.m3d.textToModel({ task_id: "not ok!", prompt: "" }),
        400,
        "validation_failed",
      );
      assert.ok(Array.isArray(v.details) && v.details.length > 0, "details list the issues");
      await refused(host, u.m3d.status("not-a-uuid"), 400, "bad_request");

      const anon = new host.MakeIt3D({ supabase: appClient(host) });
      await refused(host, anon.textToModel({ task_id: "x", prompt: "x" }), 401, "unauthorized");
      await refused(host, anon.credits(), 401, "unauthorized");

      await withPrices(host, { text_to_model: 1000 }, async () => {
        const e = await refused(
          host,
          u.m3d.textToModel({ task_id: "c-poor", prompt: "an expensive teapot" }),
          402,
          "insufficient_credits",
        );
        assert.deepEqual(e.details, { balance: 0, price: 1000 });
      });

      const theirs = await other.m3d.uploadInput(host.png, { kind: "image" });
      await refused(
        host,
        u.m3d.imageToImage({ task_id: "c-403", prompt: "not mine", input_image_asset_url: theirs }),
        403,
        "asset_not_readable",
      );
      await refused(host, u.m3d.status(crypto.randomUUID()), 404, "not_found");
      await refused(host, u.m3d.cancel(crypto.randomUUID()), 404, "not_found");

      // 409 `conflict` and `idempotency_conflict` are in the cancel and idempotency scenarios.
      const burst = [];
      for (let i = 0; i < 4; i++) {
        burst.push(await u.m3d.textToModel({ task_id: `c-burst-${i}`, prompt: `burst ${i}` }));
      }
      const r = await refused(
        host,
        u.m3d.textToModel({ task_id: "c-burst-4", prompt: "one too many" }),
        429,
        "rate_limited",
      );
      assert.ok(r.retryAfter >= 1 && r.retryAfter <= 60, `retryAfter ${r.retryAfter}`);
      for (const b of burst) await u.m3d.cancel(b.job_id).catch(() => {}); // may have finished

      const offline = new host.MakeIt3D({
        supabase: u.supabase,
        functionsUrl: "http://127.0.0.1:9/functions/v1",
      });
      const n = await refused(host, offline.prices(), 0, "network_error");
      assert.match(n.message, /could not be reached/);

      const pending = await u.m3d.textToImage({
        task_id: "c-wait",
        prompt: "a slow one [sim:slow=3000]",
      });
      await refused(host, u.m3d.waitFor(pending.job_id, { timeoutMs: 1 }), 0, "timeout");
      const ctrl = new AbortController();
      const waiting = u.m3d.waitFor(pending.job_id, { signal: ctrl.signal });
      ctrl.abort();
      await assert.rejects(waiting, (e) => e?.name === "AbortError");
      await u.m3d.cancel(pending.job_id).catch(() => {});
    } finally {
      await u.close();
      await other.close();
    }
  },
};

export const ops = {};
ops[
  "ops: a plain user is refused with 403; an operator (app_metadata, secret key) reads it"
] = async (host) => {
  const u = await signedIn(host, "ops");
  try {
    await refused(host, u.m3d.ops(), 403, "forbidden");
    const admin = supabaseClient(host, host.serviceKey);
    const set = await admin.auth.admin.updateUserById(u.id, { app_metadata: { role: "operator" } });
    assert.equal(set.error, null);
    // The claim rides in the token: the client reads the refreshed session on its next call.
    const { error } = await u.supabase.auth.refreshSession();
    assert.equal(error, null);
    const ops = await u.m3d.ops();
    for (const k of ["queue", "failures", "credits", "credit_totals"]) {
      assert.ok(Array.isArray(ops[k]), k);
    }
    assert.equal(typeof ops.generated_at, "string");
  } finally {
    await u.close();
  }
};
