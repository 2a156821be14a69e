// A step whose outcome cannot be written (the database or the pooler away, its connection cut)
// hands its lease back, so the job is due again as soon as the database answers instead of
// when the lease runs out (jobs/worker.ts `handBack`). The database here is a fake whose writes
// fail as a cut connection does; the step itself is one the worker ends without a provider call
// (a stored request that does not parse).
import assert from "node:assert/strict";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";
import type { ClaimedJob, Db } from "../../supabase/functions/_shared/db.ts";
import type { Storage } from "../../supabase/functions/_shared/storage/adapter.ts";
import { createWorker } from "../../supabase/functions/_shared/jobs/worker.ts";

const config = loadConfig({
  SUPABASE_URL: "https://ref.supabase.co",
  SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_unit"}',
  SUPABASE_SECRET_KEYS: '{"default":"sb_secret_unit"}',
  SUPABASE_DB_URL: "postgres://unused",
  LOG_LEVEL: "error",
});

const job: ClaimedJob = {
  job_id: crypto.randomUUID(),
  lease_token: crypto.randomUUID(),
  user_id: crypto.randomUUID(),
  kind: "text_to_model",
  provider: "tripo",
  client_task_id: "t-1",
  request: { op: "not a known request" },
  provider_task_id: null,
  submitted_at: null,
  attempts: 0,
  progress: 0,
};

const cut = () =>
  Promise.reject(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));

/** A database whose job writes all fail; releaseLeases fails `releaseFailures` times first. */
function fakeDb(releaseFailures: number, writesFail = true) {
  const calls: string[] = [];
  const released: string[][] = [];
  let releaseTries = 0;
  const db = {
    failJob: () => {
      calls.push("failJob");
      return writesFail ? cut() : Promise.resolve(true);
    },
    retryJob: () => {
      calls.push("retryJob");
      return writesFail ? cut() : Promise.resolve("retrying");
    },
    heartbeat: () => Promise.resolve(true),
    releaseLeases: (tokens: string[]) => {
      calls.push("releaseLeases");
      if (releaseTries++ < releaseFailures) return cut();
      released.push(tokens);
      return Promise.resolve(tokens.length);
    },
  } as unknown as Db;
  return { db, calls, released, releaseTries: () => releaseTries };
}

const worker = (db: Db) => createWorker({ config, db, storage: {} as Storage, log: () => {} });

Deno.test("worker: a step whose outcome cannot be written hands its lease back", async () => {
  const f = fakeDb(0);
  await assert.rejects(worker(f.db).step(job), /ECONNRESET/);
  // The outcome was tried (fail, then the retry fromError falls back to), then the lease given up.
  assert.deepEqual(f.calls, ["failJob", "retryJob", "releaseLeases"]);
  assert.deepEqual(f.released, [[job.lease_token]]);
});

Deno.test("worker: the hand-back is tried again while the database stays away", async () => {
  const f = fakeDb(2);
  const t0 = performance.now();
  await assert.rejects(worker(f.db).step(job), /ECONNRESET/);
  assert.equal(f.releaseTries(), 3);
  assert.deepEqual(f.released, [[job.lease_token]]);
  // Two failures mean the waits before the second and third tries (250 ms + 1 s) were taken.
  assert.ok(performance.now() - t0 >= 1_200, "the tries were not spaced");
});

Deno.test("worker: a step whose outcome is written keeps no hand-back", async () => {
  const f = fakeDb(0, false);
  assert.equal(await worker(f.db).step(job), "failed");
  assert.deepEqual(f.calls, ["failJob"]);
  assert.deepEqual(f.released, []);
});
