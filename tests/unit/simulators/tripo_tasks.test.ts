// Tripo v2 simulator against the documented wire format (provider_apis.md §1): the tasks — auth
// and trace ids, the status lifecycle, POST /task validation, uploads and url inputs, multiview
// and refine rules, the concurrency cap.
import assert from "node:assert/strict";
import { makeJpegStub, makePng } from "../../../localstack/simulators/images.ts";
import {
  assertError,
  call,
  control,
  createText,
  finish,
  KEY,
  OTHER,
  upload,
  withSim,
} from "./_tripo_sim.ts";

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
