// Reliability-suite harness: each chaos test runs its OWN stack on its own database (cloned from
// the run's template) with its own provider simulators, so faults never disturb the shared
// stack. The simulators sit behind a small in-process wrapper that (a) records which input bytes
// each Tripo upload token stands for, so every Tripo task can be traced back to the job that
// paid for it, and (b) can inject faults per request from a seeded PRNG (the soak).
import postgres from "postgres";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { type Stack, startStack } from "../../localstack/stack.ts";
import { createDatabase, dropDatabase, PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import type { Isolate } from "../../localstack/runtime/runner.ts";
import { createTripoSimulator } from "../../localstack/simulators/tripo.ts";
import { createOpenAISimulator } from "../../localstack/simulators/openai.ts";
import { brokenResponse } from "../../localstack/simulators/mod.ts";
import { inspectGlb, makePng } from "../../localstack/simulators/assets.ts";

export { inspectGlb, makePng };

export const SIM_TRIPO_KEY = "tsk_local_simulator";
const ADMIN_URL = Deno.env.get("STACK_ADMIN_DB_URL") ??
  "postgres://postgres@127.0.0.1:5432/postgres";

export function chaosTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deterministic PRNG (mulberry32), so a soak's fault schedule is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function sha(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d.subarray(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- simulators behind a recording, fault-injecting wrapper ----------------------------------

export type InjectedFault =
  | { kind: "status"; status: number; retryAfter?: number }
  | { kind: "reset" }
  | { kind: "delay"; ms: number }
  | { kind: "malformed" }
  | { kind: "truncate" }
  | { kind: "expired" };

export type Injector = (
  sim: "tripo" | "openai",
  method: string,
  path: string,
) => InjectedFault | null;

export interface Sims {
  tripoUrl: string;
  openaiUrl: string;
  tripo: ReturnType<typeof createTripoSimulator>;
  openai: ReturnType<typeof createOpenAISimulator>;
  /** upload token → sha of the uploaded bytes */
  uploads: Map<string, string>;
  injector: Injector | null;
  /** Faults the wrapper injected, by "sim kind". */
  injected: Map<string, number>;
  env(): Record<string, string>;
  close(): Promise<void>;
}

function injectedResponse(sim: "tripo" | "openai", f: { status: number; retryAfter?: number }) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (f.retryAfter !== undefined) headers["retry-after"] = String(f.retryAfter);
  const body = sim === "tripo"
    ? { code: f.status === 429 ? 2000 : 1000, message: "injected fault", suggestion: "" }
    : {
      error: {
        message: "injected fault",
        type: f.status === 429 ? "requests" : "server_error",
        param: null,
        code: f.status === 429 ? "rate_limit_exceeded" : null,
      },
    };
  return new Response(JSON.stringify(body), { status: f.status, headers });
}

function cut(res: Response): Response {
  // Send about half of the announced bytes, then break the connection.
  const total = Number(res.headers.get("content-length") ?? 0);
  const limit = Math.max(1, Math.floor(total / 2));
  let sent = 0;
  const reader = res.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent >= limit) {
        await reader.cancel().catch(() => {});
        c.error(new Error("injected truncation"));
        return;
      }
      const { value, done } = await reader.read();
      if (done) return c.close();
      const part = value.subarray(0, Math.min(value.length, limit - sent));
      sent += part.length;
      c.enqueue(part);
    },
  });
  return new Response(body, { status: res.status, headers: res.headers });
}

export function startSims(
  cfg: { tripo?: Record<string, unknown>; openai?: Record<string, unknown> } = {},
): Sims {
  const uploads = new Map<string, string>();
  const injected = new Map<string, number>();
  // deno-lint-ignore prefer-const
  let box: Sims;
  const count = (k: string) => injected.set(k, (injected.get(k) ?? 0) + 1);

  async function handle(which: "tripo" | "openai", req: Request): Promise<Response> {
    const sim = which === "tripo" ? box.tripo : box.openai;
    const url = new URL(req.url);
    if (url.pathname.startsWith("/__sim/")) return await sim.fetch(req);
    const f = box.injector?.(which, req.method, url.pathname) ?? null;
    if (f) count(`${which} ${f.kind}${f.kind === "status" ? ` ${f.status}` : ""}`);
    if (f?.kind === "status") {
      await req.body?.cancel().catch(() => {});
      return injectedResponse(which, f);
    }
    if (f?.kind === "expired") {
      await req.body?.cancel().catch(() => {});
      return new Response("<Error><Code>AccessDenied</Code></Error>", { status: 403 });
    }
    if (f?.kind === "delay") await sleep(f.ms);
    const isUpload = which === "tripo" && req.method === "POST" &&
      url.pathname.endsWith("/upload");
    const copy = isUpload ? req.clone() : null;
    const res = await sim.fetch(req);
    if (copy && res.ok) {
      try {
        const form = await copy.formData();
        const file = form.get("file") as File;
        const token = (await res.clone().json())?.data?.image_token;
        if (token) uploads.set(token, await sha(new Uint8Array(await file.arrayBuffer())));
      } catch { /* not attributable */ }
    }
    if (f?.kind === "reset") {
      await res.body?.cancel();
      return brokenResponse();
    }
    if (f?.kind === "malformed") {
      await res.body?.cancel();
      return new Response('{"code":0,"data":{"task_', {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    }
    if (f?.kind === "truncate" && res.body && res.headers.get("content-length")) return cut(res);
    return res;
  }

  const opts = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
  const ts = Deno.serve(opts, (req) => handle("tripo", req));
  const os = Deno.serve(opts, (req) => handle("openai", req));
  const tripoUrl = `http://127.0.0.1:${ts.addr.port}`;
  const openaiUrl = `http://127.0.0.1:${os.addr.port}`;
  box = {
    tripoUrl,
    openaiUrl,
    tripo: createTripoSimulator({
      publicUrl: tripoUrl,
      config: { queueMs: 100, runMs: 300, retryAfterSec: 1, ...cfg.tripo },
    }),
    openai: createOpenAISimulator({
      publicUrl: openaiUrl,
      config: { retryAfterSec: 1, ...cfg.openai },
    }),
    uploads,
    injector: null,
    injected,
    env: () => ({
      TRIPO_API_BASE_URL: `${tripoUrl}/v2/openapi`,
      OPENAI_BASE_URL: `${openaiUrl}/v1`,
      PROVIDER_ASSET_HOSTS: `127.0.0.1:${ts.addr.port},127.0.0.1:${os.addr.port}`,
    }),
    close: async () => {
      await Promise.all([ts.shutdown(), os.shutdown()]);
    },
  };
  return box;
}

// --- a private stack ------------------------------------------------------------------------

export interface ChaosStack {
  name: string;
  stack: Stack;
  /** What clients and functions use as SUPABASE_URL (the gateway, or a proxy in front). */
  url: string;
  gatewayUrl: string;
  dbUrl: string;
  dataDir: string;
  sql: postgres.Sql;
  sims: Sims;
  failDir: string;
  env: Record<string, string>;
  restart(extraEnv?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

export const FAST_ENV: Record<string, string> = {
  RATE_LIMIT_IMAGE_PER_MINUTE: "100000",
  RATE_LIMIT_MODEL_PER_MINUTE: "100000",
  RATE_LIMIT_REFINE_PER_MINUTE: "100000",
  USER_MAX_ACTIVE_JOBS: "100000",
  PROCESS_JOBS_BUDGET_MS: "20000",
  JOB_DEADLINE_SECONDS: "600",
  // Crashed invocations' jobs are taken over after 15 s instead of the default 60 s.
  JOB_LEASE_SECONDS: "15",
  LOG_LEVEL: "error",
};

export async function startChaosStack(opts: {
  label: string;
  env?: Record<string, string>;
  cronIntervalMs?: number;
  sims?: Sims;
  /** Put a proxy between the functions and the gateway (`SUPABASE_URL` → proxy). */
  proxy?: { url: string; port: number; setTarget(url: string): void };
}): Promise<ChaosStack> {
  const template = Deno.env.get("STACK_TEMPLATE_DB");
  if (!template) throw new Error("STACK_TEMPLATE_DB is not set: run through `npm run chaos`");
  const name = `makeit3d_t${Date.now()}_chaos_${opts.label.replace(/[^a-z0-9]/g, "")}`;
  const dbUrl = await createDatabase(ADMIN_URL, name, template);
  const dataDir = `${PROJECT_ROOT}.runs/storage-${name}`;
  const failDir = await Deno.makeTempDir({ prefix: "failpoints-" });
  const sims = opts.sims ?? startSims();
  const env: Record<string, string> = {
    ...FAST_ENV,
    ...sims.env(),
    FAILPOINT_DIR: failDir,
    ...opts.env,
  };
  const cs = {} as ChaosStack;
  const boot = async (extra: Record<string, string> = {}) => {
    const fe = { ...env, ...extra };
    if (opts.proxy) fe.SUPABASE_URL = opts.proxy.url;
    const stack = await startStack({
      port: 0,
      dbUrl,
      skipMigrations: true,
      dataDir,
      cronIntervalMs: opts.cronIntervalMs ?? 500,
      logFunctions: Deno.env.get("CHAOS_LOG") === "1",
      functionEnv: fe,
    });
    opts.proxy?.setTarget(stack.url);
    cs.stack = stack;
    cs.gatewayUrl = stack.url;
    cs.url = opts.proxy ? opts.proxy.url : stack.url;
  };
  await boot();
  Object.assign(cs, {
    name,
    dbUrl,
    dataDir,
    sims,
    failDir,
    env,
    sql: postgres(dbUrl, {
      max: 3,
      onnotice: () => {},
      connection: { application_name: "chaos-harness" },
    }),
    restart: async (extra?: Record<string, string>) => {
      await cs.stack.stop();
      await boot(extra);
    },
    stop: async () => {
      await cs.stack.stop().catch(() => {});
      await cs.sql.end({ timeout: 2 }).catch(() => {});
      if (!opts.sims) await sims.close();
      await dropDatabase(ADMIN_URL, name).catch(() => {});
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      await Deno.remove(failDir, { recursive: true }).catch(() => {});
    },
  });
  return cs;
}

// --- acting as the app -------------------------------------------------------------------------

export interface User {
  id: string;
  token: string;
  client: SupabaseClient;
}

const noSession = { auth: { persistSession: false, autoRefreshToken: false } };

export async function newUser(cs: ChaosStack, label = "u"): Promise<User> {
  const email = `${label}-${crypto.randomUUID().slice(0, 12)}@example.test`;
  const password = `pw-${crypto.randomUUID()}`;
  const admin = createClient(cs.gatewayUrl, cs.stack.keys.secretKey, noSession);
  const created = await admin.auth.admin.createUser({ email, password, email_confirm: true });
  if (created.error) throw created.error;
  const client = createClient(cs.gatewayUrl, cs.stack.keys.publishableKey, noSession);
  const { data, error } = await client.auth.signInWithPassword({ email, password });
  if (error || !data.session) throw error ?? new Error("no session");
  return { id: data.user!.id, token: data.session.access_token, client };
}

/** Uploads an input as the user; the URL names the origin the functions know (cs.url). */
export async function uploadInput(
  cs: ChaosStack,
  user: User,
  name: string,
  bytes: Uint8Array,
): Promise<string> {
  const path = `${user.id}/${name}`;
  const { error } = await user.client.storage.from("input-assets").upload(path, bytes, {
    contentType: "image/png",
    upsert: true,
  });
  if (error) throw error;
  return `${cs.url}/storage/v1/object/authenticated/input-assets/${path}`;
}

export type Kind =
  | "image_to_image"
  | "text_to_model"
  | "image_to_model"
  | "sketch_to_model"
  | "refine_model";

const FN: Record<Kind, string> = {
  image_to_image: "generate-image-to-image",
  text_to_model: "generate-text-to-model",
  image_to_model: "generate-image-to-model",
  sketch_to_model: "generate-sketch-to-model",
  refine_model: "generate-refine-model",
};

export async function callFn(
  cs: ChaosStack,
  user: User | null,
  path: string,
  init: { method?: string; body?: unknown } = {},
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { apikey: cs.stack.keys.publishableKey };
  if (user) headers.authorization = `Bearer ${user.token}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${cs.gatewayUrl}/functions/v1/${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, body };
}

/** Starts a job; answers its id (asserting the 202). */
export async function generate(
  cs: ChaosStack,
  user: User,
  kind: Kind,
  body: Record<string, unknown>,
): Promise<string> {
  for (let i = 0; i < 5; i++) {
    const r = await callFn(cs, user, FN[kind], { body });
    if (r.status === 202) return r.body.job_id as string;
    // The gateway answers 500 WORKER_ERROR when a function died under the request; retry.
    if (r.status >= 500) {
      await sleep(200);
      continue;
    }
    throw new Error(`${kind}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }
  throw new Error(`${kind}: could not enqueue`);
}

/** POST process-jobs as cron would (through the gateway). */
export async function kick(cs: ChaosStack, wait = false): Promise<number> {
  try {
    const res = await fetch(
      `${cs.gatewayUrl}/functions/v1/process-jobs${wait ? "?wait=true" : ""}`,
      {
        method: "POST",
        headers: { apikey: cs.stack.serviceKey, "content-type": "application/json" },
        body: "{}",
      },
    );
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

export interface JobRow {
  id: string;
  kind: Kind;
  provider: string;
  state: string;
  error_code: string | null;
  error_message: string | null;
  provider_task_id: string | null;
  result: { outputs?: { bucket: string; path: string }[] } | null;
  attempts: number;
}

export async function jobRows(cs: ChaosStack, ids: string[]): Promise<JobRow[]> {
  return await cs.sql<JobRow[]>`
    select id, kind, provider, state, error_code, error_message, provider_task_id, result, attempts
    from public.jobs where id = any(${ids}::uuid[])`;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Waits (bounded) until every job is terminal; `kickEveryMs` drives process-jobs when the
 * stack has no cron. Returns the rows; throws listing the stragglers on timeout.
 */
export async function waitTerminal(
  cs: ChaosStack,
  ids: string[],
  timeoutMs: number,
  kickEveryMs = 0,
): Promise<JobRow[]> {
  const deadline = Date.now() + timeoutMs;
  let lastKick = 0;
  let rows: JobRow[] = [];
  while (Date.now() < deadline) {
    rows = await jobRows(cs, ids);
    if (rows.length === ids.length && rows.every((r) => TERMINAL.has(r.state))) return rows;
    if (kickEveryMs && Date.now() - lastKick > kickEveryMs) {
      lastKick = Date.now();
      void kick(cs);
    }
    await sleep(250);
  }
  const open = rows.filter((r) => !TERMINAL.has(r.state));
  throw new Error(
    `${open.length + ids.length - rows.length} jobs not terminal after ${timeoutMs} ms: ` +
      JSON.stringify(open.slice(0, 5)),
  );
}

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

/** Whole-file check: a full GLB (header length = bytes, chunks add up) or a full PNG (IEND). */
export function validFile(path: string, bytes: Uint8Array): string | null {
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
        const bad = validFile(o.path, d.bytes);
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
    const bad = validFile(o.name, d.bytes);
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
}

export function newAttribution(): Attribution {
  return { prompts: new Map(), inputs: new Map(), drafts: new Map() };
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

/** Extra process-jobs isolates outside the gateway's routing, called directly by port. */
export async function extraWorkers(cs: ChaosStack, n: number): Promise<Isolate[]> {
  const runner = cs.stack.functions.get("process-jobs")!;
  const isolates = Array.from({ length: n }, () => runner.spawn());
  await Promise.all(isolates.map((i) => i.ready));
  return isolates;
}

export async function kickProcess(cs: ChaosStack, p: Isolate, wait = true) {
  try {
    const res = await fetch(
      `http://127.0.0.1:${p.port}/process-jobs${wait ? "?wait=true" : ""}`,
      {
        method: "POST",
        headers: { apikey: cs.stack.serviceKey, "content-type": "application/json" },
        body: "{}",
      },
    );
    return await res.json().catch(() => null);
  } catch {
    return null;
  }
}

/**
 * Test-only audit trigger on this test's own database: records every claim that takes over a
 * job whose previous lease was still live (two holders at once would be a double-process).
 */
export async function installLeaseAudit(cs: ChaosStack): Promise<void> {
  await cs.sql.unsafe(`
    create table if not exists public.chaos_lease_audit (
      job_id uuid, old_token uuid, new_token uuid, old_expires timestamptz, at timestamptz
    );
    create or replace function public.chaos_lease_audit_fn() returns trigger
    language plpgsql as $$
    begin
      if new.lease_token is not null and new.lease_token is distinct from old.lease_token then
        insert into public.chaos_lease_audit
        values (new.id, old.lease_token, new.lease_token, old.lease_expires_at, clock_timestamp());
      end if;
      return new;
    end $$;
    drop trigger if exists chaos_lease_audit on public.jobs;
    create trigger chaos_lease_audit before update on public.jobs
      for each row execute function public.chaos_lease_audit_fn();
  `);
}

/** Claims that took a job while another lease on it was still live. */
export async function leaseOverlaps(cs: ChaosStack): Promise<number> {
  const [r] = await cs.sql`
    select count(*)::int as n from public.chaos_lease_audit
    where old_token is not null and old_expires > at`;
  return r.n;
}

/** Time travel for crash tests: the dead worker's leases expire now, not after the lease. */
export async function expireLeases(cs: ChaosStack): Promise<number> {
  const r = await cs.sql`
    update public.jobs set lease_expires_at = now(), run_at = now()
    where state in ('queued', 'running') and lease_token is not null`;
  return r.count;
}

export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// --- a fault-injecting proxy in front of the gateway (Storage faults) -------------------------

export interface ProxyRule {
  /** Substring of "METHOD path" the rule applies to. */
  contains: string;
  mode: "fail" | "stall";
  /** For stall: how long the request is held (its body unread) before a 503. */
  stallMs?: number;
  times: number;
}

export function startProxy() {
  let target = "";
  const rules: ProxyRule[] = [];
  const hits = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const key = `${req.method} ${url.pathname}`;
    const rule = rules.find((r) => r.times !== 0 && key.includes(r.contains));
    if (rule) {
      if (rule.times > 0) rule.times--;
      hits.set(rule.mode, (hits.get(rule.mode) ?? 0) + 1);
      if (rule.mode === "stall") await sleep(rule.stallMs ?? 30_000);
      await req.body?.cancel().catch(() => {});
      return new Response(JSON.stringify({ statusCode: "503", error: "injected", message: "x" }), {
        status: 503,
        headers: { "content-type": "application/json" },
      });
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    try {
      const res = await fetch(`${target}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    } catch {
      return new Response("proxy upstream error", { status: 502 });
    }
  });
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    rules,
    hits,
    setTarget(u: string) {
      target = u;
    },
    close: () => server.shutdown(),
  };
}
