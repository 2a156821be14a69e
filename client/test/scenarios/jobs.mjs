// The client's scenarios (../scenarios.mjs) of jobs that run: prices, credits, uploads and the 2D
// images; a watched text-to-model job and every model endpoint from it; a cancel; idempotency,
// also across the client's own retry of a lost response.
import assert from "node:assert/strict";
import {
  bytesOf,
  checkAccepted,
  grant,
  isGlb,
  isPng,
  refused,
  signedIn,
  sleep,
  storageUrl,
  withPrices,
} from "./_helpers.mjs";

export const jobs = {
  async "prices, credits, uploads and 2D images (image-to-image, text-to-image)"(host) {
    const u = await signedIn(host, "img");
    try {
      const prices = await u.m3d.prices();
      for (const k of ["image_to_image", "text_to_model", "convert_model"]) {
        assert.equal(typeof prices[k], "number", k);
      }
      const st = await u.m3d.credits({ limit: 5 });
      assert.deepEqual(
        [typeof st.balance, typeof st.reserved, typeof st.available, Array.isArray(st.ledger)],
        ["number", "number", "number", true],
      );
      const url = await u.m3d.uploadInput(host.png, { kind: "image" });
      assert.match(
        url,
        new RegExp(
          `^${host.url}/storage/v1/object/authenticated/input-assets/${u.id}/image-.+\\.png$`,
        ),
      );
      const named = await u.m3d.uploadInput(host.png.buffer.slice(0), {
        kind: "image",
        name: "photo.png",
      });
      assert.equal(
        named,
        `${host.url}/storage/v1/object/authenticated/input-assets/${u.id}/photo.png`,
      );

      const model = await u.m3d.uploadInput(host.glb, { kind: "model" });
      assert.match(model, /\/input-assets\/[^/]+\/model-[^/]+\.glb$/);
      const stored = await u.supabase.storage.from("input-assets").download(
        model.slice(model.indexOf("/input-assets/") + "/input-assets/".length),
      );
      assert.equal(stored.error, null);
      assert.equal(stored.data.size, host.glb.length, "the model is stored whole");
      assert.equal(stored.data.type, "model/gltf-binary");

      const i2i = await u.m3d.imageToImage({
        task_id: "c-i2i",
        prompt: "a cosy cabin",
        input_image_asset_url: url,
        n: 2,
      });
      checkAccepted(i2i, "c-i2i");
      const t2i = await u.m3d.textToImage({ task_id: "c-t2i", prompt: "a lighthouse" });
      checkAccepted(t2i, "c-t2i");
      for (const [acc, n] of [[i2i, 2], [t2i, 1]]) {
        const done = await u.m3d.waitFor(acc.job_id, { timeoutMs: 60_000 });
        assert.equal(done.status, "complete", JSON.stringify(done));
        assert.equal(done.service, "openai");
        assert.equal(done.asset_urls.length, n);
        for (const a of done.asset_urls) assert.ok(isPng(await bytesOf(a)), "a PNG");
        const again = await u.m3d.status(acc.job_id, { service: "openai" });
        assert.equal(again.status, "complete");
      }
    } finally {
      await u.close();
    }
  },

  async "a watched text-to-model job to completion, then every model endpoint from it"(host) {
    const u = await signedIn(host, "model");
    try {
      const acc = await u.m3d.textToModel({ task_id: "c-t2m", prompt: "a small red teapot" });
      checkAccepted(acc, "c-t2m");
      const updates = [];
      const final = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          reject(new Error(`no end: ${JSON.stringify(updates.map((j) => [j.seq, j.status]))}`));
        }, 60_000);
        const stop = u.m3d.watch(acc.job_id, (job) => {
          updates.push(job);
          if (job.status === "complete" || job.status === "failed") {
            clearTimeout(timer);
            resolve(job);
          }
        }, { service: "tripoai", onError: (e, fatal) => fatal && reject(e) });
      });
      await sleep(300); // nothing may follow the terminal update
      const seqs = updates.map((j) => j.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in seq order");
      assert.equal(new Set(seqs).size, seqs.length, "no update twice");
      assert.equal(updates.filter((j) => j.status === "complete").length, 1, "the end once");
      assert.equal(updates.at(-1), final);
      assert.equal(final.status, "complete", JSON.stringify(final));
      assert.equal(final.progress, 100);
      assert.ok(final.asset_url, "the terminal update carries the signed URL");
      assert.ok(isGlb(await bytesOf(final.asset_url)), "a GLB");
      const model = final.outputs[0];
      assert.ok(isGlb(await bytesOf(await u.m3d.signedUrl(model, 60))), "signedUrl serves it");

      const modelUrl = storageUrl(host, model);
      const image = await u.m3d.uploadInput(host.png, { kind: "image" });
      const sketch = await u.m3d.uploadInput(host.png, { kind: "sketch" });
      const jobs = [
        await u.m3d.imageToModel({ task_id: "c-i2m", input_image_asset_urls: [image] }),
        await u.m3d.sketchToModel({ task_id: "c-s2m", input_sketch_asset_url: sketch }),
        await u.m3d.refineModel({ task_id: "c-t2m", input_model_asset_url: modelUrl }),
        await u.m3d.convertModel({
          task_id: "c-t2m",
          input_model_asset_url: modelUrl,
          format: "STL",
        }),
      ];
      for (const acc2 of jobs) {
        const done = await u.m3d.waitFor(acc2.job_id, { timeoutMs: 60_000, service: "tripoai" });
        assert.equal(done.status, "complete", JSON.stringify(done));
        assert.ok(done.asset_url);
      }
      const conv = await u.m3d.status(jobs[3].job_id);
      assert.equal(conv.kind, "convert_model");
      assert.equal(conv.source_task_id, acc.job_id);
    } finally {
      await u.close();
    }
  },

  async "a cancelled job ends failed (cancelled), once; cancelling it again is 409"(host) {
    const u = await signedIn(host, "cancel");
    try {
      const acc = await u.m3d.textToModel({
        task_id: "c-cancel",
        prompt: "a stuck kettle [sim:stuck]",
      });
      const updates = [];
      const ended = u.m3d.waitFor(acc.job_id, {
        timeoutMs: 30_000,
        onUpdate: (j) => updates.push(j),
      });
      const c = await u.m3d.cancel(acc.job_id);
      assert.deepEqual(c, { task_id: acc.job_id, status: "failed", cancelled: true });
      const final = await ended;
      assert.equal(final.status, "failed");
      assert.equal(final.error_code, "cancelled");
      assert.equal(updates.filter((j) => j.status === "failed").length, 1);
      await refused(host, u.m3d.cancel(acc.job_id), 409, "conflict");
    } finally {
      await u.close();
    }
  },

  async "idempotency: a key per call; the same key is the same job, also across the client's retry"(
    host,
  ) {
    const u = await signedIn(host, "idem");
    try {
      const body = { task_id: "c-idem", prompt: "one paid job only" };
      const key = `k-${crypto.randomUUID()}`;
      const a = await u.m3d.textToImage(body, { idempotencyKey: key });
      const b = await u.m3d.textToImage(body, { idempotencyKey: key });
      assert.equal(b.job_id, a.job_id, "same key, same job");
      const other = await u.m3d.textToImage(body);
      assert.notEqual(other.job_id, a.job_id, "no key given: a fresh one per call");
      const e = await refused(
        host,
        u.m3d.textToImage({ ...body, prompt: "another body" }, { idempotencyKey: key }),
        409,
        "idempotency_conflict",
      );
      assert.equal(e.name, "ApiError");

      // The first response is lost after the BFF took the job: the client's own retry carries the
      // same key, gets the same job back, and one reservation is all the ledger holds.
      await withPrices(host, { text_to_image: 1 }, async () => {
        await grant(host, u.id, 5);
        const keys = [];
        let replayed = null;
        let calls = 0;
        const lossy = async (input, init) => {
          keys.push(new Headers(init.headers).get("idempotency-key"));
          const res = await fetch(input, init);
          if (++calls === 1) {
            await res.body?.cancel();
            throw new TypeError("connection reset by peer (test)");
          }
          replayed = res.headers.get("idempotent-replayed");
          return res;
        };
        const flaky = new host.MakeIt3D({ supabase: u.supabase, fetch: lossy });
        const acc = await flaky.textToImage({ task_id: "c-retry", prompt: "a retried lamp" });
        assert.equal(keys.length, 2, "one retry");
        assert.ok(keys[0] && keys[0] === keys[1], `the retry reused the key: ${keys}`);
        assert.equal(replayed, "true", "the BFF answered the retry with the first job");
        const st = await u.m3d.credits();
        const reserves = st.ledger.filter((l) => l.entry === "reserve");
        assert.deepEqual(reserves.map((r) => r.job_id), [acc.job_id], "one job, held once");
        await u.m3d.waitFor(acc.job_id, { timeoutMs: 60_000 });
      });
    } finally {
      await u.close();
    }
  },
};
