// The setup shared by the tests of Tripo convert_model in the simulator
// (tripo_convert_outputs, tripo_convert_requests, tripo_convert_outcomes): a simulator per test,
// calls under two API keys, the control API, and tasks made, finished and polled.
import assert from "node:assert/strict";
import { serveTripoSimulator } from "../../../localstack/simulators/tripo.ts";
import { simControlResponse as control } from "../_sim_control.ts";
export { control };

export const KEY = "tsk_convert_key_one";
export const OTHER = "tsk_convert_key_two";

export type Served = ReturnType<typeof serveTripoSimulator>;
export type Res = { status: number; headers: Headers; json: Record<string, unknown> };
export type Task = Record<string, unknown> & { status: string; output: Record<string, string> };

export async function withSim(fn: (s: Served) => Promise<void>, config = {}) {
  const s = serveTripoSimulator({ port: 0, config });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

export async function call(s: Served, method: string, path: string, body?: unknown, key = KEY) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${s.baseUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() } as Res;
}

export function assertError(r: Res, status: number, code: number) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json.code, code, JSON.stringify(r.json));
  assert.equal(typeof r.json.message, "string");
  assert.equal(typeof r.json.suggestion, "string");
  assert.match(r.headers.get("x-tripo-trace-id") ?? "", /^[0-9a-f-]{36}$/);
}

export async function create(s: Served, body: Record<string, unknown>, key = KEY): Promise<string> {
  const r = await call(s, "POST", "/task", body, key);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.code, 0);
  const id = (r.json.data as { task_id: string }).task_id;
  assert.match(id, /^[0-9a-f-]{36}$/);
  return id;
}

export async function finish(s: Served, id: string, outcome = "success") {
  const r = await control(s, `tasks/${id}`, { outcome, finish: true });
  assert.equal(r.status, 200);
}

/** A finished text_to_model task to convert. */
export async function model(s: Served, prompt = "a chair", key = KEY): Promise<string> {
  const id = await create(s, { type: "text_to_model", prompt }, key);
  await finish(s, id);
  return id;
}

export async function getTask(s: Served, id: string, key = KEY): Promise<Task> {
  const r = await call(s, "GET", `/task/${id}`, undefined, key);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.data as Task;
}

const FINAL = new Set(["success", "failed", "banned", "expired", "cancelled"]);

/** Polls until a final status (at most `max` polls); returns every view seen. */
export async function poll(s: Served, id: string, max = 400): Promise<Task[]> {
  const seen: Task[] = [];
  for (let i = 0; i < max; i++) {
    const t = await getTask(s, id);
    seen.push(t);
    if (FINAL.has(t.status)) return seen;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${id} not final after ${max} polls: ${seen.at(-1)?.status}`);
}

export async function download(url: string): Promise<{ res: Response; bytes: Uint8Array }> {
  const res = await fetch(url);
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}
