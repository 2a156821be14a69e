// The console's files as the gateway serves them (localstack/console.ts): the page, its bundle
// and config.json under a CSP of the page's own origin; only the URL and the publishable key in
// the config; nothing outside console/'s served files (no sources, no tree above it).
import assert from "node:assert/strict";
import { it } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";

const get = (path: string, init: RequestInit = {}) =>
  fetch(`${stack.url}${path}`, { redirect: "manual", ...init });

it("console: /console redirects to the page; page, style and bundle under a same-origin CSP", async () => {
  const r = await get("/console");
  await r.body?.cancel();
  assert.deepEqual([r.status, r.headers.get("location")], [308, "/console/"]);
  for (
    const [path, type] of [
      ["/console/", "text/html"],
      ["/console/index.html", "text/html"],
      ["/console/console.css", "text/css"],
      ["/console/app.js", "text/javascript"],
    ]
  ) {
    const res = await get(path);
    const body = await res.text();
    assert.equal(res.status, 200, `${path}: ${body.slice(0, 200)}`);
    assert.ok(res.headers.get("content-type")?.startsWith(type), path);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/, "no eval, no other origin");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    for (const secret of [stack.secretKey, stack.serviceRoleKey, stack.jwtSecret]) {
      assert.ok(!body.includes(secret), `${path} carries a secret`);
    }
    if (path === "/console/app.js") {
      assert.ok(body.length > 100_000, "supabase-js and model-viewer are in the bundle");
    }
  }
});

it("console: model-viewer's decoders are served from the stack (three's own files)", async () => {
  await (await get("/console/app.js")).body?.cancel(); // the bundle installs the package
  for (
    const [path, type] of [
      ["/console/vendor/draco/draco_decoder.wasm", "application/wasm"],
      ["/console/vendor/draco/draco_wasm_wrapper.js", "text/javascript"],
      ["/console/vendor/basis/basis_transcoder.wasm", "application/wasm"],
    ]
  ) {
    const res = await get(path);
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), type, path);
    if (type === "application/wasm") assert.deepEqual([...bytes.subarray(0, 4)], [0, 97, 115, 109]);
  }
  const other = await get("/console/vendor/ammo.wasm.wasm");
  await other.body?.cancel();
  assert.equal(other.status, 404, "only the decoders");
});

it("console: config.json holds the URL and the publishable key, nothing else", async () => {
  const res = await get("/console/config.json");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), { url: stack.url, publishableKey: stack.publishableKey });
});

it("console: sources, the tree above and other methods are refused", async () => {
  for (
    const path of [
      "/console/src/main.ts",
      "/console/main.ts",
      "/console/../deno.json",
      "/console/%2e%2e/deno.json",
      "/console/..%2Fdeno.json",
      "/console/%2e%2e%2fsupabase%2fconfig.toml",
      "/console/nope.html",
      "/console/.env",
    ]
  ) {
    const res = await get(path);
    const body = await res.text();
    assert.equal(res.status, 404, path);
    assert.doesNotMatch(body, /nodeModulesDir|project_id|SUPABASE/, path);
  }
  const post = await get("/console/config.json", { method: "POST", body: "{}" });
  await post.body?.cancel();
  assert.equal(post.status, 405);
});
