/**
 * OpenAI Images simulator (local stand-in; never imported by functions).
 * Served under `/v1` (OPENAI_BASE_URL = `${url}/v1`); control API under `/__sim/…`.
 * Wire format per shared/reference/provider_apis.md §2.
 *
 * Provider API: POST /v1/images/edits (./openai/edits.ts) and POST /v1/images/generations
 * (./openai/generations.ts), with the prompt markers both take (./openai/prompt_markers.ts).
 * Every response carries `x-request-id`. Errors: {error:{message,type,param,code}}.
 *
 * This module routes the requests and applies the faults (./mod.ts) that answer in a request's
 * stead or spoil its answer.
 *
 * Control API (JSON)
 *   GET  /__sim/requests?since=SEQ&method=&path=&contains=  → {requests:[…], last}
 *        (`body`: prompt cut to 300 chars, scalar fields, image parts as
 *        {name, filename, type, size}; generations: the JSON body with long strings cut;
 *        never the Authorization header)
 *   GET  /__sim/stats   → {edits (POST /v1/images/edits seen), succeeded (edits answered 200),
 *        generations (POST /v1/images/generations seen), generationsSucceeded}
 *   GET  /__sim/config  → config;  POST /__sim/config merge {imageSide (px, default 64),
 *        retryAfterSec, latencyMs, faults:[…] (replace; see ./mod.ts)}
 *   POST /__sim/reset   {} everything; {"scope":"log"} log only
 */
import { brokenResponse, handleControl, serveSimulator, sleep, summarize } from "./mod.ts";
import { edits } from "./openai/edits.ts";
import { errorResponse, faultError, OpenAIError } from "./openai/errors.ts";
import { generations } from "./openai/generations.ts";
import {
  createOpenAIState,
  DEFAULTS,
  type OpenAISimConfig,
  type OpenAISimOptions,
  resetOpenAIState,
} from "./openai/state.ts";

export function createOpenAISimulator(opts: OpenAISimOptions) {
  const s = createOpenAIState(opts);
  const { faults, log } = s;

  function control(req: Request, url: URL): Promise<Response> {
    return handleControl(req, url, {
      log,
      stats: s.stats,
      faults,
      config: () => ({ ...s.config }),
      applyConfig: (b) => {
        for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
          if (typeof b[k] === "number") s.config[k] = b[k] as number;
        }
      },
      reset: () => resetOpenAIState(s),
    });
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.startsWith("/__sim/")) return control(req, url);
    const requestId = `req_${crypto.randomUUID().replaceAll("-", "")}`;
    const entry = log.add({
      method: req.method,
      path: url.pathname,
      query: url.search,
      authOk: null,
    });
    const fault = faults.take(req.method, url.pathname);
    const kind = fault?.kind ?? "status";
    if (fault) entry.fault = kind;
    if (fault && kind === "delay") await sleep(fault.delayMs ?? 1000);
    if (fault && kind === "status" && !fault.landed) {
      const isGen = url.pathname === "/v1/images/generations" && req.method === "POST";
      if (isGen) {
        // Keep the body in the log (with `fault`), so tests can tell billed calls apart.
        try {
          entry.body = summarize(JSON.parse(await req.text()));
        } catch {
          // not JSON: nothing to log
        }
      } else await req.body?.cancel().catch(() => {});
      // Count the call even when answered by a fault: it reached the endpoint.
      if (url.pathname === "/v1/images/edits" && req.method === "POST") s.stats.edits++;
      if (isGen) s.stats.generations++;
      const e = faultError(fault);
      entry.status = e.status;
      return errorResponse(e, requestId);
    }
    let res: Response;
    try {
      if (url.pathname === "/v1/images/edits" && req.method === "POST") {
        res = await edits(s, req, entry, requestId);
      } else if (url.pathname === "/v1/images/generations" && req.method === "POST") {
        res = await generations(s, req, entry, requestId);
      } else {
        throw new OpenAIError(
          404,
          `Invalid URL (${req.method} ${url.pathname})`,
          "invalid_request_error",
          null,
          null,
        );
      }
    } catch (e) {
      if (!(e instanceof OpenAIError)) throw e;
      res = errorResponse(e, requestId);
    }
    if (fault && kind === "status") {
      await res.body?.cancel();
      res = errorResponse(faultError(fault), requestId);
    } else if (fault && kind === "reset") {
      await res.body?.cancel();
      entry.status = 0;
      return brokenResponse({ "x-request-id": requestId });
    } else if (fault && kind === "malformed") {
      await res.body?.cancel();
      res = new Response('{"created":1,"data":[{"b64_json":', {
        headers: { "content-type": "application/json" },
      });
    }
    res.headers.set("x-request-id", requestId);
    entry.status = res.status;
    return res;
  }

  return {
    fetch: handle,
    reset: () => resetOpenAIState(s),
    get stats() {
      return { ...s.stats };
    },
    configure(patch: Partial<OpenAISimConfig>) {
      const { faults: f, ...rest } = patch;
      s.config = { ...s.config, ...rest };
      if (f) faults.set(f);
    },
  };
}

export type OpenAISimulator = ReturnType<typeof createOpenAISimulator>;

export function serveOpenAISimulator(
  opts: { port?: number; hostname?: string; config?: Partial<OpenAISimConfig> } = {},
) {
  const s = serveSimulator(
    (publicUrl) => createOpenAISimulator({ publicUrl, config: opts.config }),
    opts,
  );
  return { ...s, baseUrl: `${s.url}/v1` };
}
