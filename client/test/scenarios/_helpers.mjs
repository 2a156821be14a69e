// What the client's scenarios (jobs.mjs, refusals.mjs, watch.mjs; listed by ../scenarios.mjs)
// share: users signed in on a supabase-js client of the host runtime with a MakeIt3D on it, the
// project's services (prices, grants), the ApiError check, and checks of what was made.
import assert from "node:assert/strict";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const noSession = { persistSession: false, autoRefreshToken: false };
const uid = () => crypto.randomUUID().slice(0, 12);
const GLB_MAGIC = "glTF";
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47];

export async function until(pred, what, ms = 30_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export function supabaseClient(host, key) {
  return host.createClient(host.url, key, {
    auth: noSession,
    ...(host.realtime ? { realtime: host.realtime } : {}),
  });
}
export const appClient = (host) => supabaseClient(host, host.publishableKey);

/** A new confirmed user, signed in on its own supabase-js client, and a MakeIt3D on it. */
export async function signedIn(host, label, m3dOpts = {}, url = host.url) {
  const admin = supabaseClient(host, host.serviceKey);
  const email = `client-${label}-${uid()}@example.test`;
  const password = `pw-${crypto.randomUUID()}`;
  const created = await admin.auth.admin.createUser({ email, password, email_confirm: true });
  if (created.error) throw created.error;
  const supabase = url === host.url
    ? appClient(host)
    : supabaseClient({ ...host, url }, host.publishableKey);
  const { data, error } = await supabase.auth.signInWithPassword({ email, password });
  if (error || !data.session) throw error ?? new Error("no session");
  const m3d = new host.MakeIt3D({ supabase, ...m3dOpts });
  return {
    id: data.user.id,
    supabase,
    m3d,
    async close() {
      await supabase.removeAllChannels();
      await supabase.realtime.disconnect();
    },
  };
}

/** The project's services (the secret key): prices and grants. */
async function service(host, method, path, body, headers = {}) {
  const res = await fetch(`${host.url}/functions/v1/${path}`, {
    method,
    headers: { apikey: host.serviceKey, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Runs `fn` with the given prices, then puts back the ones it changed. */
export async function withPrices(host, prices, fn) {
  const before = await service(host, "GET", "credits/prices").catch(() => undefined);
  const old = {};
  if (before) { for (const k of Object.keys(prices)) old[k] = before[k] ?? 0; }
  await service(host, "PUT", "credits/prices", prices);
  try {
    return await fn();
  } finally {
    await service(host, "PUT", "credits/prices", Object.keys(old).length ? old : zero(prices));
  }
}
const zero = (p) => Object.fromEntries(Object.keys(p).map((k) => [k, 0]));

export async function grant(host, userId, amount) {
  return await service(host, "POST", "credits/grant", {
    user_id: userId,
    amount,
    reason: "client test",
  }, { "idempotency-key": `client-${crypto.randomUUID()}` });
}

/** Awaits `p`, expecting an ApiError; returns it. */
export async function refused(host, p, status, code) {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof host.ApiError, `not an ApiError: ${e}`);
    assert.equal(e.status, status, `${e.code}: ${e.message}`);
    if (code) assert.equal(e.code, code, e.message);
    assert.equal(typeof e.message, "string");
    assert.ok(e.message.length > 0);
    return e;
  }
  assert.fail(`expected ${status} ${code ?? ""}, but the call succeeded`);
}

export async function bytesOf(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return new Uint8Array(await res.arrayBuffer());
}
export const isGlb = (b) => new TextDecoder().decode(b.slice(0, 4)) === GLB_MAGIC;
export const isPng = (b) => PNG_MAGIC.every((x, i) => b[i] === x);

export function checkAccepted(acc, taskId) {
  assert.match(acc.job_id, /^[0-9a-f-]{36}$/);
  assert.equal(acc.celery_task_id, acc.job_id);
  assert.equal(acc.task_id, taskId);
  assert.equal(acc.status, "pending");
}

export const storageUrl = (host, o) =>
  `${host.url}/storage/v1/object/authenticated/${o.bucket}/${o.path}`;
