// Tripo v2 simulator against the documented wire format (provider_apis.md §1): the output files
// (a valid GLB, expiry, a 200 MB stream), the failure markers, and the faults with the request
// log.
import assert from "node:assert/strict";
import { inspectGlb } from "../../../localstack/simulators/glb.ts";
import { assertError, call, control, createText, finish, KEY, withSim } from "./_tripo_sim.ts";

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
