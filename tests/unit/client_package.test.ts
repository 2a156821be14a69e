// The typed client (client/) without a stack: its generated types match openapi.json, its source
// uses nothing a phone or a browser lacks, errors map to ApiError, network retries keep their
// Idempotency-Key, and the watch's rules (seq order, the end once and from task-status, polling
// while the channel is down, a read after every rejoin) on a scripted channel.
import assert from "node:assert/strict";
import { ApiError, parseRetryAfter } from "../../client/src/errors.ts";
import { createTransport } from "../../client/src/http.ts";
import type { HubListener } from "../../client/src/hub.ts";
import { newIdempotencyKey } from "../../client/src/ids.ts";
import type { TaskStatus } from "../../client/src/types.ts";
import { type JobUpdate, watchJob } from "../../client/src/watch.ts";
import { CLIENT_DIR, ensureClientBuilt, ensureClientDeps } from "../_helpers/client_pkg.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean, what: string, ms = 5_000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// --- the package -------------------------------------------------------------------------------

async function gen(args: string[]): Promise<{ ok: boolean; out: string }> {
  const out = await new Deno.Command(`${CLIENT_DIR}/node_modules/.bin/openapi-typescript`, {
    args,
    cwd: CLIENT_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { ok: out.success, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("client: src/generated/openapi.ts is what openapi-typescript makes of openapi.json", async () => {
  await ensureClientDeps();
  const pkg = JSON.parse(await Deno.readTextFile(`${CLIENT_DIR}/package.json`));
  const check: string = pkg.scripts["gen:check"];
  assert.match(check, /--check/);
  const args = check.split(/\s+/).slice(1);
  const r = await gen(args);
  assert.ok(r.ok, `stale: run \`npm run gen\` in client/\n${r.out}`);
  // The check can fail: a document with one more field is not what the file was made from.
  const doc = JSON.parse(await Deno.readTextFile(`${CLIENT_DIR}/../openapi.json`));
  doc.components.schemas.Accepted.properties.extra_field = { type: "string" };
  const tmp = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(doc));
    const stale = await gen(args.map((a) => (a === "../openapi.json" ? tmp : a)));
    assert.equal(stale.ok, false, "a changed document must fail the check");
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("client: the source runs anywhere (no Node, Deno or DOM-only API; runtime imports are relative)", async () => {
  const bad: string[] = [];
  for await (const e of Deno.readDir(`${CLIENT_DIR}/src`)) {
    if (!e.isFile || !e.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(`${CLIENT_DIR}/src/${e.name}`);
    const lines = text.split("\n").length;
    if (lines > 400) bad.push(`${e.name}: ${lines} lines`);
    const code = text.replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
    for (
      const [what, re] of [
        ["node: import", /from\s+"node:/],
        ["require", /\brequire\(/],
        ["process", /\bprocess\./],
        ["Buffer", /\bBuffer\b/],
        ["Deno", /\bDeno\./],
        ["window/document", /\b(window|document|localStorage)\./],
        ["URL (incomplete on React Native)", /\bnew URL\(|\bURLSearchParams\b/],
      ] as const
    ) {
      if (re.test(code)) bad.push(`${e.name}: ${what}`);
    }
    for (const m of code.matchAll(/^\s*import\s+(type\s+)?[^"]*from\s+"([^"]+)"/gm)) {
      if (!m[2].startsWith("./") && !m[1]) bad.push(`${e.name}: runtime import of ${m[2]}`);
    }
  }
  assert.deepEqual(bad, []);
  const pkg = JSON.parse(await Deno.readTextFile(`${CLIENT_DIR}/package.json`));
  assert.equal(pkg.type, "module");
  assert.equal(pkg.name, "@makeit3d/client");
  assert.ok(pkg.peerDependencies["@supabase/supabase-js"]);
  assert.equal(pkg.dependencies, undefined, "nothing but the peer at run time");
});

Deno.test("client: the built package imports only its own files, by .js specifiers (its .d.ts too)", async () => {
  await ensureClientBuilt();
  const bad: string[] = [];
  let files = 0;
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".js") || e.name.endsWith(".d.ts")) {
        files++;
        const text = await Deno.readTextFile(p);
        // Static `from "x"` and dynamic `import("x")`; not storage.from("bucket").
        for (const m of text.matchAll(/\bfrom\s+"([^"]+)"|\bimport\s*\(\s*"([^"]+)"\s*\)/g)) {
          const spec = m[1] ?? m[2];
          const dts = e.name.endsWith(".d.ts");
          const own = spec.startsWith("./") || spec.startsWith("../");
          if (!own && !(dts && spec === "@supabase/supabase-js")) bad.push(`${e.name}: ${spec}`);
          else if (own && !spec.endsWith(".js")) bad.push(`${e.name}: ${spec}`);
        }
      }
    }
  };
  await walk(`${CLIENT_DIR}/dist`);
  assert.ok(files >= 16, `built files: ${files}`);
  assert.deepEqual(bad, []);
});

Deno.test("client: idempotency keys without crypto.randomUUID (Hermes) are v4 UUIDs", () => {
  const only = { getRandomValues: (a: Uint8Array) => crypto.getRandomValues(a) };
  const keys = new Set(Array.from({ length: 50 }, () => newIdempotencyKey(only)));
  assert.equal(keys.size, 50);
  for (const k of keys) {
    assert.match(k, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
});

// --- errors ------------------------------------------------------------------------------------

Deno.test("client: every error body becomes an ApiError with code, status, details and retryAfter", async () => {
  const bff = await ApiError.fromResponse(
    new Response(
      JSON.stringify({
        error: {
          code: "insufficient_credits",
          message: "Costs 5",
          details: { balance: 1, price: 5 },
        },
      }),
      { status: 402 },
    ),
  );
  assert.deepEqual(
    [bff.name, bff.code, bff.status, bff.message, bff.details, bff.retryAfter],
    ["ApiError", "insufficient_credits", 402, "Costs 5", { balance: 1, price: 5 }, undefined],
  );
  assert.ok(bff instanceof Error);
  const limited = await ApiError.fromResponse(
    new Response(JSON.stringify({ error: { code: "rate_limited", message: "wait" } }), {
      status: 429,
      headers: { "retry-after": "17" },
    }),
  );
  assert.equal(limited.retryAfter, 17);
  const platform = await ApiError.fromResponse(
    new Response(JSON.stringify({ code: "BOOT_ERROR", message: "Function failed to start" }), {
      status: 503,
    }),
  );
  assert.deepEqual([platform.code, platform.status], ["BOOT_ERROR", 503]);
  const html = await ApiError.fromResponse(new Response("<h1>Bad gateway</h1>", { status: 502 }));
  assert.deepEqual([html.code, html.status], ["http_502", 502]);
  assert.match(html.message, /502/);
  assert.equal(parseRetryAfter("Wed, 02 Dec 2026 00:00:30 GMT", Date.UTC(2026, 11, 2)), 30);
  assert.equal(parseRetryAfter("soon"), undefined);
});

// --- the transport -----------------------------------------------------------------------------

function transport(fetch: (url: string, init: RequestInit) => Promise<Response>) {
  return createTransport({
    functionsUrl: "http://bff.test/functions/v1/",
    apiKey: "sb_publishable_x",
    accessToken: () => Promise.resolve("user-token"),
    fetch,
  });
}

Deno.test("client: a network failure is retried with the same Idempotency-Key; an answer never is", async () => {
  const seen: Headers[] = [];
  let n = 0;
  const t = transport((url, init) => {
    seen.push(new Headers(init.headers));
    assert.equal(url, "http://bff.test/functions/v1/generate-text-to-model");
    if (++n === 1) return Promise.reject(new TypeError("connection reset"));
    return Promise.resolve(Response.json({ job_id: "j" }, { status: 202 }));
  });
  const r = await t.call<{ job_id: string }>("generate-text-to-model", {
    method: "POST",
    body: { task_id: "t", prompt: "p" },
    idempotencyKey: "key-1",
  });
  assert.equal(r.job_id, "j");
  assert.deepEqual(seen.map((h) => h.get("idempotency-key")), ["key-1", "key-1"]);
  assert.equal(seen[1].get("authorization"), "Bearer user-token");
  assert.equal(seen[1].get("apikey"), "sb_publishable_x");
  assert.equal(seen[1].get("content-type"), "application/json");

  const urls: string[] = [];
  await transport((url) => {
    urls.push(url);
    return Promise.resolve(Response.json({}));
  }).call("task-status/j-1", {
    method: "GET",
    query: { service: "tripoai", limit: undefined, q: "a b&c" },
  });
  assert.deepEqual(urls, [
    "http://bff.test/functions/v1/task-status/j-1?service=tripoai&q=a%20b%26c",
  ]);

  let calls = 0;
  const refusing = transport(() => {
    calls++;
    return Promise.resolve(
      Response.json({ error: { code: "conflict", message: "no" } }, { status: 409 }),
    );
  });
  await assert.rejects(
    refusing.call("x", { method: "POST", body: {} }),
    (e) => e instanceof ApiError && e.status === 409,
  );
  assert.equal(calls, 1, "a refusal is an answer: not retried");

  let down = 0;
  const offline = transport(() => {
    down++;
    return Promise.reject(new TypeError("ECONNREFUSED"));
  });
  await assert.rejects(
    offline.call("x", { method: "GET" }),
    (e) => e instanceof ApiError && e.code === "network_error" && e.status === 0,
  );
  assert.equal(down, 3, "three attempts in all");

  const ctrl = new AbortController();
  ctrl.abort();
  await assert.rejects(
    transport(() => Promise.reject(new DOMException("aborted", "AbortError"))).call("x", {
      method: "GET",
      signal: ctrl.signal,
    }),
    (e) => e instanceof DOMException && e.name === "AbortError",
  );
});

// --- the watch ---------------------------------------------------------------------------------

function view(
  seq: number,
  status: TaskStatus["status"],
  extra: Partial<TaskStatus> = {},
): TaskStatus {
  return {
    task_id: "job-1",
    client_task_id: "ws",
    kind: "text_to_model",
    service: "tripoai",
    status,
    progress: status === "complete" ? 100 : seq * 10,
    queue_position: 0,
    eta_seconds: null,
    outputs: [],
    error: null,
    error_code: null,
    cost: 0,
    source_task_id: null,
    seq,
    updated_at: new Date(0).toISOString(),
    asset_url: null,
    asset_urls: [],
    conversions: [],
    ...extra,
  };
}

/** A scripted channel and task-status: the test says what the server holds and sends. */
function scripted() {
  const s = {
    server: view(0, "pending"),
    reads: 0,
    failReads: 0,
    listener: undefined as HubListener | undefined,
    left: 0,
    deps: {
      fetchStatus: async () => {
        s.reads++;
        await sleep(1);
        if (s.failReads > 0) {
          s.failReads--;
          throw new ApiError({ code: "network_error", status: 0, message: "down" });
        }
        return structuredClone(s.server);
      },
      listen: (l: HubListener) => {
        s.listener = l;
        return Promise.resolve(() => {
          s.left++;
        });
      },
    },
  };
  return s;
}

Deno.test("client watch: events in seq order only, the end once and from task-status, then it leaves", async () => {
  const s = scripted();
  const got: JobUpdate[] = [];
  watchJob(s.deps, "job-1", (j) => got.push(j), { pollIntervalMs: 3_600_000 });
  await until(() => s.listener !== undefined && got.length === 1, "the first read");
  s.listener!.onStatus("SUBSCRIBED");
  await until(() => s.reads === 2, "the read after the join");
  const ev = (seq: number, status: TaskStatus["status"]) => {
    const { asset_url: _a, asset_urls: _b, conversions: _c, ...jobView } = view(seq, status);
    s.listener!.onEvent(jobView);
  };
  ev(2, "processing");
  ev(1, "processing"); // late: dropped
  ev(2, "processing"); // duplicate: dropped
  s.listener!.onEvent({ ...view(9, "processing"), task_id: "another-job" });
  ev(3, "processing");
  s.server = view(4, "complete", {
    asset_url: "https://signed/glb",
    asset_urls: ["https://signed/glb"],
  });
  ev(4, "complete");
  ev(4, "complete");
  await until(() => got.some((j) => j.status === "complete"), "the end");
  ev(5, "failed"); // nothing after the end
  await sleep(20);
  assert.deepEqual(got.map((j) => [j.seq, j.status]), [
    [0, "pending"],
    [2, "processing"],
    [3, "processing"],
    [4, "complete"],
  ]);
  assert.equal((got.at(-1) as TaskStatus).asset_url, "https://signed/glb", "read from task-status");
  assert.equal(s.left, 1, "left the channel");
});

Deno.test("client watch: polls while the channel is down, stops polling once it is back, reads after every rejoin", async () => {
  const s = scripted();
  const got: JobUpdate[] = [];
  watchJob(s.deps, "job-1", (j) => got.push(j), { pollIntervalMs: 50 });
  await until(() => s.listener !== undefined, "the listen");
  s.listener!.onStatus("SUBSCRIBED");
  await until(() => s.reads >= 2, "the read after the join");
  await sleep(30);
  const whileLive = s.reads;
  s.listener!.onStatus("CHANNEL_ERROR");
  s.server = view(1, "processing");
  s.failReads = 1; // the first poll finds the network down too
  await until(() => got.some((j) => j.seq === 1), "a poll to bring the progress");
  assert.ok(s.reads >= whileLive + 2, "polled again after the failed read");
  s.listener!.onStatus("SUBSCRIBED");
  await until(() => s.reads >= whileLive + 3, "the read after the rejoin");
  await sleep(40);
  const live = s.reads;
  await sleep(150); // three poll intervals: live again, nothing polls
  assert.equal(s.reads, live, "no polling while the channel is up");
  s.server = view(2, "failed", { error_code: "cancelled" });
  s.listener!.onStatus("CHANNEL_ERROR");
  s.listener!.onStatus("SUBSCRIBED"); // rejoined before any poll: the read brings the end
  await until(() => got.some((j) => j.status === "failed"), "the end");
  const readsAtEnd = s.reads;
  await sleep(120);
  assert.equal(s.reads, readsAtEnd, "no read after the end");
  assert.deepEqual(got.map((j) => j.seq), [0, 1, 2]);
  assert.equal(got.filter((j) => j.status === "failed").length, 1);
});

Deno.test("client watch: an unknown job ends the watch with its 404; abort stops it silently", async () => {
  const s = scripted();
  s.deps.fetchStatus = () =>
    Promise.reject(new ApiError({ code: "not_found", status: 404, message: "No such job." }));
  const errors: [string, boolean][] = [];
  const got: JobUpdate[] = [];
  watchJob(s.deps, "job-1", (j) => got.push(j), {
    pollIntervalMs: 50,
    onError: (e, fatal) => errors.push([e.code, fatal]),
  });
  await until(() => errors.length > 0, "the error");
  await sleep(120);
  assert.deepEqual(errors, [["not_found", true]]);
  assert.equal(got.length, 0);

  const t = scripted();
  const ctrl = new AbortController();
  const seen: JobUpdate[] = [];
  watchJob(t.deps, "job-1", (j) => seen.push(j), { pollIntervalMs: 50, signal: ctrl.signal });
  await until(() => seen.length === 1 && t.listener !== undefined, "the first read");
  ctrl.abort();
  await sleep(5);
  const reads = t.reads;
  t.server = view(3, "complete");
  t.listener!.onStatus("SUBSCRIBED");
  await sleep(120);
  assert.equal(t.reads, reads, "nothing read after the abort");
  assert.equal(seen.length, 1);
  assert.equal(t.left, 1);
});
