// OpenAI POST /v1/images/generations in the simulator (provider_apis.md §2.1–2.4).
import assert from "node:assert/strict";
import { serveOpenAISimulator } from "../../../localstack/simulators/openai.ts";
import { simControl as control } from "../_sim_control.ts";

type Served = ReturnType<typeof serveOpenAISimulator>;
type Res = { status: number; headers: Headers; json: Record<string, unknown> };

async function withSim(fn: (s: Served) => Promise<void>) {
  const s = serveOpenAISimulator({ port: 0 });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

async function gen(s: Served, body: unknown, key = "sk-test"): Promise<Res> {
  const res = await fetch(`${s.baseUrl}/images/generations`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

function assertError(r: Res, status: number, code: string | null, type = "invalid_request_error") {
  assert.equal(r.status, status, JSON.stringify(r.json));
  const e = r.json.error as Record<string, unknown>;
  assert.ok(e, JSON.stringify(r.json));
  for (const k of ["message", "type", "param", "code"]) assert.ok(k in e, `error.${k}`);
  assert.equal(e.code, code, JSON.stringify(e));
  assert.equal(e.type, type);
  assert.equal(typeof e.message, "string");
  assert.match(r.headers.get("x-request-id") ?? "", /^req_[0-9a-f]{32}$/);
  return e;
}

const fromB64 = (b: string) => Uint8Array.from(atob(b), (c) => c.charCodeAt(0));

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Decodes a PNG far enough to prove it whole: chunks, CRCs, IDAT inflates to w×h rows. */
async function decodePng(bytes: Uint8Array): Promise<{ width: number; height: number }> {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 8;
  const idat: Uint8Array[] = [];
  let width = 0, height = 0, sawEnd = false;
  while (off < bytes.length) {
    const len = dv.getUint32(off);
    const type = new TextDecoder().decode(bytes.subarray(off + 4, off + 8));
    let c = 0xffffffff;
    for (const b of bytes.subarray(off + 4, off + 8 + len)) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    assert.equal((c ^ 0xffffffff) >>> 0, dv.getUint32(off + 8 + len), `CRC of ${type}`);
    if (type === "IHDR") {
      width = dv.getUint32(off + 8);
      height = dv.getUint32(off + 12);
      assert.deepEqual([...bytes.subarray(off + 16, off + 21)], [8, 6, 0, 0, 0]);
    }
    if (type === "IDAT") idat.push(bytes.subarray(off + 8, off + 8 + len));
    if (type === "IEND") sawEnd = true;
    off += 12 + len;
  }
  assert.ok(sawEnd, "IEND");
  const raw = await inflate(new Uint8Array(idat.flatMap((p) => [...p])));
  assert.equal(raw.length, height * (1 + width * 4));
  for (let y = 0; y < height; y++) assert.ok(raw[y * (1 + width * 4)] <= 4, "filter type");
  return { width, height };
}

/** JPEG: SOI, a baseline SOF0 with the size, scan data, EOI. */
function jpegSize(b: Uint8Array): { width: number; height: number } {
  assert.deepEqual([...b.subarray(0, 2)], [0xff, 0xd8]);
  assert.deepEqual([...b.subarray(b.length - 2)], [0xff, 0xd9]);
  let off = 2;
  while (off < b.length) {
    assert.equal(b[off], 0xff);
    const marker = b[off + 1];
    const len = (b[off + 2] << 8) | b[off + 3];
    if (marker === 0xc0) {
      return { height: (b[off + 5] << 8) | b[off + 6], width: (b[off + 7] << 8) | b[off + 8] };
    }
    off += 2 + len;
  }
  throw new Error("no SOF0");
}

/** Lossless WebP: RIFF sizes, VP8L signature, 14-bit sizes. */
function webpSize(b: Uint8Array): { width: number; height: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(new TextDecoder().decode(b.subarray(0, 4)), "RIFF");
  assert.equal(dv.getUint32(4, true), b.length - 8);
  assert.equal(new TextDecoder().decode(b.subarray(8, 16)), "WEBPVP8L");
  assert.equal(b[20], 0x2f);
  const bits = dv.getUint32(21, true);
  return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
}

Deno.test("openai generations: n decodable PNGs of the requested size, documented response", async () => {
  await withSim(async (s) => {
    const r = await gen(s, {
      model: "gpt-image-1",
      prompt: "a red chair",
      n: 3,
      size: "1536x1024",
      quality: "high",
      background: "transparent",
      moderation: "low",
      output_format: "png",
      user: "u1",
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.match(r.headers.get("x-request-id") ?? "", /^req_/);
    assert.deepEqual(Object.keys(r.json).sort(), [
      "background",
      "created",
      "data",
      "output_format",
      "quality",
      "size",
      "usage",
    ]);
    assert.equal(typeof r.json.created, "number");
    assert.equal(r.json.size, "1536x1024");
    assert.equal(r.json.quality, "high");
    assert.equal(r.json.background, "transparent");
    assert.equal(r.json.output_format, "png");
    const usage = r.json.usage as Record<string, number> & {
      input_tokens_details: Record<string, number>;
    };
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
    assert.equal(typeof usage.input_tokens_details.text_tokens, "number");
    const data = r.json.data as { b64_json: string; url?: string }[];
    assert.equal(data.length, 3);
    const images = data.map((d) => fromB64(d.b64_json));
    for (const img of images) {
      assert.equal(data[0].url, undefined);
      assert.deepEqual(await decodePng(img), { width: 1536, height: 1024 });
      assert.ok(img.length < 200_000, `${img.length} bytes`);
    }
    assert.notDeepEqual(images[0], images[1]);

    // Defaults: n 1, size auto → 1024x1024, png.
    const d = await gen(s, { model: "gpt-image-1", prompt: "defaults" });
    assert.equal(d.status, 200);
    assert.equal((d.json.data as unknown[]).length, 1);
    assert.equal(d.json.size, "1024x1024");
    assert.equal(d.json.output_format, "png");
    const img = fromB64((d.json.data as { b64_json: string }[])[0].b64_json);
    assert.deepEqual(await decodePng(img), { width: 1024, height: 1024 });
    const portrait = await gen(s, { model: "gpt-image-1", prompt: "p", size: "1024x1536", n: 10 });
    assert.equal((portrait.json.data as unknown[]).length, 10);
    const p0 = fromB64((portrait.json.data as { b64_json: string }[])[9].b64_json);
    assert.deepEqual(await decodePng(p0), { width: 1024, height: 1536 });
  });
});

Deno.test("openai generations: jpeg and webp output formats are real images of the size", async () => {
  await withSim(async (s) => {
    const j = await gen(s, {
      model: "gpt-image-1",
      prompt: "x",
      output_format: "jpeg",
      output_compression: 80,
    });
    assert.equal(j.status, 200, JSON.stringify(j.json));
    assert.equal(j.json.output_format, "jpeg");
    assert.deepEqual(jpegSize(fromB64((j.json.data as { b64_json: string }[])[0].b64_json)), {
      width: 1024,
      height: 1024,
    });
    const w = await gen(s, {
      model: "gpt-image-1",
      prompt: "x",
      output_format: "webp",
      size: "1536x1024",
    });
    assert.equal(w.status, 200, JSON.stringify(w.json));
    assert.deepEqual(webpSize(fromB64((w.json.data as { b64_json: string }[])[0].b64_json)), {
      width: 1536,
      height: 1024,
    });
  });
});

Deno.test("openai generations: refusals (model, prompt, n, size, enums, unknown fields, response_format)", async () => {
  await withSim(async (s) => {
    const base = { model: "gpt-image-1", prompt: "x" };
    const p = (extra: Record<string, unknown>) => gen(s, { ...base, ...extra });
    const m = assertError(await gen(s, { prompt: "x" }), 400, "missing_required_parameter");
    assert.equal(m.param, "model");
    for (const model of ["dall-e-3", "dall-e-2", "gpt-image-1-mini", "gpt-image-1.5"]) {
      const e = assertError(await p({ model }), 400, "invalid_value");
      assert.equal(e.param, "model");
    }
    assertError(await p({ model: 1 }), 400, "invalid_type");
    assert.equal(
      assertError(await gen(s, { model: "gpt-image-1" }), 400, "missing_required_parameter").param,
      "prompt",
    );
    assertError(await p({ prompt: "" }), 400, "missing_required_parameter");
    assertError(await p({ prompt: "x".repeat(32001) }), 400, "string_above_max_length");
    assert.equal((await p({ prompt: "x".repeat(32000) })).status, 200);
    assertError(await p({ prompt: ["x"] }), 400, "invalid_type");
    assert.equal(assertError(await p({ n: 11 }), 400, "integer_above_max_value").param, "n");
    assertError(await p({ n: 0 }), 400, "integer_below_min_value");
    assertError(await p({ n: 1.5 }), 400, "invalid_type");
    assertError(await p({ n: "2" }), 400, "invalid_type");
    for (const size of ["512x512", "1792x1024", "256x256", "1024X1024", "1024"]) {
      const e = assertError(await p({ size }), 400, "invalid_value");
      assert.equal(e.param, "size");
      assert.match(String(e.message), /'1024x1024', '1024x1536', '1536x1024', and 'auto'/);
    }
    assert.equal(assertError(await p({ quality: "hd" }), 400, "invalid_value").param, "quality");
    assertError(await p({ quality: "standard" }), 400, "invalid_value");
    assertError(await p({ background: "white" }), 400, "invalid_value");
    assertError(await p({ moderation: "high" }), 400, "invalid_value");
    assertError(await p({ output_format: "gif" }), 400, "invalid_value");
    assertError(
      await p({ output_format: "jpeg", background: "transparent" }),
      400,
      "invalid_value",
    );
    assertError(await p({ output_compression: 50 }), 400, "invalid_value");
    assertError(
      await p({ output_format: "webp", output_compression: 101 }),
      400,
      "integer_above_max_value",
    );
    for (const field of ["response_format", "style", "task_id", "image", "seed"]) {
      const e = assertError(await p({ [field]: "b64_json" }), 400, "unknown_parameter");
      assert.equal(e.param, field);
      assert.equal(e.message, `Unknown parameter: '${field}'.`);
    }
    assertError(await gen(s, "{not json"), 400, null);
    assertError(await gen(s, "[1,2]"), 400, "invalid_type");
    assertError(await p({ stream: true }), 400, "sim_unsupported");
    assertError(await gen(s, base, "tsk_wrong"), 401, "invalid_api_key");
    const stats = await control(s, "stats");
    assert.equal(stats.generationsSucceeded, 1);
    assert.ok(stats.generations > 30);
    assert.equal(stats.edits, 0);
  });
});

Deno.test("openai generations: moderation, 429, quota, 500, 503 markers", async () => {
  await withSim(async (s) => {
    const p = (prompt: string) => gen(s, { model: "gpt-image-1", prompt, moderation: "low" });
    const m = assertError(
      await p("bad [sim:moderation]"),
      400,
      "moderation_blocked",
      "image_generation_user_error",
    );
    assert.equal(m.param, null);
    assert.match(String(m.message), /safety system/);
    const r429 = await p("[sim:429]");
    assertError(r429, 429, "rate_limit_exceeded", "requests");
    assert.equal(r429.headers.get("retry-after"), "1");
    assertError(await p("[sim:quota]"), 429, "insufficient_quota", "insufficient_quota");
    assertError(await p("[sim:500]"), 500, null, "server_error");
    assertError(await p("[sim:503]"), 503, null, "server_error");
    assert.equal((await p("fine [sim:slow=30]")).status, 200);
    const stats = await control(s, "stats");
    assert.equal(stats.generations, 6);
    assert.equal(stats.generationsSucceeded, 1);
  });
});

Deno.test("openai generations: faults, latency config, and the request log counts billed prompts", async () => {
  await withSim(async (s) => {
    const cfg = await control(s, "config", {
      faults: [
        { match: "POST /v1/images/generations", status: 503, retryAfter: 3, times: 1 },
        { match: "POST /v1/images/generations", kind: "reset", times: 1 },
      ],
    });
    assert.equal(cfg.faults.length, 2);
    const body = { model: "gpt-image-1", prompt: "chair A", n: 2 };
    const r = await gen(s, body, "sk-secret-value");
    assertError(r, 503, null, "server_error");
    assert.equal(r.headers.get("retry-after"), "3");
    let broke = false;
    try {
      await gen(s, body);
    } catch {
      broke = true;
    }
    assert.ok(broke, "reset fault must break the answer");
    assert.equal((await gen(s, body)).status, 200);
    assert.equal((await gen(s, { ...body, prompt: "chair B" })).status, 200);
    // The edits route is untouched by generation faults and logged apart.
    const log = await control(s, "requests?method=POST&path=/v1/images/generations");
    const rows = log.requests as {
      status: number;
      fault?: string;
      body: { prompt: string; n: number };
    }[];
    assert.deepEqual(
      rows.map((e) => [e.body.prompt, e.status, e.fault ?? null]),
      [["chair A", 503, "status"], ["chair A", 0, "reset"], ["chair A", 200, null], [
        "chair B",
        200,
        null,
      ]],
    );
    // Billed = reached the handler (not a non-landed status fault): per prompt.
    const billed = new Map<string, number>();
    for (const e of rows.filter((e) => e.fault !== "status")) {
      billed.set(e.body.prompt, (billed.get(e.body.prompt) ?? 0) + 1);
    }
    assert.deepEqual([...billed], [["chair A", 2], ["chair B", 1]]);
    assert.equal(rows[2].body.n, 2);
    const one = await control(s, "requests?contains=chair%20B");
    assert.equal(one.requests.length, 1);
    assert.ok(!JSON.stringify(log).includes("sk-secret-value"));
    // Latency config applies to generations too (the answer still comes).
    await control(s, "config", { latencyMs: 20 });
    assert.equal((await gen(s, body)).status, 200);
    await control(s, "reset", {});
    assert.equal((await control(s, "requests")).requests.length, 0);
  });
});
