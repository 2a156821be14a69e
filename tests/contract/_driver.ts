// Drives the running stack as any client would (raw HTTP through the gateway) and holds every
// answer to openapi.json: each response is checked by the Contract (ajv) before the test looks
// at it, and the test then asserts the status it meant to provoke.
import assert from "node:assert/strict";
import { activeTripoTasks, endTripoTasks, simControl } from "../_helpers/app.ts";
import { Contract, loadDocument, type Observed } from "../_helpers/openapi.ts";
import { stack } from "../_helpers/stack.ts";

export const contract = new Contract(await loadDocument());
/** Every answer seen, for the tests that hold them to a changed document. */
export const observed: Observed[] = [];

export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
}

export interface Hit {
  method?: string;
  token?: string | null;
  /** The secret key in `apikey` (service routes). */
  service?: boolean;
  body?: unknown;
  raw?: BodyInit;
  contentType?: string;
  headers?: Record<string, string>;
}

/** One call; its answer is validated against the document, then its status asserted. */
export async function hit(path: string, expect: number, opts: Hit = {}): Promise<Answer> {
  const method = opts.method ??
    (opts.body === undefined && opts.raw === undefined ? "GET" : "POST");
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.service) headers.apikey = stack.serviceKey;
  let body: BodyInit | undefined = opts.raw;
  if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
  const url = `/functions/v1/${path}`;
  const res = await fetch(`${stack.url}${url}`, { method, headers, body });
  const text = await res.text();
  const o: Observed = { method, path: url, status: res.status, headers: res.headers, text };
  observed.push(o);
  contract.check(o);
  contract.assertions++;
  assert.equal(res.status, expect, `${method} ${url}: ${text.slice(0, 400)}`);
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch { /* the contract already refused a non-JSON body where one is described */ }
  const jobId = (parsed as { job_id?: unknown } | null)?.job_id;
  if (res.status === 202 && opts.token && typeof jobId === "string") {
    started.set(jobId, opts.token);
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** An error answer: its status and code. */
export async function refused(
  path: string,
  status: number,
  code: string,
  opts: Hit = {},
): Promise<Answer> {
  const a = await hit(path, status, opts);
  contract.assertions++;
  assert.equal(a.body?.error?.code, code, `${path}: ${JSON.stringify(a.body)}`);
  return a;
}

/** Polls task-status (each answer checked too) until the job ends. */
export async function waitDone(token: string, jobId: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await hit(`task-status/${jobId}`, 200, { token });
    if (a.body.status === "complete" || a.body.status === "failed") return a.body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${a.body.status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Jobs this file started (job id → its owner's token), to let them end before the next step. */
const started = new Map<string, string>();

/** Waits until every job started so far has ended (so none is caught by a changed simulator). */
export async function settle(): Promise<void> {
  for (const [job, token] of started) {
    await waitDone(token, job);
    started.delete(job);
  }
}

/**
 * Every new Tripo task stays running (the simulator's `stuck`) during fn. Afterwards those tasks
 * are ended in the simulator too: cancelling a job does not end its task at Tripo, and held
 * tasks would fill the per-key concurrency cap for every later test.
 */
export async function withStuckTripo<T>(fn: () => Promise<T>): Promise<T> {
  const since = new Date(Date.now() - 1000).toISOString();
  await simControl("tripo", "config", { stuck: true });
  try {
    return await fn();
  } finally {
    await simControl("tripo", "config", { stuck: false });
    await endTripoTasks((t) => t.created >= since);
    const left = await activeTripoTasks();
    assert.deepEqual(left, [], "no Tripo task is left holding the simulator's cap");
  }
}

/** Sets prices with the secret key (checked like any other answer). */
export async function setPrices(prices: Record<string, number>): Promise<void> {
  await hit("credits/prices", 200, { method: "PUT", service: true, body: prices });
}

/** A body just over the functions' 64 KiB limit. */
export const OVERSIZED = JSON.stringify({ task_id: "big", prompt: "x".repeat(70 * 1024) });
