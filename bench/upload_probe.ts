// Reference and diagnostic for the large-model figure, run as a fresh process of its own (as
// process-jobs' isolate is one): uploads the simulator's GLB into Storage once, handing fetch
// either the download's own body stream (PROBE_MODE=native: the runtime pipes it without any
// chunk reaching JavaScript) or the body through one pass-through TransformStream
// (PROBE_MODE=transform: every chunk becomes a JavaScript Uint8Array, as when process-jobs checks
// the bytes). Prints the seconds the upload took and the process's peak RSS growth (VmHWM after,
// against VmRSS just before the download) as JSON.
const { PROBE_SIM, PROBE_STORAGE, PROBE_KEY, PROBE_BYTES, PROBE_MODE } = Deno.env.toObject();

async function glbUrl(): Promise<string> {
  const h = { authorization: "Bearer tsk_local_simulator", "content-type": "application/json" };
  const created = await (await fetch(`${PROBE_SIM}/v2/openapi/task`, {
    method: "POST",
    headers: h,
    body: JSON.stringify({ type: "text_to_model", prompt: `probe [sim:glb=${PROBE_BYTES}]` }),
  })).json();
  const task = await (await fetch(`${PROBE_SIM}/v2/openapi/task/${created.data.task_id}`, {
    headers: h,
  })).json();
  return task.data.output.model;
}

function statusKb(field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(Deno.readTextFileSync("/proc/self/status"));
  return m ? Number(m[1]) : NaN;
}

const url = await glbUrl();
const rssBeforeKb = statusKb("VmRSS");
const res = await fetch(url);
const body = PROBE_MODE === "transform" ? res.body!.pipeThrough(new TransformStream()) : res.body!;
const t0 = performance.now();
const up = await fetch(
  `${PROBE_STORAGE}/storage/v1/object/generated-assets/bench/probe-${PROBE_MODE}.glb`,
  {
    method: "POST",
    headers: {
      apikey: PROBE_KEY,
      authorization: `Bearer ${PROBE_KEY}`,
      "content-type": "model/gltf-binary",
      "x-upsert": "true",
    },
    body,
  },
);
await up.body?.cancel();
if (!up.ok) throw new Error(`upload ${PROBE_MODE}: ${up.status}`);
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ seconds, rss_growth_mib: (statusKb("VmHWM") - rssBeforeKb) / 1024 }));
