// The provider simulators behind a small in-process wrapper that (a) records which input bytes
// each Tripo upload token stands for, so every Tripo task can be traced back to the job that
// paid for it, and (b) can inject faults per request from a seeded PRNG (the soak).
import { brokenResponse } from "../../../localstack/simulators/mod.ts";
import { createOpenAISimulator } from "../../../localstack/simulators/openai.ts";
import { createTripoSimulator } from "../../../localstack/simulators/tripo.ts";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The simulators' local stand-in key (not a real key). */
export const SIM_TRIPO_KEY = "tsk_local_simulator";

export async function sha(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d.subarray(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- simulators behind a recording, fault-injecting wrapper ----------------------------------

export type InjectedFault =
  | { kind: "status"; status: number; retryAfter?: number }
  | { kind: "reset" }
  | { kind: "delay"; ms: number }
  | { kind: "malformed" }
  | { kind: "truncate" }
  | { kind: "expired" };

export type Injector = (
  sim: "tripo" | "openai",
  method: string,
  path: string,
) => InjectedFault | null;

export interface Sims {
  tripoUrl: string;
  openaiUrl: string;
  tripo: ReturnType<typeof createTripoSimulator>;
  openai: ReturnType<typeof createOpenAISimulator>;
  /** upload token → sha of the uploaded bytes */
  uploads: Map<string, string>;
  injector: Injector | null;
  /** Faults the wrapper injected, by "sim kind". */
  injected: Map<string, number>;
  env(): Record<string, string>;
  close(): Promise<void>;
}

function injectedResponse(sim: "tripo" | "openai", f: { status: number; retryAfter?: number }) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (f.retryAfter !== undefined) headers["retry-after"] = String(f.retryAfter);
  const body = sim === "tripo"
    ? { code: f.status === 429 ? 2000 : 1000, message: "injected fault", suggestion: "" }
    : {
      error: {
        message: "injected fault",
        type: f.status === 429 ? "requests" : "server_error",
        param: null,
        code: f.status === 429 ? "rate_limit_exceeded" : null,
      },
    };
  return new Response(JSON.stringify(body), { status: f.status, headers });
}

function cut(res: Response): Response {
  // Send about half of the announced bytes, then break the connection.
  const total = Number(res.headers.get("content-length") ?? 0);
  const limit = Math.max(1, Math.floor(total / 2));
  let sent = 0;
  const reader = res.body!.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent >= limit) {
        await reader.cancel().catch(() => {});
        c.error(new Error("injected truncation"));
        return;
      }
      const { value, done } = await reader.read();
      if (done) return c.close();
      const part = value.subarray(0, Math.min(value.length, limit - sent));
      sent += part.length;
      c.enqueue(part);
    },
  });
  return new Response(body, { status: res.status, headers: res.headers });
}

export function startSims(
  cfg: { tripo?: Record<string, unknown>; openai?: Record<string, unknown> } = {},
): Sims {
  const uploads = new Map<string, string>();
  const injected = new Map<string, number>();
  // deno-lint-ignore prefer-const
  let box: Sims;
  const count = (k: string) => injected.set(k, (injected.get(k) ?? 0) + 1);

  async function handle(which: "tripo" | "openai", req: Request): Promise<Response> {
    const sim = which === "tripo" ? box.tripo : box.openai;
    const url = new URL(req.url);
    if (url.pathname.startsWith("/__sim/")) return await sim.fetch(req);
    const f = box.injector?.(which, req.method, url.pathname) ?? null;
    if (f) count(`${which} ${f.kind}${f.kind === "status" ? ` ${f.status}` : ""}`);
    if (f?.kind === "status") {
      await req.body?.cancel().catch(() => {});
      return injectedResponse(which, f);
    }
    if (f?.kind === "expired") {
      await req.body?.cancel().catch(() => {});
      return new Response("<Error><Code>AccessDenied</Code></Error>", { status: 403 });
    }
    if (f?.kind === "delay") await sleep(f.ms);
    const isUpload = which === "tripo" && req.method === "POST" &&
      url.pathname.endsWith("/upload");
    const copy = isUpload ? req.clone() : null;
    const res = await sim.fetch(req);
    if (copy && res.ok) {
      try {
        const form = await copy.formData();
        const file = form.get("file") as File;
        const token = (await res.clone().json())?.data?.image_token;
        if (token) uploads.set(token, await sha(new Uint8Array(await file.arrayBuffer())));
      } catch { /* not attributable */ }
    }
    if (f?.kind === "reset") {
      await res.body?.cancel();
      return brokenResponse();
    }
    if (f?.kind === "malformed") {
      await res.body?.cancel();
      return new Response('{"code":0,"data":{"task_', {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    }
    if (f?.kind === "truncate" && res.body && res.headers.get("content-length")) return cut(res);
    return res;
  }

  const opts = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
  const ts = Deno.serve(opts, (req) => handle("tripo", req));
  const os = Deno.serve(opts, (req) => handle("openai", req));
  const tripoUrl = `http://127.0.0.1:${ts.addr.port}`;
  const openaiUrl = `http://127.0.0.1:${os.addr.port}`;
  box = {
    tripoUrl,
    openaiUrl,
    tripo: createTripoSimulator({
      publicUrl: tripoUrl,
      config: { queueMs: 100, runMs: 300, retryAfterSec: 1, ...cfg.tripo },
    }),
    openai: createOpenAISimulator({
      publicUrl: openaiUrl,
      config: { retryAfterSec: 1, ...cfg.openai },
    }),
    uploads,
    injector: null,
    injected,
    env: () => ({
      TRIPO_API_BASE_URL: `${tripoUrl}/v2/openapi`,
      OPENAI_BASE_URL: `${openaiUrl}/v1`,
      PROVIDER_ASSET_HOSTS: `127.0.0.1:${ts.addr.port},127.0.0.1:${os.addr.port}`,
    }),
    close: async () => {
      await Promise.all([ts.shutdown(), os.shutdown()]);
    },
  };
  return box;
}
