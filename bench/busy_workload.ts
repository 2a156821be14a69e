// The background work of the busy-worker scenario (sections/busy_tail.ts): real provider-
// simulated jobs — text-to-model with 5 MB GLBs (download + Storage write), image-to-model
// from an input image in Storage (download + Tripo upload + 5 MB GLB), image-to-image through
// OpenAI at gpt-image-1's 1024×1024 (the simulator makes the PNG; process-jobs decodes and
// stores it) — and what each suspect costs the thread it runs on, measured here in isolation.
import { createHash } from "node:crypto";
import { glbStream } from "../localstack/simulators/glb.ts";
import { makePng } from "../localstack/simulators/images.ts";
import type postgres from "postgres";
import type { StackHandle } from "./context.ts";

export const GLB_BYTES = 5_000_000;
export const IMAGE_SIDE = 1024;
const INPUT_SIDE = 512;

/** Uploads one input image per user (the first `n`) as that user; returns their URLs. */
export async function uploadInputs(h: StackHandle, users: string[], n: number): Promise<string[]> {
  const png = makePng(INPUT_SIDE, INPUT_SIDE, 3);
  const urls: string[] = [];
  for (let i = 0; i < n; i++) {
    const path = `${users[i]}/busy-input.png`;
    const r = await fetch(`${h.stack.url}/storage/v1/object/input-assets/${path}`, {
      method: "POST",
      headers: {
        apikey: h.stack.keys.publishableKey,
        authorization: `Bearer ${h.tokens[i]}`,
        "content-type": "image/png",
        "x-upsert": "true",
      },
      body: png,
    });
    if (!r.ok) throw new Error(`input upload: ${r.status} ${await r.text()}`);
    await r.body?.cancel();
    urls.push(`${h.stack.url}/storage/v1/object/authenticated/input-assets/${path}`);
  }
  return urls;
}

/**
 * `count` background POSTs in a fixed mix: of every 10, 6 text-to-model, 2 image-to-model,
 * 2 image-to-image. (The GLB size and the image side are set in the simulators' config.)
 */
export function feederRequests(h: StackHandle, inputs: string[], count: number, tag: string) {
  const out: { url: string; headers: Record<string, string>; body: string }[] = [];
  for (let i = 0; i < count; i++) {
    const u = i % inputs.length;
    const task_id = `${tag}-${i}`;
    const kind = [0, 0, 1, 0, 2, 0, 0, 1, 0, 2][i % 10];
    const [fn, body] = kind === 0
      ? ["generate-text-to-model", { task_id, prompt: `busy ${i}` }]
      : kind === 1
      ? ["generate-image-to-model", { task_id, input_image_asset_urls: [inputs[u]] }]
      : ["generate-image-to-image", {
        task_id,
        prompt: `busy ${i}`,
        input_image_asset_url: inputs[u],
      }];
    out.push({ url: h.fnUrl(fn as string), headers: h.authHeaders(u), body: JSON.stringify(body) });
  }
  return out;
}

/** Main-thread ms of each suspect, once, measured here (median of 3). */
export async function suspectCosts(dir: string): Promise<Record<string, number>> {
  const med = async (fn: () => Promise<void> | void) => {
    const v: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await fn();
      v.push(performance.now() - t);
    }
    return v.sort((a, b) => a - b)[1];
  };
  return {
    // What the OpenAI simulator does per image: make the PNG and base64 it into the JSON.
    openai_png_1024: await med(() => {
      const b = makePng(IMAGE_SIDE, IMAGE_SIDE, 1);
      let s = "";
      for (let i = 0; i < b.length; i += 0x8000) {
        s += String.fromCharCode(...b.subarray(i, i + 0x8000));
      }
      btoa(s);
    }),
    // What the Tripo simulator does per model download: produce the GLB stream.
    tripo_glb_5mb: await med(async () => {
      for await (const _ of glbStream(GLB_BYTES).stream) { /* drain */ }
    }),
    // What Storage does per 5 MB write: md5 and writeSync per chunk.
    storage_write_5mb: await med(async () => {
      const f = await Deno.open(`${dir}/probe`, { write: true, create: true, truncate: true });
      const h = createHash("md5");
      for await (const c of glbStream(GLB_BYTES).stream) {
        h.update(c);
        let off = 0;
        while (off < c.byteLength) off += f.writeSync(c.subarray(off));
      }
      f.close();
      h.digest("hex");
    }),
  };
}

/** What the providers and Storage did between `from` and `to` (epoch ms). */
export async function workDone(h: StackHandle, sql: postgres.Sql, from: number, to: number) {
  const inWindow = async (base: string, q: string) => {
    const log = await (await fetch(`${base}/__sim/requests?${q}`)).json() as {
      requests: { time: string }[];
    };
    return log.requests.filter((e) => {
      const t = Date.parse(e.time);
      return t >= from && t <= to;
    }).length;
  };
  const [st] = await sql<{ n: number; bytes: number }[]>`
    select count(*)::int as n, coalesce(sum((metadata->>'size')::bigint), 0)::float8 as bytes
    from storage.objects
    where bucket_id = 'generated-assets'
      and created_at between to_timestamp(${from / 1000}) and to_timestamp(${to / 1000})`;
  const [jobs] = await sql<{ n: number }[]>`
    select count(*)::int as n from public.jobs
    where finished_at between to_timestamp(${from / 1000}) and to_timestamp(${to / 1000})`;
  return {
    openai_edits: await inWindow(h.stack.openaiUrl, "method=POST&path=/v1/images/edits"),
    tripo_glb_downloads: await inWindow(h.stack.tripoUrl, "method=GET&path=/files/*.glb"),
    tripo_uploads: await inWindow(h.stack.tripoUrl, "method=POST&path=/v2/openapi/upload"),
    tripo_submits: await inWindow(h.stack.tripoUrl, "method=POST&path=/v2/openapi/task"),
    storage_writes: st.n,
    storage_mb: st.bytes / 1e6,
    jobs_finished: jobs.n,
  };
}
