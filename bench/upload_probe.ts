// Diagnostic for the large-model figure, run as its own process (like process-jobs): uploads
// the same simulator GLB into Storage twice — once handing fetch the download's own body
// stream, once through a pass-through TransformStream (as process-jobs does to verify bytes) —
// and prints the seconds each took as JSON.
const { PROBE_SIM, PROBE_STORAGE, PROBE_KEY, PROBE_BYTES } = Deno.env.toObject();

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

async function upload(name: string, wrap: boolean): Promise<number> {
  const res = await fetch(await glbUrl());
  const body = wrap ? res.body!.pipeThrough(new TransformStream()) : res.body!;
  const t0 = performance.now();
  const up = await fetch(`${PROBE_STORAGE}/storage/v1/object/generated-assets/bench/${name}`, {
    method: "POST",
    headers: {
      apikey: PROBE_KEY,
      authorization: `Bearer ${PROBE_KEY}`,
      "content-type": "model/gltf-binary",
      "x-upsert": "true",
    },
    body,
  });
  await up.body?.cancel();
  if (!up.ok) throw new Error(`upload ${name}: ${up.status}`);
  return (performance.now() - t0) / 1000;
}

const native = await upload("probe-native.glb", false);
const transformed = await upload("probe-transform.glb", true);
console.log(JSON.stringify({ native_s: native, transform_s: transformed }));
