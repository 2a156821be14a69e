// OpenAI Images simulator against the documented wire format (provider_apis.md §2).
import assert from "node:assert/strict";
import { makePng, sniffImage } from "../../../localstack/simulators/images.ts";
import { serveOpenAISimulator } from "../../../localstack/simulators/openai.ts";

type Served = ReturnType<typeof serveOpenAISimulator>;

async function withSim(fn: (s: Served) => Promise<void>) {
  const s = serveOpenAISimulator({ port: 0 });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

function form(fields: Record<string, string>, images: [string, Blob, string][] = []): FormData {
  const f = new FormData();
  for (const [field, blob, name] of images) f.append(field, blob, name);
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

const png = () => new Blob([makePng()], { type: "image/png" });

async function edit(s: Served, body: FormData, key = "sk-test") {
  const res = await fetch(`${s.baseUrl}/images/edits`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body,
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

function assertError(
  r: { status: number; headers: Headers; json: Record<string, unknown> },
  status: number,
  code: string | null,
  type = "invalid_request_error",
) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  const e = r.json.error as Record<string, unknown>;
  assert.deepEqual(Object.keys(e).slice(0, 4).sort(), ["code", "message", "param", "type"]);
  assert.equal(e.code, code);
  assert.equal(e.type, type);
  assert.match(r.headers.get("x-request-id") ?? "", /^req_[0-9a-f]{32}$/);
  return e;
}

function decodePng(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  assert.equal(sniffImage(out), "png");
  // IHDR is the first chunk, with a sane size.
  assert.equal(new TextDecoder().decode(out.subarray(12, 16)), "IHDR");
  assert.ok(new DataView(out.buffer).getUint32(16) > 0);
  return out;
}

Deno.test("openai sim: edit with a single `image` part returns n valid PNGs", async () => {
  await withSim(async (s) => {
    const r = await edit(
      s,
      form({ model: "gpt-image-1", prompt: "make it blue", n: "2", size: "1024x1024" }, [
        ["image", png(), "in.png"],
      ]),
    );
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.match(r.headers.get("x-request-id") ?? "", /^req_/);
    const j = r.json as Record<string, unknown>;
    assert.equal(typeof j.created, "number");
    assert.equal(j.output_format, "png");
    assert.equal(j.size, "1024x1024");
    assert.equal(j.quality, "medium");
    assert.equal(j.background, "opaque");
    const usage = j.usage as Record<string, unknown>;
    assert.equal(typeof usage.total_tokens, "number");
    const data = j.data as { b64_json: string }[];
    assert.equal(data.length, 2);
    const [a, b] = data.map((d) => decodePng(d.b64_json));
    assert.notDeepEqual(a, b);
  });
});

Deno.test("openai sim: repeated `image[]` parts are accepted", async () => {
  await withSim(async (s) => {
    const r = await edit(
      s,
      form({ model: "gpt-image-1", prompt: "merge", background: "transparent", quality: "high" }, [
        ["image[]", png(), "a.png"],
        ["image[]", new Blob([makePng(32, 32, 3)], { type: "image/png" }), "b.png"],
      ]),
    );
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal((r.json.data as unknown[]).length, 1);
    assert.equal(r.json.background, "transparent");
    const log = await (await fetch(`${s.url}/__sim/requests`)).json();
    assert.equal(log.requests[0].body["image[]"].length, 2);
    assert.equal(log.requests[0].body["image[]"][0].type, "image/png");
  });
});

Deno.test("openai sim: unsupported mimetype gives the documented 400", async () => {
  await withSim(async (s) => {
    const r = await edit(
      s,
      form({ model: "gpt-image-1", prompt: "x" }, [
        ["image", new Blob([makePng()], { type: "application/octet-stream" }), "in.png"],
      ]),
    );
    const e = assertError(r, 400, "unsupported_file_mimetype");
    assert.equal(
      e.message,
      "Invalid file 'image': unsupported mimetype ('application/octet-stream'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
    );
    assert.equal(e.param, "image");
  });
});

Deno.test("openai sim: strict validation", async () => {
  await withSim(async (s) => {
    const img: [string, Blob, string][] = [["image", png(), "in.png"]];
    assertError(await edit(s, form({ prompt: "x" }, img)), 400, "missing_required_parameter");
    assertError(await edit(s, form({ model: "dall-e-2", prompt: "x" }, img)), 400, "invalid_value");
    assertError(
      await edit(s, form({ model: "gpt-image-1" }, img)),
      400,
      "missing_required_parameter",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x".repeat(32001) }, img)),
      400,
      "string_above_max_length",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x", n: "11" }, img)),
      400,
      "integer_out_of_range",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x", n: "0" }, img)),
      400,
      "integer_out_of_range",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x", size: "10x10" }, img)),
      400,
      "invalid_value",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x", quality: "ultra" }, img)),
      400,
      "invalid_value",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x", background: "red" }, img)),
      400,
      "invalid_value",
    );
    const u = assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x", task_id: "t1" }, img)),
      400,
      "unknown_parameter",
    );
    assert.equal(u.param, "task_id");
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x" })),
      400,
      "missing_required_parameter",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "x" }, img), "tsk_wrong"),
      401,
      "invalid_api_key",
    );
    // Declared PNG but not PNG bytes.
    assertError(
      await edit(
        s,
        form({ model: "gpt-image-1", prompt: "x" }, [[
          "image",
          new Blob(["hello"], { type: "image/png" }),
          "a.png",
        ]]),
      ),
      400,
      "invalid_image_file",
    );
    const stats = await (await fetch(`${s.url}/__sim/stats`)).json();
    assert.equal(stats.succeeded, 0);
    assert.equal(stats.edits, 13);
  });
});

Deno.test("openai sim: moderation, 429, quota, 500, 503 markers", async () => {
  await withSim(async (s) => {
    const img: [string, Blob, string][] = [["image", png(), "in.png"]];
    const m = assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "bad [sim:moderation]" }, img)),
      400,
      "moderation_blocked",
      "image_generation_user_error",
    );
    assert.equal(m.param, null);
    assert.match(String(m.message), /safety system/);
    const r429 = await edit(s, form({ model: "gpt-image-1", prompt: "[sim:429]" }, img));
    assertError(r429, 429, "rate_limit_exceeded", "requests");
    assert.equal(r429.headers.get("retry-after"), "1");
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "[sim:quota]" }, img)),
      429,
      "insufficient_quota",
      "insufficient_quota",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "[sim:500]" }, img)),
      500,
      null,
      "server_error",
    );
    assertError(
      await edit(s, form({ model: "gpt-image-1", prompt: "[sim:503]" }, img)),
      503,
      null,
      "server_error",
    );
  });
});

Deno.test("openai sim: control API faults and log without secrets", async () => {
  await withSim(async (s) => {
    const img: [string, Blob, string][] = [["image", png(), "in.png"]];
    const cfg = await (await fetch(`${s.url}/__sim/config`, {
      method: "POST",
      body: JSON.stringify({
        faults: [{ match: "POST /v1/images/edits", status: 503, retryAfter: 3, times: 1 }],
      }),
    })).json();
    assert.equal(cfg.faults.length, 1);
    const r = await edit(s, form({ model: "gpt-image-1", prompt: "x" }, img), "sk-secret-value");
    assertError(r, 503, null, "server_error");
    assert.equal(r.headers.get("retry-after"), "3");
    assert.equal((await edit(s, form({ model: "gpt-image-1", prompt: "ok" }, img))).status, 200);
    const log = await (await fetch(`${s.url}/__sim/requests?method=POST`)).json();
    assert.equal(log.requests.length, 2);
    assert.equal(log.requests[0].status, 503);
    assert.equal(log.requests[1].body.prompt, "ok");
    assert.ok(!JSON.stringify(log).includes("sk-secret-value"));
    await fetch(`${s.url}/__sim/reset`, { method: "POST", body: "{}" }).then((r) =>
      r.body?.cancel()
    );
    const empty = await (await fetch(`${s.url}/__sim/requests`)).json();
    assert.equal(empty.requests.length, 0);
  });
});
