// Acting as the app: users signed in through supabase-js, inputs uploaded to Storage with
// storage-js, functions called through the gateway, and the simulators' control APIs.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import postgres from "postgres";
import { stack } from "./stack.ts";

export { makeGlb } from "../../localstack/simulators/glb.ts";
export { makePng } from "../../localstack/simulators/images.ts";

const noSession = { auth: { persistSession: false, autoRefreshToken: false } };

/** Which stack a helper acts on: the run's shared stack by default, or one a test started. */
export interface Target {
  url: string;
  publishableKey: string;
  secretKey: string;
}
export const sharedStack = (): Target => ({
  url: stack.url,
  publishableKey: stack.publishableKey,
  secretKey: stack.secretKey,
});

export function serviceClient(t: Target = sharedStack()): SupabaseClient {
  return createClient(t.url, t.secretKey, noSession);
}

export interface TestUser {
  id: string;
  email: string;
  token: string;
  client: SupabaseClient;
}

export async function newUser(label = "user", t: Target = sharedStack()): Promise<TestUser> {
  const email = `${label}-${crypto.randomUUID().slice(0, 12)}@example.test`;
  const password = `pw-${crypto.randomUUID()}`;
  const admin = serviceClient(t);
  const created = await admin.auth.admin.createUser({ email, password, email_confirm: true });
  if (created.error) throw created.error;
  const client = createClient(t.url, t.publishableKey, noSession);
  const { data, error } = await client.auth.signInWithPassword({ email, password });
  if (error || !data.session) throw error ?? new Error("no session");
  return { id: data.user!.id, email, token: data.session.access_token, client };
}

/**
 * Uploads to `input-assets/{uid}/{name}` as the user and returns the object's URL, on `origin`
 * (the stack's own URL unless a test puts a proxy in front).
 */
export async function uploadInput(
  user: Pick<TestUser, "id" | "client">,
  name: string,
  bytes: Uint8Array,
  contentType = "image/png",
  kind: "authenticated" | "public" | "sign" = "authenticated",
  origin = stack.url,
): Promise<string> {
  const path = `${user.id}/${name}`;
  const { error } = await user.client.storage.from("input-assets").upload(path, bytes, {
    contentType,
    upsert: true,
  });
  if (error) throw error;
  return `${origin}/storage/v1/object/${kind}/input-assets/${path}`;
}

export interface CallResult {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
  headers: Headers;
}

/** A raw call through the gateway (for asserting statuses and headers exactly). */
export async function call(
  fn: string,
  opts: {
    token?: string | null;
    method?: string;
    body?: unknown;
    rawBody?: BodyInit;
    headers?: Record<string, string>;
  } = {},
  t: Target = sharedStack(),
): Promise<CallResult> {
  const headers: Record<string, string> = { apikey: t.publishableKey, ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: BodyInit | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(`${t.url}/functions/v1/${fn}`, {
    method: opts.method ?? (body === undefined ? "GET" : "POST"),
    headers,
    body,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

export interface StatusBody {
  task_id: string;
  client_task_id: string;
  status: "pending" | "processing" | "complete" | "failed";
  progress: number;
  asset_url: string | null;
  asset_urls: string[];
  error: string | null;
  error_code: string | null;
}

/** Polls task-status (as the app does) until the job is complete or failed. */
export async function waitForJob(
  user: TestUser,
  jobId: string,
  service: "openai" | "tripoai",
  timeoutMs = 60_000,
): Promise<StatusBody> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusBody | undefined;
  while (Date.now() < deadline) {
    const { data, error } = await user.client.functions.invoke(
      `task-status/${jobId}?service=${service}`,
      { method: "GET", headers: { authorization: `Bearer ${user.token}` } },
    );
    if (error) throw error;
    last = data as StatusBody;
    if (last.status === "complete" || last.status === "failed") return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`job ${jobId} still ${last?.status} after ${timeoutMs} ms`);
}

// --- simulators ------------------------------------------------------------------------------

export type Sim = "tripo" | "openai";
const simUrl = (s: Sim) => (s === "tripo" ? stack.tripoUrl : stack.openaiUrl);

export async function simControl(s: Sim, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${simUrl(s)}/__sim/${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`sim ${s} ${path}: ${res.status} ${await res.text()}`);
  return await res.json();
}

/**
 * Ends every Tripo task the simulator keeps running forever (`[sim:stuck]` or `stuck` config) and
 * returns how many. A job cancelled at the BFF leaves its task running at Tripo, which has no
 * cancel, and each such task holds a slot of the account's concurrency cap: tests that make them
 * end them, or every later Tripo job of the suite waits on 429s.
 */
export async function endStuckTripoTasks(): Promise<number> {
  return await endTripoTasks((t) => t.outcome === "stuck");
}

export interface SimTripoTask {
  task_id: string;
  status: string;
  outcome: string;
  /** ISO time the simulator created it. */
  created: string;
}

/** The Tripo simulator's tasks that have not ended (each holds a slot of the cap). */
export async function activeTripoTasks(): Promise<SimTripoTask[]> {
  const { tasks } = await simControl("tripo", "tasks") as { tasks: SimTripoTask[] };
  return tasks.filter((t) => ["queued", "running", "unknown"].includes(t.status));
}

/** Ends (as cancelled) the simulator's active Tripo tasks `pick` selects; returns how many. */
export async function endTripoTasks(pick: (t: SimTripoTask) => boolean): Promise<number> {
  const ending = (await activeTripoTasks()).filter(pick);
  for (const t of ending) {
    await simControl("tripo", `tasks/${t.task_id}`, { outcome: "cancelled", finish: true });
  }
  return ending.length;
}

export interface SimRequest {
  seq: number;
  /** When the request arrived (ISO). */
  time: string;
  method: string;
  path: string;
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** Requests a simulator saw after `since` (a seq from `simMark`). */
export async function simRequests(s: Sim, since: number, filter = ""): Promise<SimRequest[]> {
  const r = await simControl(s, `requests?since=${since}${filter}`) as { requests: SimRequest[] };
  return r.requests;
}

/** The current end of a simulator's request log. */
export async function simMark(s: Sim): Promise<number> {
  const r = await simControl(s, "requests?since=999999999") as { last: number };
  return r.last ?? 0;
}

// --- database (read-only checks) ------------------------------------------------------------

let sqlPool: postgres.Sql | undefined;
export function db(): postgres.Sql {
  sqlPool ??= postgres(stack.dbUrl, { max: 2, onnotice: () => {} });
  return sqlPool;
}
export async function closeDb(): Promise<void> {
  await sqlPool?.end({ timeout: 2 });
  sqlPool = undefined;
}

/** Deno.test for integration tests: shared pools and servers outlive single tests. */
export function it(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}
