// The setup shared by the Tripo v2 simulator's tests (tripo_tasks, tripo_files_faults): a
// simulator per test, calls under two API keys, the control API, text tasks made and finished,
// and uploads.
import assert from "node:assert/strict";
import { serveTripoSimulator } from "../../../localstack/simulators/tripo.ts";
import { simControl as control } from "../_sim_control.ts";
export { control };

export const KEY = "tsk_test_key_one";
export const OTHER = "tsk_test_key_two";

export type Served = ReturnType<typeof serveTripoSimulator>;

export async function withSim(
  fn: (s: Served) => Promise<void>,
  opts: Parameters<typeof serveTripoSimulator>[0] = {},
) {
  const s = serveTripoSimulator({ port: 0, ...opts });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

export async function call(
  s: Served,
  method: string,
  path: string,
  body?: unknown,
  key: string | null = KEY,
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  let b: BodyInit | undefined;
  if (body instanceof FormData) b = body;
  else if (typeof body === "string") {
    b = body;
    headers["content-type"] = "application/json";
  } else if (body !== undefined) {
    b = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(`${s.baseUrl}${path}`, { method, headers, body: b });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

export function assertError(
  r: { status: number; headers: Headers; json: Record<string, unknown> },
  status: number,
  code: number,
) {
  assert.deepEqual(r.status, status, JSON.stringify(r.json));
  assert.deepEqual(r.json.code, code);
  assert.deepEqual(typeof r.json.message, "string");
  assert.deepEqual(typeof r.json.suggestion, "string");
  assert.match(r.headers.get("x-tripo-trace-id") ?? "", /^[0-9a-f-]{36}$/);
}

export async function createText(s: Served, prompt = "a red chair", key = KEY): Promise<string> {
  const r = await call(s, "POST", "/task", { type: "text_to_model", prompt }, key);
  assert.deepEqual(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.code, 0);
  const id = (r.json.data as { task_id: string }).task_id;
  assert.match(id, /^[0-9a-f-]{36}$/);
  return id;
}

export async function finish(s: Served, id: string, outcome = "success") {
  const r = await control(s, `tasks/${id}`, { outcome, finish: true });
  assert.deepEqual(r.status, outcome === "stuck" || outcome === "unknown" ? "success" : outcome);
}

export async function upload(s: Served, bytes: Uint8Array, name = "in.png", key = KEY) {
  const form = new FormData();
  form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  return await call(s, "POST", "/upload", form, key);
}
