// What every chaos run must leave behind: every job terminal with a clear reason, every stored
// object whole, and every paid provider call traced to exactly one job.
import { inspectGlb } from "../../../localstack/simulators/glb.ts";
import { inspectModel } from "../../../localstack/simulators/formats/inspect.ts";
import type { ConvertFormat } from "../../../localstack/simulators/formats/layout.ts";
import { SIM_TRIPO_KEY } from "../_harness.ts";
import { sha, type Sims } from "./sims.ts";
import type { ChaosStack, JobRow } from "./stack.ts";

// --- checks ----------------------------------------------------------------------------------

export async function download(cs: ChaosStack, bucket: string, path: string) {
  const key = cs.stack.keys.secretKey;
  const res = await fetch(
    `${cs.gatewayUrl}/storage/v1/object/authenticated/${bucket}/${
      path.split("/").map(encodeURIComponent).join("/")
    }`,
    { headers: { apikey: key, authorization: `Bearer ${key}` } },
  );
  return { status: res.status, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** The format of a conversion's output, by the extension the worker gives it. */
const CONVERTED: [string, ConvertFormat][] = [
  [".gltf.zip", "GLTF"],
  [".obj.zip", "OBJ"],
  [".usdz", "USDZ"],
  [".fbx", "FBX"],
  [".stl", "STL"],
  [".3mf", "3MF"],
];

/**
 * Whole-file check: a full GLB (header length = bytes, chunks add up), a full PNG (IEND), or a
 * conversion whole in its format (the format's inspector).
 */
export async function validFile(path: string, bytes: Uint8Array): Promise<string | null> {
  const converted = CONVERTED.find(([ext]) => path.endsWith(ext));
  if (converted) {
    const info = await inspectModel(converted[1], bytes);
    return info.ok ? null : `bad ${converted[1]}: ${info.error}`;
  }
  if (path.endsWith(".glb")) {
    const g = inspectGlb(bytes);
    return g.ok ? null : `bad GLB: ${g.error}`;
  }
  if (path.endsWith(".png")) {
    const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    if (bytes.length < 20 || !sig.every((b, i) => bytes[i] === b)) return "bad PNG signature";
    const tail = new TextDecoder().decode(bytes.subarray(bytes.length - 8, bytes.length - 4));
    return tail === "IEND" ? null : "PNG does not end with IEND (truncated)";
  }
  return `unexpected object ${path}`;
}

/**
 * Every complete job points at valid, full objects, and every object in the outputs bucket is
 * valid (no half-written object is readable). Returns the number of objects checked.
 */
export async function checkOutputs(cs: ChaosStack, rows: JobRow[]): Promise<number> {
  const problems: string[] = [];
  let checked = 0;
  for (const r of rows.filter((r) => r.state === "succeeded")) {
    const outs = r.result?.outputs ?? [];
    if (outs.length === 0) problems.push(`${r.id}: complete without outputs`);
    for (const o of outs) {
      const d = await download(cs, o.bucket, o.path);
      checked++;
      if (d.status !== 200) problems.push(`${r.id}: ${o.path} → HTTP ${d.status}`);
      else {
        const bad = await validFile(o.path, d.bytes);
        if (bad) problems.push(`${r.id}: ${o.path}: ${bad}`);
      }
    }
    const rowsBad = await cs.sql`
      select 1 from public.models where job_id = ${r.id} and status <> 'complete'
      union all
      select 1 from public.concept_images where job_id = ${r.id} and status <> 'complete'`;
    if (rowsBad.length) problems.push(`${r.id}: job succeeded but a row is not complete`);
  }
  const objects = await cs.sql<{ name: string }[]>`
    select name from storage.objects where bucket_id = ${cs.stack.outputsBucket}`;
  for (const o of objects) {
    const d = await download(cs, cs.stack.outputsBucket, o.name);
    checked++;
    if (d.status !== 200) continue;
    const bad = await validFile(o.name, d.bytes);
    if (bad) problems.push(`stray object ${o.name}: ${bad}`);
  }
  if (problems.length) throw new Error(`output problems:\n  ${problems.slice(0, 10).join("\n  ")}`);
  return checked;
}

/** Failed / cancelled rows carry a code and a message, and so do their asset rows. */
export async function checkFailureReasons(cs: ChaosStack, rows: JobRow[]): Promise<void> {
  for (const r of rows.filter((r) => r.state === "failed" || r.state === "cancelled")) {
    if (!r.error_code || !r.error_message) {
      throw new Error(`job ${r.id} ended ${r.state} without a clear reason`);
    }
    const open = await cs.sql`
      select 1 from public.models where job_id = ${r.id} and status <> 'failed'
      union all
      select 1 from public.concept_images where job_id = ${r.id} and status <> 'failed'`;
    if (open.length) throw new Error(`job ${r.id} ${r.state} but an asset row is not failed`);
  }
}

export interface Attribution {
  /** text prompt → job */
  prompts: Map<string, string>;
  /** sha of the input image → job */
  inputs: Map<string, string>;
  /** refine draft id → job */
  drafts: Map<string, string>;
  /** `<original task id>:<format>` of a conversion → job */
  converts: Map<string, string>;
}

export function newAttribution(): Attribution {
  return { prompts: new Map(), inputs: new Map(), drafts: new Map(), converts: new Map() };
}

export async function inputKey(bytes: Uint8Array): Promise<string> {
  return await sha(bytes);
}

/**
 * Paid Tripo tasks per job: every task the simulator created, traced to a job through its
 * input (prompt, uploaded image bytes, or draft id). Throws on a task nobody can account for.
 */
export async function tripoTasksPerJob(
  sims: Sims,
  attr: Attribution,
  strict = true,
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  sims.tripo.configure({ faults: [] });
  const list = await (await sims.tripo.fetch(new Request(`${sims.tripoUrl}/__sim/tasks`))).json();
  for (const t of list.tasks as { task_id: string }[]) {
    const res = await sims.tripo.fetch(
      new Request(`${sims.tripoUrl}/v2/openapi/task/${t.task_id}`, {
        headers: { authorization: `Bearer ${SIM_TRIPO_KEY}` },
      }),
    );
    // deno-lint-ignore no-explicit-any
    const input = (await res.json()).data.input as Record<string, any>;
    let job: string | undefined;
    if (typeof input.prompt === "string") job = attr.prompts.get(input.prompt);
    const token = input.file?.file_token ?? input.files?.[0]?.file_token;
    if (!job && token) job = attr.inputs.get(sims.uploads.get(token) ?? "");
    if (!job && input.draft_model_task_id) job = attr.drafts.get(input.draft_model_task_id);
    if (!job && input.original_model_task_id) {
      job = attr.converts.get(`${input.original_model_task_id}:${input.format}`);
    }
    if (!job && strict) throw new Error(`Tripo task ${t.task_id} cannot be traced to a job`);
    job ??= "?";
    out.set(job, [...(out.get(job) ?? []), t.task_id]);
  }
  return out;
}

/** Billed OpenAI edits per prompt (the simulator produced images for them). */
export async function openaiEditsPerPrompt(sims: Sims): Promise<Map<string, number>> {
  const r = await (await sims.openai.fetch(
    new Request(`${sims.openaiUrl}/__sim/requests?method=POST&path=/v1/images/edits`),
  )).json();
  const out = new Map<string, number>();
  // deno-lint-ignore no-explicit-any
  for (const e of r.requests as { status?: number; fault?: string; body?: any }[]) {
    const paid = e.status === 200 || e.fault === "reset" || e.fault === "malformed";
    if (!paid) continue;
    const p = String(e.body?.prompt ?? "");
    out.set(p, (out.get(p) ?? 0) + 1);
  }
  return out;
}

/** All POST /task requests the Tripo simulator saw (landed or not). */
export async function tripoPosts(
  sims: Sims,
  since = 0,
  // deno-lint-ignore no-explicit-any
): Promise<{ body?: any; status?: number; fault?: string }[]> {
  const r = await (await sims.tripo.fetch(
    new Request(`${sims.tripoUrl}/__sim/requests?since=${since}&method=POST&path=/v2/openapi/task`),
  )).json();
  return r.requests;
}

/** The end of the Tripo simulator's request log. */
export async function tripoMark(sims: Sims): Promise<number> {
  const r = await (await sims.tripo.fetch(
    new Request(`${sims.tripoUrl}/__sim/requests?since=999999999`),
  )).json();
  return r.last ?? 0;
}

/**
 * The credit invariants after a run (SPEC §11): every account is what its ledger says; no job
 * was charged or released twice; every job that ended and held credits settled them exactly once
 * (charged if it succeeded, released otherwise); no reservation of an ended job is still held;
 * nothing went below zero. Returns how many jobs held credits.
 */
export async function checkCredits(cs: ChaosStack): Promise<number> {
  const problems: string[] = [];
  const accounts = await cs.sql<{ user_id: string; ok: boolean; available: number }[]>`
    select a.user_id,
      a.granted = coalesce(sum(l.amount) filter (where l.entry = 'grant'), 0)
      and a.charged = coalesce(sum(l.amount) filter (where l.entry = 'charge'), 0)
      and a.reserved = coalesce(sum(l.amount) filter (where l.entry = 'reserve'), 0)
        - coalesce(sum(l.amount) filter (where l.entry in ('charge', 'release')), 0) as ok,
      a.granted - a.charged - a.reserved as available
    from public.credit_accounts a left join public.credit_ledger l on l.user_id = a.user_id
    group by a.user_id, a.granted, a.charged, a.reserved`;
  for (const a of accounts) {
    if (!a.ok) problems.push(`account ${a.user_id} differs from its ledger`);
    if (a.available < 0) problems.push(`account ${a.user_id} below zero`);
  }
  const jobs = await cs.sql<{ id: string; state: string; ends: string[]; reserves: number }[]>`
    select j.id, j.state,
      coalesce(array_agg(l.entry order by l.id) filter (where l.entry in ('charge', 'release')), '{}') as ends,
      count(*) filter (where l.entry = 'reserve')::int as reserves
    from public.jobs j join public.credit_ledger l on l.job_id = j.id
    group by j.id, j.state`;
  for (const j of jobs) {
    if (j.reserves !== 1) problems.push(`job ${j.id}: ${j.reserves} reservations`);
    const terminal = ["succeeded", "failed", "cancelled"].includes(j.state);
    if (j.ends.length > 1) problems.push(`job ${j.id}: settled ${j.ends.join(", ")}`);
    if (terminal && j.ends.length === 0) {
      problems.push(`job ${j.id} ${j.state} still holds credits`);
    }
    if (!terminal && j.ends.length) problems.push(`job ${j.id} ${j.state} settled early`);
    const want = j.state === "succeeded" ? "charge" : "release";
    if (terminal && j.ends[0] && j.ends[0] !== want) {
      problems.push(`job ${j.id} ${j.state} was ${j.ends[0]}d`);
    }
  }
  if (problems.length) throw new Error(`credit problems:\n  ${problems.slice(0, 10).join("\n  ")}`);
  return jobs.length;
}

/** Sets prices through SQL (the stack's own database) and grants `amount` to each user. */
export async function priceAndFund(
  cs: ChaosStack,
  prices: Record<string, number>,
  users: string[],
  amount: number,
): Promise<void> {
  await cs.sql`select bff.set_credit_prices(${cs.sql.json(prices)})`;
  for (const u of users) {
    await cs
      .sql`select * from bff.grant_credits(${u}::uuid, ${amount}, 'chaos', ${`chaos-${crypto.randomUUID()}`})`;
  }
}
