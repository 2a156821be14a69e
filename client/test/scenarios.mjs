// The client's end-to-end scenarios against a running local stack, written once and run under
// every runtime the package supports: Deno (tests/client/client.test.ts) and Node
// (test/node.mjs, spawned by that test). Only portable APIs here (fetch, URL, crypto), and the
// runtime's own supabase-js and the built client are passed in, so each runtime tests its own.
//
// host = { createClient, MakeIt3D, ApiError, url, publishableKey, serviceKey, realtime?,
//          png: Uint8Array, glb: Uint8Array }
//
// The scenarios are in scenarios/ (jobs, refusals, watch); this lists them, in the order they run.
import { jobs } from "./scenarios/jobs.mjs";
import { errors, ops } from "./scenarios/refusals.mjs";
import { watch } from "./scenarios/watch.mjs";

export const scenarios = { ...jobs, ...errors, ...watch, ...ops };

/** Runs every scenario in order; reports each as it ends. */
export async function runAll(host, report) {
  for (const [name, fn] of Object.entries(scenarios)) {
    try {
      await fn(host);
      report(name, null);
    } catch (e) {
      report(name, e);
    }
  }
}
