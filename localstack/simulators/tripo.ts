/**
 * Tripo3D openapi v2 simulator (local stand-in; never imported by functions).
 * Served under `/v2/openapi` (TRIPO_API_BASE_URL = `${url}/v2/openapi`); output files under
 * `/files/…`; the control API under `/__sim/…`. Wire format per shared/reference/provider_apis.md §1.
 *
 * Provider API
 *   POST /v2/openapi/task          JSON {type,…}: text_to_model | image_to_model |
 *                                  multiview_to_model | refine_model | convert_model |
 *                                  text_to_image (others → 400/2002)
 *   GET  /v2/openapi/task/{id}     task object; lifecycle queued → running → final
 *   POST /v2/openapi/upload        multipart `file` (png/jpeg/webp by magic bytes) → {image_token}
 *   POST /v2/openapi/upload/sts    same as /upload
 *   GET  /v2/openapi/user/balance  {balance, frozen}
 *   GET  /files/{token}/{name}     output download (no auth; 403 once its TTL is over)
 * Every response has `X-Tripo-Trace-ID`. Auth: `Authorization: Bearer tsk_…` else 401/1002.
 * Concurrency cap: queued+running tasks per key ≥ cap → 429/2000 with `Retry-After`.
 *
 * This module routes the requests and applies the faults (./mod.ts) that answer in a request's
 * stead or spoil its answer. The rest is in ./tripo/: POST /task (create_task.ts; the fields each
 * task type takes in fields.ts, convert_model in convert.ts), the task lifecycle (tasks.ts), input
 * files and uploads (inputs.ts), output files (files.ts), the response envelope (envelope.ts),
 * auth (auth.ts), the simulator's state (state.ts) and the control API (control.ts).
 */
import {
  brokenResponse,
  json,
  type LogEntry,
  serveSimulator,
  type SimFault,
  sleep,
  summarize,
} from "./mod.ts";
import { auth } from "./tripo/auth.ts";
import { control } from "./tripo/control.ts";
import { createTask } from "./tripo/create_task.ts";
import { envelopeError, faultError, ok, TripoError } from "./tripo/envelope.ts";
import { download } from "./tripo/files.ts";
import { upload } from "./tripo/inputs.ts";
import {
  checkFaults,
  checkOutcomes,
  createTripoState,
  resetTripoState,
  type TripoSimConfig,
  type TripoSimOptions,
} from "./tripo/state.ts";
import { getTask } from "./tripo/tasks.ts";

const BASE = "/v2/openapi";

export function createTripoSimulator(opts: TripoSimOptions) {
  const s = createTripoState(opts);
  const { faults, log } = s;

  async function route(
    req: Request,
    url: URL,
    entry: LogEntry,
    fault: SimFault | undefined,
    bodyText: string | undefined,
  ): Promise<Response> {
    const p = url.pathname;
    const fm = p.match(/^\/files\/([^/]+)\/[^/]+$/);
    if (fm && (req.method === "GET" || req.method === "HEAD")) {
      return download(s, req, fm[1], fault);
    }
    if (!p.startsWith(BASE + "/")) {
      return json(404, { code: 9404, message: "Route not found", suggestion: "" });
    }
    const sub = p.slice(BASE.length);
    if (sub === "/task" && req.method === "POST") {
      return await createTask(s, req, entry, fault, bodyText);
    }
    const gm = sub.match(/^\/task\/([^/]+)$/);
    if (gm && req.method === "GET") return await getTask(s, req, entry, gm[1]);
    if ((sub === "/upload" || sub === "/upload/sts") && req.method === "POST") {
      return await upload(s, req, entry);
    }
    if ((sub === "/user/balance" || sub === "/user/wallet/balance") && req.method === "GET") {
      await auth(req, entry);
      return ok({ balance: 100000, frozen: 0 });
    }
    return json(404, { code: 9404, message: "Route not found", suggestion: "" });
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/__sim/")) return control(s, req, url);
    const trace = crypto.randomUUID();
    const entry = log.add({
      method: req.method,
      path: url.pathname,
      query: url.search,
      authOk: null,
    });
    // POST /task: read the body first, so faults can match on its task type.
    let bodyText: string | undefined;
    let taskType: string | undefined;
    if (req.method === "POST" && url.pathname === `${BASE}/task`) {
      bodyText = await req.text();
      try {
        const parsed = JSON.parse(bodyText);
        entry.body = summarize(parsed);
        if (typeof parsed?.type === "string") taskType = parsed.type;
      } catch {
        // malformed: createTask answers 1003
      }
    }
    const fault = faults.take(req.method, url.pathname, { taskType });
    if (fault) entry.fault = fault.kind ?? "status";
    const kind = fault?.kind ?? "status";
    if (fault && kind === "delay") await sleep(fault.delayMs ?? 1000);
    const statusFault = fault && kind === "status";
    if (statusFault && !fault.landed) {
      await req.body?.cancel().catch(() => {});
      const e = faultError(fault);
      entry.status = e.status;
      return envelopeError(e, trace);
    }
    let res: Response;
    try {
      res = await route(req, url, entry, fault, bodyText);
    } catch (e) {
      if (!(e instanceof TripoError)) throw e;
      res = envelopeError(e, trace);
    }
    if (statusFault) {
      await res.body?.cancel();
      res = envelopeError(faultError(fault), trace);
    } else if (fault && kind === "reset") {
      await res.body?.cancel();
      entry.status = 0;
      return brokenResponse({ "X-Tripo-Trace-ID": trace });
    } else if (fault && kind === "malformed") {
      await res.body?.cancel();
      res = new Response('{"code":0,"data":{"task_id":', {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    }
    res.headers.set("X-Tripo-Trace-ID", trace);
    entry.status = res.status;
    return res;
  }

  return {
    fetch: handle,
    /** Direct access for in-process tests and the orchestrator. */
    reset: () => resetTripoState(s),
    get config(): TripoSimConfig {
      return { ...s.config, faults: faults.list() };
    },
    configure(patch: Partial<TripoSimConfig>) {
      const { faults: f, nextOutcomes, ...rest } = patch;
      if (f) checkFaults(f);
      if (nextOutcomes) checkOutcomes(nextOutcomes);
      s.config = { ...s.config, ...rest };
      if (f) faults.set(f);
      if (nextOutcomes) s.config.nextOutcomes = [...nextOutcomes];
    },
    get stats() {
      return { ...s.stats };
    },
  };
}

export type TripoSimulator = ReturnType<typeof createTripoSimulator>;

export function serveTripoSimulator(
  opts: {
    port?: number;
    hostname?: string;
    fetchInput?: typeof fetch;
    config?: Partial<TripoSimConfig>;
  } = {},
) {
  const s = serveSimulator(
    (publicUrl) =>
      createTripoSimulator({ publicUrl, fetchInput: opts.fetchInput, config: opts.config }),
    opts,
  );
  return { ...s, baseUrl: `${s.url}${BASE}` };
}
