// The developer console at /console (SPEC §10): static files from console/ and one ES module,
// /console/app.js, bundled from console/src/main.ts with `deno bundle` (supabase-js, the typed
// client and @google/model-viewer come from the npm packages, never a CDN). The page learns the
// URL and the publishable key from /console/config.json; nothing else about the stack, and no
// secret key, is ever served here.
import { PROJECT_ROOT } from "./db/prepare.ts";

const ROOT = `${PROJECT_ROOT}console/`;
const SOURCES = [`${PROJECT_ROOT}console/src/`, `${PROJECT_ROOT}client/src/`];
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

// model-viewer's decoders for compressed models (Draco, KTX2/Basis), which it would
// fetch from Google's CDN by default: served from the `three` package the bundle was built with
// (its node_modules copy, made by `deno bundle`), and the page points there.
const VENDOR: Record<string, string> = {
  "draco/draco_decoder.js": "draco/gltf/draco_decoder.js",
  "draco/draco_decoder.wasm": "draco/gltf/draco_decoder.wasm",
  "draco/draco_wasm_wrapper.js": "draco/gltf/draco_wasm_wrapper.js",
  "basis/basis_transcoder.js": "basis/basis_transcoder.js",
  "basis/basis_transcoder.wasm": "basis/basis_transcoder.wasm",
};

async function vendorFile(name: string): Promise<Uint8Array<ArrayBuffer> | null> {
  const map = JSON.parse(await Deno.readTextFile(`${PROJECT_ROOT}import_map.json`));
  const mv = String(map.imports?.["@google/model-viewer"] ?? "");
  const version = mv.match(/^npm:@google\/model-viewer@([\w.-]+)$/)?.[1];
  const rel = VENDOR[name];
  if (!version || !rel) return null;
  // The `three` model-viewer was resolved with (its peer), linked beside it.
  const three =
    `${PROJECT_ROOT}node_modules/.deno/@google+model-viewer@${version}/node_modules/three`;
  return await Deno.readFile(`${three}/examples/jsm/libs/${rel}`).catch(() => null);
}

/** The newest modification time under `dir` (0 when it does not exist). */
async function newest(dir: string): Promise<number> {
  let t = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}${e.name}`;
      if (e.isDirectory) t = Math.max(t, await newest(`${p}/`));
      else if (e.isFile) t = Math.max(t, (await Deno.stat(p)).mtime?.getTime() ?? 0);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return t;
}

/** Bundles the page's module, again only when a source changed (edit, reload, see it). */
function bundler(log: (l: string) => void) {
  let built: { at: number; code: Uint8Array<ArrayBuffer> } | null = null;
  let running: Promise<Uint8Array<ArrayBuffer>> | null = null;
  async function build(): Promise<Uint8Array<ArrayBuffer>> {
    const stamp = Math.max(...await Promise.all(SOURCES.map(newest)));
    if (built && built.at >= stamp) return built.code;
    const out = await Deno.makeTempFile({ suffix: ".js" });
    try {
      const started = performance.now();
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--platform",
          "browser",
          "--minify",
          "--config",
          `${PROJECT_ROOT}deno.json`,
          "-o",
          out,
          `${ROOT}src/main.ts`,
        ],
        cwd: PROJECT_ROOT,
        env: { DENO_NO_PACKAGE_JSON: "1", NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!r.success) {
        const err = new TextDecoder().decode(r.stderr).split("\n").filter((l) => /error/i.test(l))
          .slice(0, 5).join("\n");
        throw new Error(`deno bundle failed: ${err}`);
      }
      const code = await Deno.readFile(out);
      log(
        `[console] bundled app.js (${(code.length / 1024).toFixed(0)} KiB, ${
          Math.round(performance.now() - started)
        } ms)`,
      );
      built = { at: stamp, code };
      return code;
    } finally {
      await Deno.remove(out).catch(() => {});
    }
  }
  return () => {
    // One build at a time; concurrent requests share it.
    running ??= build().finally(() => (running = null));
    return running;
  };
}

const SECURITY_HEADERS = {
  // Everything from this origin: scripts, styles, the models and images (Storage), the
  // Realtime socket. model-viewer decodes textures from blob: URLs.
  "content-security-policy": [
    "default-src 'self'",
    // WebAssembly only (model-viewer's decoders), never eval.
    "script-src 'self' 'wasm-unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' blob: data:",
    "connect-src 'self' ws: blob: data:",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export function createConsoleHandler(opts: {
  publicUrl: string;
  publishableKey: string;
  log?: (line: string) => void;
}): (req: Request) => Promise<Response> {
  const bundle = bundler(opts.log ?? (() => {}));
  const reply = (body: BodyInit | null, type: string, status = 200) =>
    new Response(body, { status, headers: { "content-type": type, ...SECURITY_HEADERS } });

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
    }
    // Relative asset URLs need the trailing slash.
    if (url.pathname === "/console") {
      return new Response(null, { status: 308, headers: { location: "/console/" } });
    }
    const rel = url.pathname.slice("/console/".length) || "index.html";
    if (rel === "config.json") {
      return reply(
        JSON.stringify({ url: opts.publicUrl, publishableKey: opts.publishableKey }),
        "application/json",
      );
    }
    if (rel === "app.js") {
      try {
        return reply(await bundle(), "text/javascript; charset=utf-8");
      } catch (e) {
        opts.log?.(`[console] ${(e as Error).message}`);
        return reply(
          "console.error('the console bundle failed to build: see the stack log')",
          "text/javascript",
          500,
        );
      }
    }
    if (rel.startsWith("vendor/")) {
      const bytes = await vendorFile(rel.slice("vendor/".length));
      return bytes
        ? reply(bytes, rel.endsWith(".wasm") ? "application/wasm" : "text/javascript")
        : reply("Not found", "text/plain", 404);
    }
    // Only plain file names of the served types, straight under console/ (no src/, no ..).
    const ext = rel.match(/\.[a-z]+$/)?.[0] ?? "";
    if (!/^[A-Za-z0-9_-]+\.[a-z]+$/.test(rel) || !TYPES[ext]) {
      return reply("Not found", "text/plain", 404);
    }
    try {
      return reply(await Deno.readFile(`${ROOT}${rel}`), TYPES[ext]);
    } catch {
      return reply("Not found", "text/plain", 404);
    }
  };
}
