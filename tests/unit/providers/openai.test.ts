// OpenAI Images client (supabase/functions/_shared/providers/openai.ts) against the simulator.
import assert from "node:assert/strict";
import { makeJpegStub, makePng } from "../../../localstack/simulators/images.ts";
import { serveOpenAISimulator } from "../../../localstack/simulators/openai.ts";
import { ProviderError } from "../../../supabase/functions/_shared/providers/errors.ts";
import {
  createOpenAIImages,
  type OpenAIEditParams,
} from "../../../supabase/functions/_shared/providers/openai.ts";
import { simControl as control } from "../_sim_control.ts";

type Served = ReturnType<typeof serveOpenAISimulator>;

async function withSim(fn: (s: Served) => Promise<void>) {
  const s = serveOpenAISimulator({ port: 0 });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

const params = (x: Partial<OpenAIEditParams> = {}): OpenAIEditParams => ({
  image: makePng(),
  contentType: "image/png",
  filename: "input.png",
  prompt: "make it a cartoon",
  n: 1,
  ...x,
});

async function rejects(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ProviderError, `expected ProviderError, got ${e}`);
    assert.equal(e.provider, "openai");
    assert.ok(!/sk-/.test(e.userMessage) && !/http/.test(e.userMessage));
    return e;
  }
  assert.fail("expected a rejection");
}

const images = (s: Served, extra: Record<string, unknown> = {}) =>
  createOpenAIImages({ apiKey: "sk-test", baseUrl: s.baseUrl, ...extra });

Deno.test("openai client: edit sends the file with its content type and returns PNGs", async () => {
  await withSim(async (s) => {
    const r = await images(s).edit(params({
      n: 3,
      size: "1024x1536",
      quality: "low",
      background: "transparent",
      image: makeJpegStub(),
      contentType: "image/jpeg",
      filename: "photo.jpg",
    }));
    assert.equal(r.images.length, 3);
    for (const img of r.images) {
      assert.deepEqual(img.subarray(0, 4), new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
    }
    assert.match(r.requestId ?? "", /^req_/);
    const log = await control(s, "requests?method=POST");
    assert.equal(log.requests.length, 1);
    const body = log.requests[0].body;
    const parts = body["image[]"] ?? body.image;
    assert.deepEqual(parts, [{
      filename: "photo.jpg",
      type: "image/jpeg",
      size: makeJpegStub().length,
    }]);
    assert.equal(body.model, "gpt-image-1");
    assert.equal(body.n, "3");
    assert.equal(body.size, "1024x1536");
    assert.equal(body.quality, "low");
    assert.equal(body.background, "transparent");
    assert.ok(!("output_format" in body) && !("response_format" in body));
  });
});

Deno.test("openai client: moderation → content_policy (permanent, not landed)", async () => {
  await withSim(async (s) => {
    const e = await rejects(images(s).edit(params({ prompt: "x [sim:moderation]" })));
    assert.deepEqual([e.code, e.kind, e.landed, e.status], [
      "content_policy",
      "permanent",
      "no",
      400,
    ]);
    assert.match(e.requestId ?? "", /^req_/);
  });
});

Deno.test("openai client: SDK retries are off — one request on 500, 503 and 429", async () => {
  await withSim(async (s) => {
    const c = images(s);
    const e500 = await rejects(c.edit(params({ prompt: "[sim:500]" })));
    assert.deepEqual([e500.code, e500.kind, e500.landed], [
      "provider_unavailable",
      "transient",
      "maybe",
    ]);
    assert.equal((await control(s, "stats")).edits, 1);
    await control(s, "config", {
      faults: [{ match: "POST /v1/images/edits", status: 503, retryAfter: 2, times: 3 }],
    });
    const e503 = await rejects(c.edit(params()));
    assert.deepEqual([e503.code, e503.kind, e503.status], [
      "provider_unavailable",
      "transient",
      503,
    ]);
    assert.equal((await control(s, "stats")).edits, 2);
    await control(s, "config", { faults: [] });
    const e429 = await rejects(c.edit(params({ prompt: "[sim:429]" })));
    assert.deepEqual(
      [e429.code, e429.kind, e429.landed, e429.retryAfterSeconds],
      ["rate_limited", "transient", "no", 1],
    );
    assert.equal((await control(s, "stats")).edits, 3);
  });
});

Deno.test("openai client: quota, invalid request, auth", async () => {
  await withSim(async (s) => {
    const q = await rejects(images(s).edit(params({ prompt: "[sim:quota]" })));
    assert.deepEqual([q.code, q.kind, q.landed], ["insufficient_credits", "permanent", "no"]);
    const inv = await rejects(images(s).edit(params({ size: "12x12" })));
    assert.deepEqual([inv.code, inv.kind, inv.status], ["invalid_request", "permanent", 400]);
    const wrongType = await rejects(images(s).edit(params({ contentType: "image/webp" })));
    assert.deepEqual([wrongType.code, wrongType.kind], ["invalid_request", "permanent"]);
    const auth = await rejects(
      createOpenAIImages({ apiKey: "not-a-key", baseUrl: s.baseUrl }).edit(params()),
    );
    assert.deepEqual([auth.code, auth.kind, auth.status], ["auth_failed", "permanent", 401]);
  });
});

Deno.test("openai client: timeout, reset and malformed after sending → landed maybe", async () => {
  await withSim(async (s) => {
    const slow = await rejects(
      images(s, { timeoutMs: 300 }).edit(params({ prompt: "[sim:slow=1500]" })),
    );
    assert.deepEqual([slow.code, slow.kind, slow.landed], ["timeout", "transient", "maybe"]);
    await control(s, "config", { faults: [{ match: "POST /v1/images/edits", kind: "malformed" }] });
    const mal = await rejects(images(s).edit(params()));
    assert.deepEqual([mal.kind, mal.landed], ["transient", "maybe"]);
    await control(s, "config", { faults: [{ match: "POST /v1/images/edits", kind: "reset" }] });
    const reset = await rejects(images(s).edit(params()));
    assert.deepEqual([reset.kind, reset.landed], ["transient", "maybe"]);
    assert.equal((await control(s, "stats")).edits, 3);
  });
});

Deno.test("openai client: connection refused → network, landed no", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const e = await rejects(
    createOpenAIImages({ apiKey: "sk-x", baseUrl: `http://127.0.0.1:${port}/v1` }).edit(params()),
  );
  assert.deepEqual([e.code, e.kind, e.landed], ["network", "transient", "no"]);
});

Deno.test("openai client: a non-PNG image in the answer is a bad_response (billed)", async () => {
  const fakeFetch = (() =>
    Promise.resolve(
      new Response(
        JSON.stringify({ created: 1, data: [{ b64_json: btoa("GIF89a not a png") }] }),
        { headers: { "content-type": "application/json", "x-request-id": "req_fake" } },
      ),
    )) as typeof fetch;
  const c = createOpenAIImages({
    apiKey: "sk-x",
    baseUrl: "http://127.0.0.1:1/v1",
    fetch: fakeFetch,
  });
  const e = await rejects(c.edit(params()));
  assert.deepEqual([e.code, e.landed, e.requestId], ["bad_response", "yes", "req_fake"]);
});

Deno.test("providers: a missing API key fails the call as auth_failed, not the construction", async () => {
  const e = await rejects(
    createOpenAIImages({ apiKey: "", baseUrl: "http://127.0.0.1:1/v1" }).edit(params()),
  );
  assert.deepEqual([e.code, e.kind, e.landed], ["auth_failed", "permanent", "no"]);
});
