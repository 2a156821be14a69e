/**
 * OpenAI Images simulator (local stand-in; never imported by functions).
 * Served under `/v1` (OPENAI_BASE_URL = `${url}/v1`); control API under `/__sim/…`.
 * Wire format per shared/reference/provider_apis.md §2.
 *
 * Provider API
 *   POST /v1/images/edits  multipart/form-data, `Authorization: Bearer sk-…` (else 401
 *     invalid_api_key). Fields: image | image[] (repeated; 1–16 files, content type
 *     image/png|image/jpeg|image/webp, else 400 "Invalid file 'image': unsupported mimetype"),
 *     mask, prompt (required, ≤32000), model (required, gpt-image-1), n (1–10), size, quality,
 *     background, output_format (png only here), output_compression, input_fidelity, user.
 *     Anything else → 400 unknown_parameter.
 *     → {created, data:[{b64_json}×n], background, output_format, quality, size, usage}
 *   Every response carries `x-request-id`. Errors: {error:{message,type,param,code}}.
 *
 * Prompt markers: [sim:moderation] → 400 moderation_blocked (image_generation_user_error);
 *   [sim:429] → 429 rate_limit_exceeded + retry-after; [sim:quota] → 429 insufficient_quota;
 *   [sim:500] → 500 server_error; [sim:503] → 503 overloaded; [sim:slow=MS] → answer after MS.
 *
 * Control API (JSON)
 *   GET  /__sim/requests?since=SEQ&method=&path=&contains=  → {requests:[…], last}
 *        (`body`: prompt cut to 300 chars, scalar fields, image parts as
 *        {name, filename, type, size}; never the Authorization header)
 *   GET  /__sim/stats   → {edits (POST /v1/images/edits seen), succeeded}
 *   GET  /__sim/config  → config;  POST /__sim/config merge {imageSide (px, default 64),
 *        retryAfterSec, latencyMs, faults:[…] (replace; see ./mod.ts)}
 *   POST /__sim/reset   {} everything; {"scope":"log"} log only
 */
import { makePng, sniffImage } from "./assets.ts";
import {
  brokenResponse,
  FaultEngine,
  handleControl,
  json,
  keyFingerprint,
  type LogEntry,
  parseMarkers,
  RequestLog,
  serveSimulator,
  type SimFault,
  sleep,
  summarize,
} from "./mod.ts";

export interface OpenAISimConfig {
  imageSide: number;
  retryAfterSec: number;
  latencyMs: number;
  faults: SimFault[];
}

export interface OpenAISimOptions {
  publicUrl: string;
  fetchInput?: typeof fetch;
  config?: Partial<OpenAISimConfig>;
}

const DEFAULTS = { imageSide: 64, retryAfterSec: 1, latencyMs: 0 };

class OpenAIError {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly type: string,
    readonly param: string | null,
    readonly code: string | null,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {}
}

const bad = (message: string, param: string | null, code: string | null = "invalid_value") =>
  new OpenAIError(400, message, "invalid_request_error", param, code);

const ALLOWED = new Set([
  "image",
  "image[]",
  "mask",
  "prompt",
  "model",
  "n",
  "size",
  "quality",
  "background",
  "output_format",
  "output_compression",
  "input_fidelity",
  "user",
]);
const MIMES = ["image/png", "image/jpeg", "image/webp"];

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export function createOpenAISimulator(opts: OpenAISimOptions) {
  const initial = { ...DEFAULTS, ...opts.config };
  let config = { ...initial };
  const faults = new FaultEngine();
  const log = new RequestLog();
  let stats = { edits: 0, succeeded: 0 };

  function reset() {
    config = { ...initial };
    faults.set([]);
    log.clear();
    stats = { edits: 0, succeeded: 0 };
  }

  function errorResponse(e: OpenAIError, requestId: string): Response {
    return json(
      e.status,
      { error: { message: e.message, type: e.type, param: e.param, code: e.code, ...e.extra } },
      { "x-request-id": requestId, ...e.headers },
    );
  }

  async function auth(req: Request, entry: LogEntry) {
    const m = (req.headers.get("authorization") ?? "").match(/^Bearer\s+(\S+)$/i);
    if (!m || !m[1].startsWith("sk-")) {
      entry.authOk = false;
      throw new OpenAIError(
        401,
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        null,
        "invalid_api_key",
      );
    }
    entry.authOk = true;
    entry.keyId = await keyFingerprint(m[1]);
  }

  async function edits(req: Request, entry: LogEntry, requestId: string): Promise<Response> {
    stats.edits++;
    await auth(req, entry);
    const ct = req.headers.get("content-type") ?? "";
    if (!ct.startsWith("multipart/form-data")) {
      throw bad("Expected a multipart/form-data body.", null, null);
    }
    let form: FormData;
    try {
      form = await req.formData();
    } catch {
      throw bad("Could not parse the multipart/form-data body.", null, null);
    }
    const summary: Record<string, unknown> = {};
    const images: { field: string; file: File }[] = [];
    const scalars: Record<string, string> = {};
    for (const [name, v] of form.entries()) {
      if (typeof v === "string") {
        summary[name] = summarize(v);
        if (!ALLOWED.has(name)) {
          throw bad(`Unknown parameter: '${name}'.`, name, "unknown_parameter");
        }
        if (name in scalars) throw bad(`Duplicate parameter: '${name}'.`, name);
        scalars[name] = v;
      } else {
        const parts = (summary[name] ??= []) as unknown[];
        parts.push({ filename: v.name, type: v.type, size: v.size });
        if (!ALLOWED.has(name)) {
          throw bad(`Unknown parameter: '${name}'.`, name, "unknown_parameter");
        }
        if (name === "image" || name === "image[]") images.push({ field: name, file: v });
        else if (name !== "mask") throw bad(`'${name}' must be a string.`, name);
      }
    }
    entry.body = summary;
    if (!scalars.model) {
      throw bad("Missing required parameter: 'model'.", "model", "missing_required_parameter");
    }
    if (scalars.model !== "gpt-image-1") {
      throw bad(
        `Invalid value: '${scalars.model}'. Value must be 'gpt-image-1'.`,
        "model",
      );
    }
    if (scalars.prompt === undefined || scalars.prompt === "") {
      throw bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
    }
    if (scalars.prompt.length > 32000) {
      throw bad(
        `Invalid 'prompt': string too long. Expected a string with maximum length 32000, but got a string with length ${scalars.prompt.length} instead.`,
        "prompt",
        "string_above_max_length",
      );
    }
    if (images.length === 0) {
      throw bad("Missing required parameter: 'image'.", "image", "missing_required_parameter");
    }
    if (images.length > 16) throw bad("Too many images: at most 16.", "image");
    for (const { field, file } of images) {
      if (!MIMES.includes(file.type)) {
        throw bad(
          `Invalid file '${field === "image[]" ? "image" : field}': unsupported mimetype ('${
            file.type || "application/octet-stream"
          }'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.`,
          field === "image[]" ? "image" : field,
          "unsupported_file_mimetype",
        );
      }
      if (file.size > 50 * 1024 * 1024) throw bad("Image exceeds 50 MB.", "image");
      const kind = sniffImage(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
      if (!kind || `image/${kind}` !== file.type) {
        throw bad(
          "Invalid image file or mode for image 1, please check your image file.",
          "image",
          "invalid_image_file",
        );
      }
    }
    const n = scalars.n === undefined ? 1 : Number(scalars.n);
    if (!Number.isInteger(n) || n < 1 || n > 10) {
      throw bad(
        `Invalid 'n': integer ${scalars.n} out of range. Expected a value between 1 and 10.`,
        "n",
        "integer_out_of_range",
      );
    }
    const enumCheck = (name: string, vals: string[]) => {
      const v = scalars[name];
      if (v !== undefined && !vals.includes(v)) {
        throw bad(
          `Invalid value: '${v}'. Supported values are: ${vals.map((x) => `'${x}'`).join(", ")}.`,
          name,
        );
      }
    };
    enumCheck("size", ["1024x1024", "1536x1024", "1024x1536", "auto"]);
    enumCheck("quality", ["low", "medium", "high", "auto"]);
    enumCheck("background", ["transparent", "opaque", "auto"]);
    enumCheck("output_format", ["png"]);
    enumCheck("input_fidelity", ["high", "low"]);
    if (scalars.output_compression !== undefined) {
      throw bad("output_compression is only supported for jpeg and webp.", "output_compression");
    }
    const marks = parseMarkers(scalars.prompt);
    const slow = Number(marks.get("slow"));
    const wait = slow > 0 ? slow : config.latencyMs;
    if (wait > 0) await sleep(wait);
    if (marks.has("moderation")) {
      throw new OpenAIError(
        400,
        `Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID ${requestId}. safety_violations=[violence].`,
        "image_generation_user_error",
        null,
        "moderation_blocked",
        {},
        { moderation_details: { moderation_stage: "input", categories: ["violence"] } },
      );
    }
    if (marks.has("429")) {
      throw new OpenAIError(
        429,
        "Rate limit reached for gpt-image-1 on images per minute. Please try again later.",
        "requests",
        null,
        "rate_limit_exceeded",
        { "retry-after": String(config.retryAfterSec) },
      );
    }
    if (marks.has("quota")) {
      throw new OpenAIError(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        null,
        "insufficient_quota",
      );
    }
    if (marks.has("500")) {
      throw new OpenAIError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        null,
        null,
      );
    }
    if (marks.has("503")) {
      throw new OpenAIError(
        503,
        "The engine is currently overloaded, please try again later.",
        "server_error",
        null,
        null,
      );
    }
    const side = Math.max(1, Math.min(1024, Number(config.imageSide) || 64));
    const data = Array.from({ length: n }, (_, i) => ({ b64_json: b64(makePng(side, side, i)) }));
    const size = !scalars.size || scalars.size === "auto" ? "1024x1024" : scalars.size;
    const quality = !scalars.quality || scalars.quality === "auto" ? "medium" : scalars.quality;
    const background = !scalars.background || scalars.background === "auto"
      ? "opaque"
      : scalars.background;
    stats.succeeded++;
    const promptTokens = Math.ceil(scalars.prompt.length / 4);
    const out = 1056 * n;
    return json(200, {
      created: Math.floor(Date.now() / 1000),
      data,
      background,
      output_format: "png",
      quality,
      size,
      usage: {
        input_tokens: promptTokens + 323 * images.length,
        input_tokens_details: { image_tokens: 323 * images.length, text_tokens: promptTokens },
        output_tokens: out,
        total_tokens: promptTokens + 323 * images.length + out,
      },
    });
  }

  function control(req: Request, url: URL): Promise<Response> {
    return handleControl(req, url, {
      log,
      stats,
      faults,
      config: () => ({ ...config }),
      applyConfig: (b) => {
        for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
          if (typeof b[k] === "number") config[k] = b[k] as number;
        }
      },
      reset,
    });
  }

  function faultError(f: SimFault): OpenAIError {
    const status = f.status ?? 500;
    const headers: Record<string, string> = {};
    if (f.retryAfter !== undefined) headers["retry-after"] = String(f.retryAfter);
    if (status === 429) {
      return new OpenAIError(
        429,
        f.message ?? "Rate limit reached for gpt-image-1. Please try again later.",
        "requests",
        null,
        typeof f.code === "string" ? f.code : "rate_limit_exceeded",
        headers,
      );
    }
    return new OpenAIError(
      status,
      f.message ??
        (status >= 500
          ? "The server had an error while processing your request."
          : "Simulated error"),
      status >= 500 ? "server_error" : "invalid_request_error",
      null,
      typeof f.code === "string" ? f.code : null,
      headers,
    );
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
      await req.body?.cancel().catch(() => {});
      // Count the billed call even when answered by a fault: it reached the endpoint.
      if (url.pathname === "/v1/images/edits" && req.method === "POST") stats.edits++;
      const e = faultError(fault);
      entry.status = e.status;
      return errorResponse(e, requestId);
    }
    let res: Response;
    try {
      if (url.pathname === "/v1/images/edits" && req.method === "POST") {
        res = await edits(req, entry, requestId);
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
    reset,
    get stats() {
      return { ...stats };
    },
    configure(patch: Partial<OpenAISimConfig>) {
      const { faults: f, ...rest } = patch;
      config = { ...config, ...rest };
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
