// Tripo v2 simulator against the documented wire format (provider_apis.md §1).
import assert from "node:assert/strict";
import { inspectGlb } from "../../../localstack/simulators/glb.ts";
import { makeJpegStub, makePng } from "../../../localstack/simulators/images.ts";
import { serveTripoSimulator } from "../../../localstack/simulators/tripo.ts";

const KEY = "tsk_test_key_one";
const OTHER = "tsk_test_key_two";

type Served = ReturnType<typeof serveTripoSimulator>;

async function withSim(
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

async function call(
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

async function control(s: Served, path: string, body?: unknown) {
  const res = await fetch(`${s.url}/__sim/${path}`, {
    method: body === undefined ? "GET" : "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return await res.json();
}

function assertError(
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

async function createText(s: Served, prompt = "a red chair", key = KEY): Promise<string> {
  const r = await call(s, "POST", "/task", { type: "text_to_model", prompt }, key);
  assert.deepEqual(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(r.json.code, 0);
  const id = (r.json.data as { task_id: string }).task_id;
  assert.match(id, /^[0-9a-f-]{36}$/);
  return id;
}

async function finish(s: Served, id: string, outcome = "success") {
  const r = await control(s, `tasks/${id}`, { outcome, finish: true });
  assert.deepEqual(r.status, outcome === "stuck" || outcome === "unknown" ? "success" : outcome);
}

async function upload(s: Served, bytes: Uint8Array, name = "in.png", key = KEY) {
  const form = new FormData();
  form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>]), name);
  return await call(s, "POST", "/upload", form, key);
}

Deno.test("tripo sim: auth needs Bearer tsk_ key (401/1002) and every answer has a trace id", async () => {
  await withSim(async (s) => {
    assertError(
      await call(s, "POST", "/task", { type: "text_to_model", prompt: "x" }, null),
      401,
      1002,
    );
    assertError(await call(s, "GET", "/task/abc", undefined, "sk-not-tripo"), 401, 1002);
    const ok = await call(s, "GET", "/user/balance");
    assert.deepEqual(ok.json, { code: 0, data: { balance: 100000, frozen: 0 } });
    assert(ok.headers.get("x-tripo-trace-id"));
  });
});

Deno.test("tripo sim: lifecycle queued → running → success with progress and output URLs", async () => {
  await withSim(async (s) => {
    const id = await createText(s);
    const seen: Record<string, unknown>[] = [];
    for (let i = 0; i < 400; i++) {
      const r = await call(s, "GET", `/task/${id}`);
      assert.deepEqual(r.json.code, 0);
      const t = r.json.data as Record<string, unknown>;
      seen.push(t);
      if (t.status === "success") break;
      await new Promise((res) => setTimeout(res, 25));
    }
    const statuses = [...new Set(seen.map((t) => t.status))];
    assert.deepEqual(statuses, ["queued", "running", "success"]);
    const queued = seen.find((t) => t.status === "queued")!;
    assert.deepEqual(queued.progress, 0);
    assert(typeof queued.queuing_num === "number" && queued.queuing_num >= 0);
    assert.deepEqual(queued.output, {});
    const running = seen.filter((t) => t.status === "running");
    for (const t of running) {
      assert((t.progress as number) >= 1 && (t.progress as number) <= 99);
      assert(typeof t.running_left_time === "number");
    }
    for (let i = 1; i < running.length; i++) {
      assert((running[i].progress as number) >= (running[i - 1].progress as number));
      assert(
        (running[i].running_left_time as number) <= (running[i - 1].running_left_time as number),
      );
    }
    const done = seen.at(-1)!;
    assert.deepEqual(done.progress, 100);
    assert.deepEqual(done.task_id, id);
    assert.deepEqual(done.type, "text_to_model");
    assert.deepEqual((done.input as Record<string, unknown>).prompt, "a red chair");
    const out = done.output as Record<string, string>;
    assert(out.model.startsWith(`${s.url}/files/`));
    assert(out.pbr_model.startsWith(`${s.url}/files/`));
  }, { config: { queueMs: 300, runMs: 600 } });
});

Deno.test("tripo sim: POST /task validation codes", async () => {
  await withSim(async (s) => {
    const p = (b: unknown) => call(s, "POST", "/task", b);
    assertError(await call(s, "POST", "/task", "{not json"), 400, 1003);
    assertError(await p({ type: "text_to_model", prompt: "x", task_id: "client-1" }), 400, 1004);
    assertError(await p({ type: "text_to_model", prompt: "x".repeat(1025) }), 400, 1004);
    assertError(await p({ type: "text_to_model" }), 400, 1004);
    assertError(await p({ type: "text_to_model", prompt: "x", texture: "yes" }), 400, 1004);
    assertError(await p({ type: "text_to_model", prompt: "x", style: "nope" }), 400, 1004);
    assertError(await p({ type: "make_magic", prompt: "x" }), 400, 2002);
    assertError(
      await p({ type: "text_to_model", prompt: "x", model_version: "v1.3-20240522" }),
      400,
      2015,
    );
    assertError(await p({ type: "text_to_model", prompt: "x", model_version: "v9" }), 400, 2017);
    assertError(await p({ type: "image_to_model" }), 400, 1004);
    assertError(await p({ type: "image_to_model", prompt: "x", file: {} }), 400, 1004);
    // Documented options pass.
    const ok = await p({
      type: "text_to_model",
      prompt: "x",
      negative_prompt: "y",
      texture: true,
      pbr: false,
      model_version: "v2.5-20250123",
      face_limit: 5000,
      auto_size: true,
      texture_quality: "detailed",
      style: "object:clay",
      image_seed: 1,
      model_seed: 2,
      texture_seed: 3,
    });
    assert.deepEqual(ok.status, 200, JSON.stringify(ok.json));
    const stats = await control(s, "stats");
    assert.deepEqual(stats.taskPosts, 12);
    assert.deepEqual(stats.tasksCreated, 1);
  });
});

Deno.test("tripo sim: upload checks magic bytes; file_token is per key", async () => {
  await withSim(async (s) => {
    const up = await upload(s, makePng());
    assert.deepEqual(up.status, 200);
    const token = (up.json.data as { image_token: string }).image_token;
    assert.match(token, /^[0-9a-f-]{36}$/);
    assert.deepEqual((await upload(s, makeJpegStub(), "a.jpg")).status, 200);
    assertError(await upload(s, new TextEncoder().encode("GIF89a....")), 400, 2004);
    assertError(await upload(s, new Uint8Array(0)), 400, 2003);
    const noFile = new FormData();
    noFile.append("image", "x");
    assertError(await call(s, "POST", "/upload", noFile), 400, 1003);

    const body = { type: "image_to_model", file: { type: "png", file_token: token } };
    assert.deepEqual((await call(s, "POST", "/task", body)).status, 200);
    assertError(await call(s, "POST", "/task", body, OTHER), 400, 2003);
    assertError(
      await call(s, "POST", "/task", {
        type: "image_to_model",
        file: { type: "jpg", file_token: "nope" },
      }),
      400,
      2003,
    );
    assertError(
      await call(s, "POST", "/task", {
        type: "image_to_model",
        file: { type: "jpg", file_token: token, url: "https://x/y.png" },
      }),
      400,
      1004,
    );
  });
});

Deno.test("tripo sim: url inputs are fetched with fetchInput and sniffed", async () => {
  const fetched: string[] = [];
  const fetchInput = ((input: string | URL | Request) => {
    const u = String(input instanceof Request ? input.url : input);
    fetched.push(u);
    if (u.endsWith("good.png")) return Promise.resolve(new Response(makePng()));
    if (u.endsWith("missing.png")) return Promise.resolve(new Response("no", { status: 404 }));
    return Promise.resolve(new Response("<html>not an image</html>"));
  }) as typeof fetch;
  await withSim(async (s) => {
    const mk = (url: string) =>
      call(s, "POST", "/task", { type: "image_to_model", file: { type: "jpg", url } });
    assert.deepEqual((await mk("https://assets.example/good.png")).status, 200);
    assertError(await mk("https://assets.example/page.html"), 400, 2004);
    assertError(await mk("https://assets.example/missing.png"), 400, 1004);
    assert.deepEqual(fetched.length, 3);
  }, { fetchInput });
});

Deno.test("tripo sim: multiview_to_model needs 4 slots, front, and at least 2 images", async () => {
  await withSim(async (s) => {
    const t = (await upload(s, makePng())).json.data as { image_token: string };
    const f = { type: "png", file_token: t.image_token };
    const mv = (files: unknown) => call(s, "POST", "/task", { type: "multiview_to_model", files });
    assertError(await mv([f, f, f]), 400, 1004);
    assertError(await mv([f, f, f, f, f]), 400, 1004);
    assertError(await mv([{}, f, f, {}]), 400, 1004);
    assertError(await mv([f, {}, {}, {}]), 400, 1004);
    assertError(await mv([f, {}, { type: "png", file_token: "bad" }, {}]), 400, 2003);
    assert.deepEqual((await mv([f, {}, f, {}])).status, 200);
    assert.deepEqual((await mv([f, f, f, f])).status, 200);
  });
});

Deno.test("tripo sim: refine_model rules (2001, 2006, 2007)", async () => {
  await withSim(async (s) => {
    const ref = (id: string, key = KEY) =>
      call(s, "POST", "/task", { type: "refine_model", draft_model_task_id: id }, key);
    assertError(await ref(crypto.randomUUID()), 404, 2001);
    const draft = await createText(s);
    assertError(await ref(draft), 400, 2007);
    assertError(await ref(draft, OTHER), 404, 2001);
    await finish(s, draft);
    assertError(await ref(draft, OTHER), 404, 2001);
    assertError(
      await call(s, "POST", "/task", {
        type: "refine_model",
        draft_model_task_id: draft,
        prompt: "x",
      }),
      400,
      1004,
    );
    const r = await ref(draft);
    assert.deepEqual(r.status, 200);
    const refineId = (r.json.data as { task_id: string }).task_id;
    await finish(s, refineId);
    assertError(await ref(refineId), 400, 2006);
  });
});

Deno.test("tripo sim: concurrency cap answers 429/2000 with Retry-After", async () => {
  await withSim(async (s) => {
    await control(s, "config", { cap: 2, retryAfterSec: 7 });
    const a = await createText(s, "one [sim:stuck]");
    await createText(s, "two [sim:stuck]");
    const r = await call(s, "POST", "/task", { type: "text_to_model", prompt: "three" });
    assertError(r, 429, 2000);
    assert.deepEqual(r.headers.get("retry-after"), "7");
    assert.match(String(r.json.suggestion), /Retry-After/);
    // Another key has its own cap.
    await createText(s, "other key", OTHER);
    await finish(s, a);
    await createText(s, "three");
  });
});

Deno.test("tripo sim: output URLs serve a valid GLB and expire (403) after the TTL", async () => {
  await withSim(async (s) => {
    await control(s, "config", { glbSize: 10_000 });
    const id = await createText(s);
    await finish(s, id);
    const t = (await call(s, "GET", `/task/${id}`)).json.data as { output: Record<string, string> };
    const res = await fetch(t.output.pbr_model);
    assert.deepEqual(res.status, 200);
    assert.deepEqual(res.headers.get("content-type"), "model/gltf-binary");
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.deepEqual(bytes.length, 10_000);
    assert.deepEqual(Number(res.headers.get("content-length")), 10_000);
    const glb = inspectGlb(bytes, bytes.length);
    assert.equal(glb.ok, true, glb.error);
    assert.deepEqual(glb.version, 2);
    assert.deepEqual((glb.json.asset as { version: string }).version, "2.0");
    assert.deepEqual((glb.json.buffers as { byteLength: number }[])[0].byteLength, glb.binLength);
    const img = await fetch(t.output.rendered_image);
    assert.deepEqual(
      new Uint8Array(await img.arrayBuffer()).subarray(1, 4),
      new Uint8Array([0x50, 0x4e, 0x47]),
    );

    await control(s, "config", { outputTtlSec: 0.05 });
    const t2 = (await call(s, "GET", `/task/${id}`)).json.data as {
      output: Record<string, string>;
    };
    await new Promise((r) => setTimeout(r, 120));
    const expired = await fetch(t2.output.model);
    assert.deepEqual(expired.status, 403);
    assert.match(await expired.text(), /AccessDenied/);
    assert.deepEqual(
      await fetch(`${s.url}/files/nope/x.glb`).then((r) => r.body?.cancel()),
      undefined,
    );
  });
});

Deno.test("tripo sim: a 200 MB GLB is streamed", async () => {
  await withSim(async (s) => {
    const id = await createText(s, "big [sim:glb=200000000]");
    await finish(s, id);
    const t = (await call(s, "GET", `/task/${id}`)).json.data as { output: Record<string, string> };
    const before = Deno.memoryUsage().rss;
    const res = await fetch(t.output.model);
    const declared = Number(res.headers.get("content-length"));
    assert.deepEqual(declared, 200_000_000);
    const reader = res.body!.getReader();
    let total = 0;
    let head: Uint8Array | undefined;
    let peak = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!head) head = value.slice();
      total += value.length;
      if ((total & 0xfffffff) < value.length) peak = Math.max(peak, Deno.memoryUsage().rss);
    }
    assert.deepEqual(total, declared);
    const glb = inspectGlb(head!, total);
    assert.equal(glb.ok, true, glb.error);
    assert.deepEqual(glb.length, 200_000_000);
    // Neither side buffered the whole file.
    assert(Math.max(peak, Deno.memoryUsage().rss) - before < 150_000_000);
  });
});

Deno.test("tripo sim: failure markers", async () => {
  await withSim(async (s) => {
    const failed = await createText(s, "x [sim:fail]");
    await finish(s, failed, "failed");
    const f = (await call(s, "GET", `/task/${failed}`)).json.data as Record<string, unknown>;
    assert.deepEqual(f.status, "failed");
    assert.deepEqual(f.error_code, 1001);
    assert.deepEqual(f.output, {});
    assert.deepEqual(f.running_left_time, -1);
    assert.deepEqual(f.queuing_num, -1);

    assertError(
      await call(s, "POST", "/task", { type: "text_to_model", prompt: "[sim:banned]" }),
      400,
      2008,
    );
    assertError(
      await call(s, "POST", "/task", { type: "text_to_model", prompt: "[sim:credits]" }),
      403,
      2010,
    );
    const late = await createText(s, "[sim:banned-late]");
    await finish(s, late, "banned");
    const b = (await call(s, "GET", `/task/${late}`)).json.data as Record<string, unknown>;
    assert.deepEqual([b.status, b.error_code], ["banned", 2008]);

    await control(s, "config", { queueMs: 0, runMs: 60_000 });
    const unk = await createText(s, "[sim:unknown]");
    assert.deepEqual(
      ((await call(s, "GET", `/task/${unk}`)).json.data as { status: string }).status,
      "unknown",
    );
    const stuck = await createText(s, "[sim:stuck]");
    assert.deepEqual(
      ((await call(s, "GET", `/task/${stuck}`)).json.data as { status: string }).status,
      "running",
    );
    const tasks = (await control(s, "tasks")).tasks as { task_id: string; outcome: string }[];
    assert.deepEqual(tasks.find((t) => t.task_id === stuck)?.outcome, "stuck");
  });
});

Deno.test("tripo sim: faults (status, reset, malformed, truncate) and the request log", async () => {
  await withSim(async (s) => {
    await control(s, "config", {
      faults: [
        { match: "POST /v2/openapi/task", status: 500, times: 1 },
        { match: "GET /v2/openapi/task/*", status: 503, retryAfter: 2, times: 1 },
      ],
    });
    assertError(await call(s, "POST", "/task", { type: "text_to_model", prompt: "f1" }), 500, 1000);
    const id = await createText(s, "f2");
    const r = await call(s, "GET", `/task/${id}`);
    assertError(r, 503, 1000);
    assert.deepEqual(r.headers.get("retry-after"), "2");
    assert.deepEqual((await call(s, "GET", `/task/${id}`)).status, 200);

    await control(s, "config", {
      faults: [{ match: "GET /v2/openapi/task/*", kind: "malformed" }],
    });
    const m = await fetch(`${s.baseUrl}/task/${id}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    let parsed = true;
    try {
      await m.json();
    } catch {
      parsed = false;
    }
    assert.deepEqual(parsed, false);

    await control(s, "config", { faults: [{ match: "POST /v2/openapi/task", kind: "reset" }] });
    let broke = false;
    try {
      const res = await fetch(`${s.baseUrl}/task`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "text_to_model", prompt: "landed then reset" }),
      });
      await res.json();
    } catch {
      broke = true;
    }
    assert(broke, "reset fault must break the response");
    const tasks = (await control(s, "tasks")).tasks as { prompt: string }[];
    assert(tasks.some((t) => t.prompt === "landed then reset"), "reset lands the task first");

    await finish(s, id);
    const t = (await call(s, "GET", `/task/${id}`)).json.data as { output: Record<string, string> };
    await control(s, "config", {
      faults: [{ match: "GET /files/**", kind: "truncate", truncateAt: 1000 }],
    });
    let truncated = false;
    try {
      await (await fetch(t.output.model)).arrayBuffer();
    } catch {
      truncated = true;
    }
    assert(truncated, "truncate fault must cut the download");

    const all = await control(s, "requests");
    const log = JSON.stringify(all);
    assert(!log.includes(KEY), "log must not contain the API key");
    const posts = await control(s, "requests?method=POST&path=/v2/openapi/task");
    assert.deepEqual(posts.requests.length, 3);
    assert.deepEqual(posts.requests[0].status, 500);
    assert.deepEqual(posts.requests[0].fault, "status");
    assert.deepEqual(posts.requests[1].body.prompt, "f2");
    assert.deepEqual(posts.requests[1].authOk, true);
    const since = await control(s, `requests?since=${posts.requests[1].seq}&method=POST`);
    assert.deepEqual(since.requests.length, 1);
    const one = await control(s, "requests?contains=f2");
    assert.deepEqual(one.requests.length, 1);
    await control(s, "reset", { scope: "log" });
    assert.deepEqual((await control(s, "requests")).requests.length, 0);
  });
});
